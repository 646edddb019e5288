//! What WebVTT and SRT share once a cue's markup is gone: finding who speaks
//! in its lines, and adding its speech to the turns.

use super::{label, text, ParseError, Turn, Turns};

/// Speech by one speaker within a cue.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Segment {
    pub(super) speaker: Option<String>,
    pub(super) text: String,
}

impl Segment {
    /// Adds `words` as a new line of this segment.
    fn add(&mut self, words: &str) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(words);
    }
}

/// Splits a cue's plain lines (markup removed) into segments by speaker.
///
/// A line starting with a speaker's label (`Jane Doe: ...`, Zoom's way)
/// starts a segment by that speaker. A line starting with a dialogue dash
/// (`- Is it filmed?`) starts a segment too — with no speaker unless a label
/// follows the dash — because subtitles use dashes for two people in one cue.
/// Any other line carries on the segment before it: captions wrap lines for
/// the screen, not for meaning.
pub(super) fn segments<S: AsRef<str>>(lines: impl IntoIterator<Item = S>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for line in lines {
        let line = line.as_ref().trim();
        if line.is_empty() {
            continue;
        }
        let (dashed, body) = match line.strip_prefix('-') {
            Some(rest) if rest.starts_with(|c: char| c.is_whitespace() || c.is_alphabetic()) => {
                (true, rest.trim_start())
            }
            _ => (false, line),
        };
        match (label::split(body), out.last_mut()) {
            (Some(l), _) => out.push(Segment {
                speaker: Some(l.speaker),
                text: l.text.to_owned(),
            }),
            (None, Some(last)) if !dashed => last.add(body),
            (None, _) => out.push(Segment {
                speaker: None,
                text: body.to_owned(),
            }),
        }
    }
    out
}

/// Adds a cue's segments to `turns`, each with the cue's times and its lines
/// joined by single spaces; segments without words are left out.
pub(super) fn add(
    turns: &mut Turns,
    segments: Vec<Segment>,
    (start, end): (u64, u64),
    line: usize,
) -> Result<(), ParseError> {
    for segment in segments {
        let words = text::squeeze(&segment.text);
        if words.trim().is_empty() {
            continue;
        }
        turns.push(
            Turn {
                speaker: segment.speaker,
                start_ms: Some(start),
                end_ms: Some(end),
                text: words,
            },
            line,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(speaker: Option<&str>, text: &str) -> Segment {
        Segment {
            speaker: speaker.map(str::to_owned),
            text: text.to_owned(),
        }
    }

    #[test]
    fn zoom_label_then_wrapped_line() {
        assert_eq!(
            segments(["Jane Doe: I came along", "because of a leaflet."]),
            vec![seg(Some("Jane Doe"), "I came along\nbecause of a leaflet.")]
        );
    }

    #[test]
    fn no_label_no_speaker() {
        assert_eq!(
            segments(["There was a leaflet at my GP surgery: bright orange."]),
            vec![seg(
                None,
                "There was a leaflet at my GP surgery: bright orange."
            )]
        );
    }

    #[test]
    fn dialogue_dashes_split_without_speaker() {
        assert_eq!(
            segments(["- Is it being filmed?", "-Just audio.", "- Jane: Good."]),
            vec![
                seg(None, "Is it being filmed?"),
                seg(None, "Just audio."),
                seg(Some("Jane"), "Good."),
            ]
        );
        // An em-dash style interruption or a number is not a dialogue dash.
        assert_eq!(
            segments(["Well", "-- I mean", "-5 degrees"]),
            vec![seg(None, "Well\n-- I mean\n-5 degrees")]
        );
    }

    #[test]
    fn two_labels_two_segments() {
        assert_eq!(
            segments(["Interviewer: Ready?", "P07: Yes.", ""]),
            vec![seg(Some("Interviewer"), "Ready?"), seg(Some("P07"), "Yes.")]
        );
    }
}
