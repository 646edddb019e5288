//! Bytes to text and text to lines, the same way for every format, so that
//! a byte order mark, Windows or old Mac line endings never change what is
//! read or which line an error names.

use super::ParseError;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The bytes after a UTF-8 byte order mark, if there is one.
pub(super) fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

/// The file as UTF-8 text, without its byte order mark. Anything else is
/// refused with the line of the first invalid bytes, so the researcher can
/// find the stray character (often a Windows-1252 quote or accent).
pub(super) fn decode(bytes: &[u8]) -> Result<&str, ParseError> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(ParseError::new(
            1,
            "the file is UTF-16 text, not UTF-8; open it in a text editor and save it again as UTF-8",
        ));
    }
    let body = without_bom(bytes);
    std::str::from_utf8(body).map_err(|e| {
        let valid = body.get(..e.valid_up_to()).unwrap_or_default();
        ParseError::new(
            line_breaks(valid) + 1,
            "the file is not UTF-8 text (the first bytes in another encoding are on this line); \
             open it in a text editor and save it again as UTF-8",
        )
    })
}

/// The longest UTF-8 text at the start of `bytes`, looking at no more than
/// `max` bytes: enough to recognise a format without reading it all.
pub(super) fn valid_prefix(bytes: &[u8], max: usize) -> &str {
    let head = bytes.get(..max).unwrap_or(bytes);
    match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) => {
            std::str::from_utf8(head.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or_default()
        }
    }
}

/// How many line endings `bytes` holds, counting CRLF once, as [`lines`]
/// does.
fn line_breaks(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}

/// The lines of `text` with their 1-based numbers, split at CRLF, CR or LF.
pub(super) fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.find(['\r', '\n']) {
            Some(i) => {
                let skip = if r[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&r[i + skip..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                (!r.is_empty()).then_some(r)
            }
        }
    })
    .zip(1..)
    .map(|(line, n)| (n, line))
}

/// Calls `each` with every run of non-blank lines (a cue, a NOTE, ...),
/// holding only one block at a time. Whitespace-only lines count as blank.
pub(super) fn for_each_block<'a>(
    text: &'a str,
    mut each: impl FnMut(&[(usize, &'a str)]) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let mut block = Vec::new();
    for (n, line) in lines(text) {
        if line.trim().is_empty() {
            if !block.is_empty() {
                each(&block)?;
                block.clear();
            }
        } else {
            block.push((n, line));
        }
    }
    if block.is_empty() {
        Ok(())
    } else {
        each(&block)
    }
}

/// Runs of ASCII whitespace (line breaks in a cue, double spaces) become one
/// space; a no-break space written on purpose is kept.
pub(super) fn squeeze(text: &str) -> String {
    text.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// A line of the file, shortened, to quote in an error message.
pub(super) fn quote(line: &str) -> String {
    const MAX: usize = 60;
    let line = line.trim();
    if line.chars().count() <= MAX {
        line.to_owned()
    } else {
        let mut short: String = line.chars().take(MAX).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<(usize, &str)> {
        lines(text).collect()
    }

    #[test]
    fn lines_split_at_every_ending() {
        assert_eq!(
            all("a\r\nb\rc\nd"),
            vec![(1, "a"), (2, "b"), (3, "c"), (4, "d")]
        );
        assert_eq!(
            all("a\n\n\nb\n"),
            vec![(1, "a"), (2, ""), (3, ""), (4, "b")]
        );
        assert_eq!(all("\r\r"), vec![(1, ""), (2, "")]);
        assert!(all("").is_empty());
    }

    #[test]
    fn utf8_error_names_the_line() {
        let err = decode(b"one\r\ntwo\rthree\ncaf\xe9").unwrap_err();
        assert_eq!(err.line, 4);
        assert!(err.reason.starts_with("the file is not UTF-8 text"));
        assert_eq!(decode(b"\xe9").unwrap_err().line, 1);
        assert_eq!(decode(b"a\r\xe9").unwrap_err().line, 2);
        assert_eq!(decode(b"\xEF\xBB\xBFok").unwrap(), "ok");
    }

    #[test]
    fn utf16_is_named() {
        let err = decode(b"\xFF\xFEW\0E\0").unwrap_err();
        assert!(err.reason.contains("UTF-16"), "{err}");
    }

    #[test]
    fn valid_prefix_stops_before_bad_bytes_and_at_max() {
        assert_eq!(valid_prefix(b"abc\xe9def", 100), "abc");
        assert_eq!(valid_prefix(b"abcdef", 3), "abc");
        // A character cut by `max` is left out, not mangled.
        assert_eq!(valid_prefix("aé".as_bytes(), 2), "a");
    }

    #[test]
    fn blocks_are_runs_of_non_blank_lines() {
        let mut seen = Vec::new();
        for_each_block("a\nb\n  \n\nc\r\n", |b| {
            seen.push(b.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![vec![(1, "a"), (2, "b")], vec![(5, "c")]]);
    }

    #[test]
    fn quotes_are_short() {
        assert_eq!(quote("  short  "), "short");
        let long = "x".repeat(100);
        assert_eq!(quote(&long).chars().count(), 61);
    }

    #[test]
    fn squeeze_keeps_no_break_spaces() {
        assert_eq!(squeeze(" a \t b\n c\u{a0}d "), "a b c\u{a0}d");
    }
}
