//! WebVTT captions, as Microsoft Teams and Zoom export them.
//!
//! Teams names speakers in voice tags (`<v Jane Doe>...</v>`) and gives each
//! cue a GUID id; Zoom numbers its cues and writes `Jane Doe: ...` in the
//! text. Both are read, along with what the format allows around them: a
//! header, NOTE, STYLE and REGION blocks, cue settings after the timing
//! (`align:start position:10%`), `mm:ss.ttt` times, other markup (`<i>`,
//! `<c.yellow>`, karaoke times), and the entities WebVTT defines.
//!
//! WebVTT has a specification, so a block that is none of these is an error
//! rather than skipped: a stray blank line inside a cue would otherwise lose
//! speech without anyone noticing.

use std::borrow::Cow;

use super::{clock, cue, text, ParseError, Turn, Turns};

/// Whether `body` (after any byte order mark) starts with the WebVTT
/// signature: `WEBVTT` alone or followed by a space or tab.
pub(super) fn has_header(body: &[u8]) -> bool {
    body.strip_prefix(b"WEBVTT")
        .is_some_and(|rest| matches!(rest.first(), None | Some(b' ' | b'\t' | b'\r' | b'\n')))
}

pub(super) fn parse(text: &str) -> Result<Vec<Turn>, ParseError> {
    if !has_header(text.as_bytes()) {
        return Err(ParseError::new(
            1,
            "the file does not start with WEBVTT, so it is not WebVTT captions",
        ));
    }
    let mut turns = Turns::new(true);
    let mut in_header = true;
    text::for_each_block(text, |block| {
        if std::mem::take(&mut in_header) {
            // The header runs to the first blank line, but a cue may follow
            // it directly; its id (if any) is the line before its timing.
            return match block.iter().skip(1).position(|(_, l)| l.contains("-->")) {
                Some(k) => read_block(&mut turns, &block[k.max(1)..]),
                None => Ok(()),
            };
        }
        read_block(&mut turns, block)
    })?;
    turns.finish()
}

fn read_block(turns: &mut Turns, block: &[(usize, &str)]) -> Result<(), ParseError> {
    let Some(&(first_line, first)) = block.first() else {
        return Ok(());
    };
    if ["NOTE", "STYLE", "REGION"]
        .iter()
        .any(|&word| is_keyword_line(first, word))
    {
        return Ok(());
    }
    let at = if first.contains("-->") {
        0
    } else if block.get(1).is_some_and(|(_, l)| l.contains("-->")) {
        1
    } else {
        return Err(missing_timing(block, first_line, first));
    };
    let (line, timing_line) = block[at];
    let times = timing(line, timing_line)?;
    let payload: Vec<&str> = block[at + 1..].iter().map(|&(_, l)| l).collect();
    cue::add(turns, segments(&payload), times, line)
}

