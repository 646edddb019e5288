//! Typed transcripts: one turn per speaker's label, as transcribers and
//! qualitative-analysis tools write them.
//!
//! ```text
//! [00:00:05] Interviewer: What did you come along for today?
//! [00:00:09] P07: The cooking on a budget session.
//! #00:00:11.8# I: Und dann?            (MAXQDA / ATLAS.ti)
//! 00:03:40.5Zack: Yes.                 (MAXQDA focus-group import)
//! Speaker 1 (00:01:10):                (Rev, Trint: words on the next line)
//! I: Wie geht es Ihnen? #00:00:12-3#   (f4: time at the end of a paragraph)
//! ```
//!
//! The rules, line by line:
//! - A line starting with a speaker's label (see the `label` module) starts
//!   a turn. Its start time is a timestamp before the label (`[hh:mm:ss]`,
//!   `[mm:ss]`, `(hh:mm:ss)`, `#hh:mm:ss.s#`, or bare when a label follows
//!   it directly), else one inside the label, else a pending one (below).
//! - A line that is only a timestamp holds that time for the next line.
//! - A timestamp at the end of a line is the end of the turn it closes
//!   (unless it is before that turn's start: a typo, not an end), and is
//!   held for the next line, since f4 marks paragraph breaks this way.
//! - Any other line carries on the turn before it, on a new line — unless a
//!   time starts it or is held for it: then it starts a new turn by the same
//!   speaker, so the time is not lost. Text before the first label is a turn
//!   without a speaker (often a title: it is kept, not guessed about).
//! - A turn without an end time ends where the next turn starts, when both
//!   have times and they are in order. Turns are never joined: the
//!   transcriber chose where each one starts.

use super::{clock, label, text, ParseError, Turn, Turns};

pub(super) fn parse(text: &str) -> Result<Vec<Turn>, ParseError> {
    let mut turns = Turns::new(false);
    // A time read before the line it belongs to.
    let mut held: Option<u64> = None;
    for (n, line) in text::lines(text) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (lead, rest) = match clock::leading(line) {
            Some((at, rest)) => (Some(at), rest.trim_start()),
            None => (None, line),
        };
        let (rest, trail) = match clock::trailing(rest) {
            Some((rest, at)) => (rest.trim_end(), Some(at)),
            None => (rest, None),
        };
        let labelled = match label::split(rest) {
            Some(l) => Some((lead.or(l.at), l)),
            None if lead.is_none() => clock::bare(rest)
                .and_then(|(at, after)| Some((Some(at), label::split(after.trim_start())?))),
            None => None,
        };
        match labelled {
            Some((at, l)) => {
                let start = at.or(held);
                held = None;
                turns.push(
                    Turn {
                        speaker: Some(l.speaker),
                        start_ms: start,
                        end_ms: None,
                        text: l.text.to_owned(),
                    },
                    n,
                )?;
            }
            None if rest.is_empty() => held = lead.or(held),
            None => {
                let start = lead.or(held.take());
                match turns.list.last_mut() {
                    Some(last) if start.is_none() => {
                        if !last.text.is_empty() {
                            last.text.push('\n');
                        }
                        last.text.push_str(rest);
                    }
                    last => {
                        let speaker = last.and_then(|t| t.speaker.clone());
                        turns.push(
                            Turn {
                                speaker,
                                start_ms: start,
                                end_ms: None,
                                text: rest.to_owned(),
                            },
                            n,
                        )?;
                    }
                }
            }
        }
        if let Some(at) = trail {
            if let Some(last) = turns.list.last_mut() {
                // A time before the turn's start is a typo, not its end.
                if last.start_ms.is_none_or(|start| start <= at) {
                    last.end_ms = Some(at);
                }
            }
            held = Some(at);
        }
    }
    end_at_next_start(&mut turns.list);
    turns.finish()
}

