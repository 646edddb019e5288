//! SubRip subtitles: numbered cues with `00:00:01,000 --> 00:00:04,000`
//! timings. Speakers, when named at all, are named `Jane Doe: ...` at the
//! start of a line; dialogue dashes mark a change of (unnamed) speaker.
//!
//! SRT has no specification, so what players accept is read: a full stop for
//! the comma, short fractions, a missing cue number, coordinates after the
//! timing, and `<i>`/`<font>` and `{\an8}` markup, which is dropped. A block
//! with no timing is an error rather than skipped, so no speech is lost
//! unnoticed.

use super::{clock, cue, text, ParseError, Turn, Turns};

/// Whether `head` (the start of a file) opens with an SRT cue: a cue number
/// then a timing line, or a timing line alone.
pub(super) fn looks_like(head: &str) -> bool {
    let mut lines = text::lines(head)
        .map(|(_, l)| l.trim())
        .filter(|l| !l.is_empty());
    match (lines.next(), lines.next()) {
        (Some(first), Some(second)) if is_number(first) => timing(0, second).is_ok(),
        (Some(first), _) => timing(0, first).is_ok(),
        _ => false,
    }
}

pub(super) fn parse(text: &str) -> Result<Vec<Turn>, ParseError> {
    let mut turns = Turns::new(true);
    text::for_each_block(text, |block| {
        let &(first_line, first) = block.first().unwrap_or(&(0, ""));
        let at = if first.contains("-->") {
            0
        } else if is_number(first.trim()) {
            1
        } else {
            return Err(ParseError::new(
                first_line,
                format!(
                    "expected a cue number or a timing such as '00:00:01,000 --> 00:00:04,000' \
                     but found '{}' (a blank line inside a cue ends it)",
                    text::quote(first)
                ),
            ));
        };
        let Some(&(line, found)) = block.get(at) else {
            return Err(ParseError::new(
                first_line,
                format!("cue {} has no timing line after it", text::quote(first)),
            ));
        };
        let times = timing(line, found)?;
        let lines = block[at + 1..].iter().map(|&(_, l)| strip_markup(l));
        cue::add(&mut turns, cue::segments(lines), times, line)
    })?;
    turns.finish()
}

fn is_number(line: &str) -> bool {
    !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit())
}

/// `start --> end [coordinates]`, in milliseconds.
fn timing(line: usize, found: &str) -> Result<(u64, u64), ParseError> {
    let bad = || {
        ParseError::new(
            line,
            format!(
                "the cue timing '{}' is not hh:mm:ss,mmm --> hh:mm:ss,mmm",
                text::quote(found)
            ),
        )
    };
    let (left, right) = found.split_once("-->").ok_or_else(bad)?;
    let start = clock::SRT.parse(left.trim()).ok_or_else(bad)?;
    let end = right.split_whitespace().next().ok_or_else(bad)?;
    let end = clock::SRT.parse(end).ok_or_else(bad)?;
    if end < start {
        return Err(ParseError::new(
            line,
            format!(
                "the cue ends at {} before it starts at {}",
                clock::show(end),
                clock::show(start)
            ),
        ));
    }
    Ok((start, end))
}

/// The line without HTML-like tags (`<i>`, `</b>`, `<font color="red">`) and
/// ASS overrides (`{\an8}`); other `<` and `{` are kept as written.
fn strip_markup(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(['<', '{']) {
        out.push_str(&rest[..at]);
        let (opening, after) = (&rest[at..at + 1], &rest[at + 1..]);
        let (close, is_tag): (char, fn(&str) -> bool) = if opening == "<" {
            ('>', |inside| {
                inside
                    .trim_start_matches('/')
                    .starts_with(|c: char| c.is_ascii_alphabetic())
            })
        } else {
            ('}', |inside| inside.starts_with('\\'))
        };
        // Tags are short and hold no other tag: look no further than 256
        // characters, or the next opening, for the end, so a line full of
        // `<` stays fast.
        let end = after
            .char_indices()
            .take(256)
            .find(|&(_, c)| c == close || opening.starts_with(c));
        rest = match end {
            Some((len, c)) if c == close && is_tag(&after[..len]) => &after[len + 1..],
            _ => {
                out.push_str(opening);
                after
            }
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(speaker: Option<&str>, start: u64, end: u64, text: &str) -> Turn {
        Turn {
            speaker: speaker.map(str::to_owned),
            start_ms: Some(start),
            end_ms: Some(end),
            text: text.to_owned(),
        }
    }

    #[test]
    fn recognises_srt() {
        assert!(looks_like("1\r\n00:00:01,000 --> 00:00:04,000\r\nHi"));
        assert!(looks_like("\n\n12\n00:00:01.000 --> 00:00:04.000 X1:10\n"));
        assert!(looks_like("00:00:01,000 --> 00:00:04,000\nHi"));
        assert!(!looks_like("1\nInterviewer: hello"));
        assert!(!looks_like("Interviewer: 1 --> 2"));
        assert!(!looks_like(""));
    }

    #[test]
    fn cues_with_and_without_numbers_and_markup() {
        let srt = "1\r00:00:01,000 --> 00:00:02,500\r<i>Ann:</i> {\\an8}Hi <3 {x}\r\r00:00:03,000 --> 00:00:04,000 X1:1 X2:2\r<font color=\"red\">Bo</font>: Hello\r";
        assert_eq!(
            parse(srt).unwrap(),
            vec![
                turn(Some("Ann"), 1000, 2500, "Hi <3 {x}"),
                turn(Some("Bo"), 3000, 4000, "Hello"),
            ]
        );
    }

    #[test]
    fn dashes_give_two_turns_with_the_cue_times() {
        let srt =
            "3\n00:00:07,250 --> 00:00:09,000\n- Is it being filmed?\n- Just the audio today.\n";
        assert_eq!(
            parse(srt).unwrap(),
            vec![
                turn(None, 7250, 9000, "Is it being filmed?"),
                turn(None, 7250, 9000, "Just the audio today."),
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("1\n00:00:01 --> 00:00:02\nx\n", 2, "the cue timing '00:00:01 --> 00:00:02' is not hh:mm:ss,mmm --> hh:mm:ss,mmm"),
            ("1\nhello\n", 2, "the cue timing 'hello' is not hh:mm:ss,mmm --> hh:mm:ss,mmm"),
            ("1\n00:00:01,000 --> 00:00:02,000\nx\n\n2\n", 5, "cue 2 has no timing line after it"),
            ("00:00:05,000 --> 00:00:01,000\nx\n", 1, "the cue ends at 00:00:01.000 before it starts at 00:00:05.000"),
            ("1\n00:00:01,000 --> 00:00:02,000\nx\n\nmore words\n", 5, "expected a cue number or a timing such as '00:00:01,000 --> 00:00:04,000' but found 'more words' (a blank line inside a cue ends it)"),
        ];
        for (srt, line, reason) in cases {
            assert_eq!(
                parse(srt).unwrap_err(),
                ParseError::new(line, reason),
                "{srt}"
            );
        }
    }

    #[test]
    fn markup_stripping() {
        assert_eq!(
            strip_markup("<b>a</b> < b {\\pos(1,2)}c {d} <"),
            "a < b c {d} <"
        );
    }
}