/// Whether `line` is `word` alone or followed by a space or tab.
fn is_keyword_line(line: &str, word: &str) -> bool {
    line.strip_prefix(word)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// The error for a block with no timing line: a mistyped timing when a line
/// has an arrow, otherwise words where a cue should start.
fn missing_timing(block: &[(usize, &str)], first_line: usize, first: &str) -> ParseError {
    let (line, found) = match block.get(1) {
        Some(&second) if !first.contains("->") => second,
        _ => (first_line, first),
    };
    if found.contains("->") {
        bad_timing(line, found)
    } else {
        ParseError::new(
            line,
            format!(
                "expected a cue timing such as '00:00:03.120 --> 00:00:07.450' but found '{}' \
                 (a blank line inside a cue ends it)",
                text::quote(found)
            ),
        )
    }
}

fn bad_timing(line: usize, found: &str) -> ParseError {
    ParseError::new(
        line,
        format!(
            "the cue timing '{}' is not hh:mm:ss.mmm --> hh:mm:ss.mmm",
            text::quote(found)
        ),
    )
}

/// `start --> end [settings]`, in milliseconds.
fn timing(line: usize, found: &str) -> Result<(u64, u64), ParseError> {
    let bad = || bad_timing(line, found);
    let (left, right) = found.split_once("-->").ok_or_else(bad)?;
    let start = clock::VTT.parse(left.trim()).ok_or_else(bad)?;
    let end = right.split_whitespace().next().ok_or_else(bad)?;
    let end = clock::VTT.parse(end).ok_or_else(bad)?;
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

/// A piece of cue text.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(Cow<'a, str>),
    /// `<v Jane Doe>`: who speaks from here on (`None` if unnamed).
    Voice(Option<String>),
    /// `</v>`
    VoiceEnd,
}

/// The pieces of one line of cue text; markup other than voices is dropped.
/// A `<` with no `>` after it is kept as text.
fn pieces(line: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('<') {
        let Some(len) = rest[open..].find('>') else {
            break;
        };
        if open > 0 {
            out.push(Piece::Text(entities(&rest[..open])));
        }
        let tag = &rest[open + 1..open + len];
        rest = &rest[open + len + 1..];
        if let Some(after) = tag.strip_prefix('v') {
            if after.is_empty() || after.starts_with(['.', ' ', '\t']) {
                let who = after
                    .split_once([' ', '\t'])
                    .map(|(_, who)| text::squeeze(&entities(who)))
                    .filter(|who| !who.is_empty());
                out.push(Piece::Voice(who));
            }
        } else if tag.trim() == "/v" {
            out.push(Piece::VoiceEnd);
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(entities(rest)));
    }
    out
}

/// The segments of a cue: by voice tags when it has any (Teams), otherwise
/// by the labels and dashes in its lines (Zoom).
fn segments(payload: &[&str]) -> Vec<cue::Segment> {
    let lines: Vec<Vec<Piece>> = payload.iter().map(|l| pieces(l)).collect();
    let voiced = lines.iter().flatten().any(|p| matches!(p, Piece::Voice(_)));
    if !voiced {
        return cue::segments(lines.into_iter().map(|pieces| {
            pieces
                .into_iter()
                .filter_map(|p| match p {
                    Piece::Text(t) => Some(t),
                    _ => None,
                })
                .collect::<String>()
        }));
    }
    let mut out = Vec::new();
    let mut current = cue::Segment::default();
    let flush = |out: &mut Vec<cue::Segment>, current: &mut cue::Segment| {
        if !current.text.trim().is_empty() {
            out.push(cue::Segment {
                speaker: current.speaker.clone(),
                text: std::mem::take(&mut current.text),
            });
        }
        current.text.clear();
    };
    for line in lines {
        for piece in line {
            match piece {
                Piece::Text(t) => current.text.push_str(&t),
                Piece::Voice(who) => {
                    flush(&mut out, &mut current);
                    current.speaker = who;
                }
                Piece::VoiceEnd => {
                    flush(&mut out, &mut current);
                    current.speaker = None;
                }
            }
        }
        current.text.push('\n');
    }
    flush(&mut out, &mut current);
    out
}

/// Decodes the character references WebVTT text may hold: the named ones
/// the format defines (`&amp; &lt; &gt; &nbsp; &lrm; &rlm;`), the two
/// quotes, and numeric ones. Anything else is left as written.
fn entities(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // References are short: look no further than 10 characters for the
        // `;`, so a line full of `&` stays linear.
        let after_amp = &rest[1..];
        let decoded = after_amp
            .char_indices()
            .take(10)
            .find(|&(_, c)| c == ';')
            .and_then(|(i, _)| Some((entity(&after_amp[..i])?, &after_amp[i + 1..])));
        match decoded {
            Some((c, after)) => {
                out.push(c);
                rest = after;
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "nbsp" => '\u{a0}',
        "lrm" => '\u{200e}',
        "rlm" => '\u{200f}',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|&c| c != '\0')?
        }
    })
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
    fn header_needs_the_signature() {
        assert!(has_header(b"WEBVTT"));
        assert!(has_header(b"WEBVTT - from Teams\n"));
        assert!(has_header(b"WEBVTT\r\n"));
        assert!(!has_header(b"WEBVTTX"));
        assert!(!has_header(b"webvtt\n"));
        assert_eq!(
            parse("Interviewer: hi").unwrap_err(),
            ParseError::new(
                1,
                "the file does not start with WEBVTT, so it is not WebVTT captions"
            )
        );
    }

    #[test]
    fn header_lines_and_a_cue_right_after_them() {
        let vtt = "WEBVTT\nKind: captions\nLanguage: en\n1\n00:01.000 --> 00:02.000\nA: one\n";
        assert_eq!(
            parse(vtt).unwrap(),
            vec![turn(Some("A"), 1000, 2000, "one")]
        );
        let vtt = "WEBVTT\n00:01.000 --> 00:02.000\nA: one";
        assert_eq!(
            parse(vtt).unwrap(),
            vec![turn(Some("A"), 1000, 2000, "one")]
        );
    }

    #[test]
    fn voices_split_a_cue() {
        let vtt = "WEBVTT\r\r00:00:01.000 --> 00:00:03.000\r<v.loud Ann Lee>Hello,\rthere.</v> <v Bo>Hi!</v>\r";
        assert_eq!(
            parse(vtt).unwrap(),
            vec![
                turn(Some("Ann Lee"), 1000, 3000, "Hello, there."),
                turn(Some("Bo"), 1000, 3000, "Hi!"),
            ]
        );
    }

    #[test]
    fn unclosed_voice_spans_the_cue_and_unnamed_voice_has_no_speaker() {
        let vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\n<v Ann>one\ntwo\n\n00:03.000 --> 00:04.000\n<v>three</v>\n";
        assert_eq!(
            parse(vtt).unwrap(),
            vec![
                turn(Some("Ann"), 1000, 2000, "one two"),
                turn(None, 3000, 4000, "three"),
            ]
        );
    }

    #[test]
    fn markup_is_dropped_and_entities_decoded() {
        let vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\n<v Ann &amp; Co><c.yellow><i>Tea</i></c> &amp; <00:01.500>cake &lt;3 &nbsp;&#39;x&#x27; &bogus; a<b\n";
        assert_eq!(
            parse(vtt).unwrap(),
            vec![turn(
                Some("Ann & Co"),
                1000,
                2000,
                "Tea & cake <3 \u{a0}'x' &bogus; a<b"
            )]
        );
    }

    #[test]
    fn notes_styles_regions_and_settings() {
        let vtt = "WEBVTT\n\nSTYLE\n::cue { color: lime }\n\nREGION\nid:fred\n\nNOTE a --> b is not a cue\n\nNOTE\tx\n\n7\n00:00:01.000 --> 00:00:02.000 align:start position:10%\nZed: hi\n";
        assert_eq!(
            parse(vtt).unwrap(),
            vec![turn(Some("Zed"), 1000, 2000, "hi")]
        );
    }

    #[test]
    fn bad_timings_name_the_line() {
        let cases = [
            ("WEBVTT\n\n1\n00:01 -> 00:02\nA: x\n", 4, "the cue timing '00:01 -> 00:02' is not hh:mm:ss.mmm --> hh:mm:ss.mmm"),
            ("WEBVTT\n\n00:00:01,000 --> 00:00:02,000\nA: x\n", 3, "the cue timing '00:00:01,000 --> 00:00:02,000' is not hh:mm:ss.mmm --> hh:mm:ss.mmm"),
            ("WEBVTT\n\n00:00:01.000 -->\nA: x\n", 3, "the cue timing '00:00:01.000 -->' is not hh:mm:ss.mmm --> hh:mm:ss.mmm"),
            ("WEBVTT\n\n00:00:05.000 --> 00:00:01.000\nA: x\n", 3, "the cue ends at 00:00:01.000 before it starts at 00:00:05.000"),
            ("WEBVTT\n\n00:01 -> 00:02\n", 3, "the cue timing '00:01 -> 00:02' is not hh:mm:ss.mmm --> hh:mm:ss.mmm"),
        ];
        for (vtt, line, reason) in cases {
            assert_eq!(
                parse(vtt).unwrap_err(),
                ParseError::new(line, reason),
                "{vtt}"
            );
        }
    }

    #[test]
    fn blank_line_inside_a_cue_is_an_error() {
        let vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\nA: one\n\nand more words\n";
        let err = parse(vtt).unwrap_err();
        assert_eq!(err.line, 6);
        assert!(
            err.reason.starts_with("expected a cue timing such as"),
            "{err}"
        );
        let vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\nA: one\n\nsome\nmore\n";
        assert_eq!(parse(vtt).unwrap_err().line, 7);
    }

    #[test]
    fn empty_cues_are_no_speech() {
        let vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\n<v Ann></v>\n";
        assert_eq!(
            parse(vtt).unwrap_err(),
            ParseError::new(0, "the transcript has no speech in it")
        );
    }
}