/// Gives each turn with a start but no end the next turn's start, when that
/// is not earlier.
fn end_at_next_start(list: &mut [Turn]) {
    for i in 1..list.len() {
        let next = list[i].start_ms;
        let turn = &mut list[i - 1];
        if turn.end_ms.is_none() && turn.start_ms.is_some() && next >= turn.start_ms {
            turn.end_ms = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(speaker: Option<&str>, start: Option<u64>, end: Option<u64>, text: &str) -> Turn {
        Turn {
            speaker: speaker.map(str::to_owned),
            start_ms: start,
            end_ms: end,
            text: text.to_owned(),
        }
    }

    #[test]
    fn labels_without_times() {
        let txt = "Interviewer: Hello.\nP07: Hi.\nI mean, hello.\n\nInterviewer: Right.";
        assert_eq!(
            parse(txt).unwrap(),
            vec![
                turn(Some("Interviewer"), None, None, "Hello."),
                turn(Some("P07"), None, None, "Hi.\nI mean, hello."),
                turn(Some("Interviewer"), None, None, "Right."),
            ]
        );
    }

    #[test]
    fn rev_style_label_with_time_and_words_below() {
        let txt = "Speaker 1 (00:00:01):\nHello there.\n\nSpeaker 2 (00:00:04):\nHi.\n";
        assert_eq!(
            parse(txt).unwrap(),
            vec![
                turn(Some("Speaker 1"), Some(1000), Some(4000), "Hello there."),
                turn(Some("Speaker 2"), Some(4000), None, "Hi."),
            ]
        );
    }

    #[test]
    fn f4_times_at_paragraph_ends() {
        let txt = "I: Wie geht es Ihnen? #00:00:04-2#\r\nB: Gut. #00:00:06-0#\r\nEigentlich sehr gut. #00:00:09-5#\r\n";
        assert_eq!(
            parse(txt).unwrap(),
            vec![
                turn(Some("I"), None, Some(4200), "Wie geht es Ihnen?"),
                turn(Some("B"), Some(4200), Some(6000), "Gut."),
                turn(Some("B"), Some(6000), Some(9500), "Eigentlich sehr gut."),
            ]
        );
    }

    #[test]
    fn end_before_start_is_not_taken() {
        let txt = "[00:00:05] A: hi #00:00:01.5#\nB: yes";
        assert_eq!(
            parse(txt).unwrap(),
            vec![
                turn(Some("A"), Some(5000), None, "hi"),
                turn(Some("B"), Some(1500), None, "yes"),
            ]
        );
    }

    #[test]
    fn bare_time_only_before_a_label() {
        let txt = "00:03:40.5Zack: What will this do?\n00:03:44.3 Jim: Fill a gap.\n10:30 was when we left.";
        assert_eq!(
            parse(txt).unwrap(),
            vec![
                turn(
                    Some("Zack"),
                    Some(220_500),
                    Some(224_300),
                    "What will this do?"
                ),
                turn(
                    Some("Jim"),
                    Some(224_300),
                    None,
                    "Fill a gap.\n10:30 was when we left."
                ),
            ]
        );
    }

    #[test]
    fn a_time_on_its_own_line_is_held() {
        let txt = "P07: One.\n[00:05:00]\nTwo.\n(00:06:00)\n\nInterviewer: Three.";
        assert_eq!(
            parse(txt).unwrap(),
            vec![
                turn(Some("P07"), None, None, "One."),
                turn(Some("P07"), Some(300_000), Some(360_000), "Two."),
                turn(Some("Interviewer"), Some(360_000), None, "Three."),
            ]
        );
    }

    #[test]
    fn untimed_text_first_and_times_out_of_order() {
        let txt = "Vox pop, open day\n[00:00:09] A: later\n[00:00:05] B: earlier\n[00:00:07] Only a time here";
        assert_eq!(
            parse(txt).unwrap(),
            vec![
                turn(None, None, None, "Vox pop, open day"),
                turn(Some("A"), Some(9000), None, "later"),
                turn(Some("B"), Some(5000), Some(7000), "earlier"),
                turn(Some("B"), Some(7000), None, "Only a time here"),
            ]
        );
    }

    #[test]
    fn empty_labelled_turn_still_ends_the_one_before() {
        let txt = "[00:00:01] A: hi\n[00:00:03] B:\n[00:00:05] A: bye";
        assert_eq!(
            parse(txt).unwrap(),
            vec![
                turn(Some("A"), Some(1000), Some(3000), "hi"),
                turn(Some("A"), Some(5000), None, "bye"),
            ]
        );
    }

    #[test]
    fn only_times_is_no_speech() {
        assert_eq!(
            parse("[00:00:01]\n\n#00:00:02.0#\n").unwrap_err(),
            ParseError::new(0, "the transcript has no speech in it")
        );
        assert_eq!(parse("").unwrap_err().line, 0);
    }
}
