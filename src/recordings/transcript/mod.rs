//! Interview transcripts in the formats researchers actually have — captions
//! from Microsoft Teams and Zoom (WebVTT), subtitles (SRT), typed transcripts
//! (plain text, including MAXQDA and ATLAS.ti timestamps) and Word documents
//! — read into one list of [`Turn`]s.
//!
//! Speakers are kept only as the labels found in the file ("Jane Doe",
//! "Interviewer", "P07"): nothing here guesses who anyone is. The server maps
//! each label to a study code and never stores the label itself.
//!
//! Every reader takes untrusted bytes, so sizes are capped ([`MAX_BYTES`],
//! [`MAX_TURNS`], and the docx limits), arithmetic on times is checked, and a
//! file that cannot be read gives a [`ParseError`] that names the line and
//! says, in words a researcher can act on, what is wrong.
//!
//! Two rules apply to every format:
//! - Cue-based files (WebVTT, SRT) split speech wherever the captioning tool
//!   chose to, so consecutive cues by the same *named* speaker are joined
//!   into one turn when the next one starts no later than the previous one
//!   ends (no gap); the joined turn keeps the earliest start and the latest
//!   end, and the texts are joined with a space. Cues without a speaker are
//!   never joined, since nothing says they are the same person. Typed
//!   transcripts (plain text, docx) keep the turns as the transcriber wrote
//!   them.
//! - A line begins with a speaker's label only when it looks like one; see
//!   the `label` module for the exact rule.

mod clock;
mod cue;
mod docx;
mod label;
mod plain;
mod srt;
mod text;
mod vtt;

#[cfg(test)]
mod tests;

use std::collections::HashSet;

/// The largest transcript file read, in bytes. A two-hour interview is well
/// under 1 MiB of captions; this leaves room for long focus groups and Word
/// files with images while keeping the work per upload bounded.
pub const MAX_BYTES: usize = 20 * 1024 * 1024;

/// The most turns one transcript may have, which bounds the memory and the
/// database rows a single upload can cost.
pub const MAX_TURNS: usize = 100_000;

/// One stretch of speech, as the file gives it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Turn {
    /// The label as found in the file, e.g. "Jane Doe" or "Interviewer";
    /// `None` when the file does not say who spoke.
    pub speaker: Option<String>,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub text: String,
}

/// The transcript formats fieldkit reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// WebVTT captions, as Microsoft Teams and Zoom export them.
    WebVtt,
    /// SubRip subtitles.
    Srt,
    /// A typed transcript in UTF-8 text.
    PlainText,
    /// A typed transcript in a Word document.
    Docx,
}

impl Format {
    /// Every format, in the order they are offered.
    pub const ALL: &'static [Format] =
        &[Format::WebVtt, Format::Srt, Format::PlainText, Format::Docx];

    /// The stored form, the same as the serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::WebVtt => "web_vtt",
            Format::Srt => "srt",
            Format::PlainText => "plain_text",
            Format::Docx => "docx",
        }
    }

    /// The format stored as `s` (see [`Format::as_str`]), so a stored
    /// original is read again the way it was read on upload.
    pub fn parse(s: &str) -> Option<Format> {
        Self::ALL.iter().copied().find(|f| f.as_str() == s)
    }
}

/// Why a transcript could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based; 0 when the problem is not on one line (a Word document, a
    /// file too large, a transcript with no speech).
    pub line: usize,
    /// Plain English for the researcher who uploaded the file.
    pub reason: String,
}

impl ParseError {
    fn new(line: usize, reason: impl Into<String>) -> Self {
        ParseError {
            line,
            reason: reason.into(),
        }
    }
}

/// Which format a file is in, or `None` when it is none fieldkit reads.
///
/// The content decides first (a `WEBVTT` header, an SRT cue, a zip holding
/// `word/document.xml`), because names are often wrong: Teams captions get
/// saved as .txt. The file name decides next, so that a damaged .vtt, .srt,
/// .txt or .docx still goes to its reader and gets an error that says what
/// is wrong with it. Any other UTF-8 text is a plain transcript.
pub fn detect(file_name: Option<&str>, bytes: &[u8]) -> Option<Format> {
    let body = text::without_bom(bytes);
    if vtt::has_header(body) {
        return Some(Format::WebVtt);
    }
    if srt::looks_like(text::valid_prefix(body, 4096)) {
        return Some(Format::Srt);
    }
    if docx::is_docx(bytes) {
        return Some(Format::Docx);
    }
    if let Some(format) = file_name.and_then(by_extension) {
        return Some(format);
    }
    match std::str::from_utf8(body) {
        // Text never holds NUL; binary files that happen to be valid UTF-8 do.
        Ok(text) if !text.contains('\0') => Some(Format::PlainText),
        _ => None,
    }
}

fn by_extension(file_name: &str) -> Option<Format> {
    let (_, ext) = file_name.rsplit_once('.')?;
    match ext.to_ascii_lowercase().as_str() {
        "vtt" | "webvtt" => Some(Format::WebVtt),
        "srt" => Some(Format::Srt),
        "txt" | "text" => Some(Format::PlainText),
        "docx" => Some(Format::Docx),
        _ => None,
    }
}

/// Reads a transcript. A UTF-8 byte order mark and CRLF, CR or LF line
/// endings are accepted in every format; the turns come back in file order,
/// each with non-empty text, and there is at least one.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Vec<Turn>, ParseError> {
    if bytes.len() > MAX_BYTES {
        return Err(ParseError::new(
            0,
            format!(
                "the file is larger than {} MiB; split the transcript into parts and upload each",
                MAX_BYTES / (1024 * 1024)
            ),
        ));
    }
    match format {
        Format::WebVtt => vtt::parse(text::decode(bytes)?),
        Format::Srt => srt::parse(text::decode(bytes)?),
        Format::PlainText => plain::parse(text::decode(bytes)?),
        Format::Docx => docx::parse(bytes),
    }
}

/// The distinct speaker labels, in order of first appearance: the list a
/// researcher maps to study codes.
pub fn speakers(turns: &[Turn]) -> Vec<String> {
    let mut seen = HashSet::new();
    turns
        .iter()
        .filter_map(|t| t.speaker.as_deref())
        .filter(|s| seen.insert(*s))
        .map(str::to_owned)
        .collect()
}

/// The turns a reader has found so far, kept within [`MAX_TURNS`] as they
/// arrive so that a hostile file cannot build a huge list first.
struct Turns {
    list: Vec<Turn>,
    /// Join touching cues by the same named speaker (see the module docs).
    join_touching: bool,
}

impl Turns {
    fn new(join_touching: bool) -> Self {
        Turns {
            list: Vec::new(),
            join_touching,
        }
    }

    /// Adds a turn found at `line` (for the error when there are too many).
    fn push(&mut self, turn: Turn, line: usize) -> Result<(), ParseError> {
        if self.join_touching {
            if let Some(last) = self.list.last_mut() {
                if continues(last, &turn) {
                    last.start_ms = last.start_ms.min(turn.start_ms);
                    last.end_ms = last.end_ms.max(turn.end_ms);
                    if !last.text.is_empty() && !turn.text.is_empty() {
                        last.text.push(' ');
                    }
                    last.text.push_str(&turn.text);
                    return Ok(());
                }
            }
        }
        if self.list.len() >= MAX_TURNS {
            return Err(ParseError::new(
                line,
                format!(
                    "the transcript has more than {MAX_TURNS} turns; split it into parts and upload each"
                ),
            ));
        }
        self.list.push(turn);
        Ok(())
    }

    /// The turns with text, or an error when there are none.
    fn finish(self) -> Result<Vec<Turn>, ParseError> {
        let list: Vec<Turn> = self
            .list
            .into_iter()
            .filter(|t| !t.text.trim().is_empty())
            .collect();
        if list.is_empty() {
            return Err(ParseError::new(0, "the transcript has no speech in it"));
        }
        Ok(list)
    }
}

/// Whether `next` carries on `last`: the same named speaker, with no gap.
fn continues(last: &Turn, next: &Turn) -> bool {
    let same_speaker = last.speaker.is_some() && last.speaker == next.speaker;
    match (last.end_ms, next.start_ms) {
        (Some(end), Some(start)) => same_speaker && start <= end,
        _ => false,
    }
}

#[cfg(test)]
mod unit {
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
    fn format_names_match_serde() {
        for &f in Format::ALL {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.as_str()));
            assert_eq!(serde_json::from_str::<Format>(&json).unwrap(), f);
            assert_eq!(Format::parse(f.as_str()), Some(f));
        }
        assert_eq!(Format::parse("WebVtt"), None);
    }

    #[test]
    fn touching_cues_by_one_speaker_join() {
        let mut turns = Turns::new(true);
        turns.push(turn(Some("A"), 0, 1000, "one"), 1).unwrap();
        turns.push(turn(Some("A"), 1000, 2000, "two"), 2).unwrap();
        turns.push(turn(Some("A"), 2500, 3000, "gap"), 3).unwrap();
        turns.push(turn(Some("B"), 2900, 3500, "other"), 4).unwrap();
        turns.push(turn(None, 3500, 4000, "x"), 5).unwrap();
        turns.push(turn(None, 4000, 4500, "y"), 6).unwrap();
        let list = turns.finish().unwrap();
        assert_eq!(
            list,
            vec![
                turn(Some("A"), 0, 2000, "one two"),
                turn(Some("A"), 2500, 3000, "gap"),
                turn(Some("B"), 2900, 3500, "other"),
                turn(None, 3500, 4000, "x"),
                turn(None, 4000, 4500, "y"),
            ]
        );
    }

    #[test]
    fn overlapping_cue_keeps_earliest_start_and_latest_end() {
        let mut turns = Turns::new(true);
        turns.push(turn(Some("A"), 1000, 5000, "long"), 1).unwrap();
        turns.push(turn(Some("A"), 500, 3000, "early"), 2).unwrap();
        assert_eq!(
            turns.finish().unwrap(),
            vec![turn(Some("A"), 500, 5000, "long early")]
        );
    }

    #[test]
    fn typed_turns_are_not_joined() {
        let mut turns = Turns::new(false);
        turns.push(turn(Some("A"), 0, 1000, "one"), 1).unwrap();
        turns.push(turn(Some("A"), 1000, 2000, "two"), 2).unwrap();
        assert_eq!(turns.finish().unwrap().len(), 2);
    }

    #[test]
    fn too_many_turns_is_refused_where_it_happens() {
        let mut turns = Turns::new(false);
        for i in 0..MAX_TURNS {
            turns.push(turn(None, 0, 0, "x"), i + 1).unwrap();
        }
        let err = turns.push(turn(None, 0, 0, "x"), 7).unwrap_err();
        assert_eq!(err.line, 7);
        assert!(err.reason.contains("more than 100000 turns"), "{err}");
    }

    #[test]
    fn no_speech_is_an_error() {
        let mut turns = Turns::new(false);
        turns.push(turn(Some("A"), 0, 0, "  "), 1).unwrap();
        assert_eq!(
            turns.finish().unwrap_err(),
            ParseError::new(0, "the transcript has no speech in it")
        );
    }

    #[test]
    fn oversized_input_is_refused_before_reading() {
        let big = vec![b'a'; MAX_BYTES + 1];
        for &f in Format::ALL {
            let err = parse(f, &big).unwrap_err();
            assert_eq!(err.line, 0);
            assert!(err.reason.contains("larger than 20 MiB"), "{err}");
        }
    }

    #[test]
    fn speakers_in_order_of_first_appearance() {
        let turns = vec![
            turn(Some("Interviewer"), 0, 0, "a"),
            turn(None, 0, 0, "b"),
            turn(Some("P07"), 0, 0, "c"),
            turn(Some("Interviewer"), 0, 0, "d"),
        ];
        assert_eq!(speakers(&turns), vec!["Interviewer", "P07"]);
    }

    #[test]
    fn detect_by_content_then_name() {
        assert_eq!(
            detect(None, b"\xEF\xBB\xBFWEBVTT\r\n\r\n"),
            Some(Format::WebVtt)
        );
        assert_eq!(
            detect(Some("x.txt"), b"WEBVTT - Teams\n"),
            Some(Format::WebVtt)
        );
        assert_eq!(detect(None, b"WEBVTTX\n"), Some(Format::PlainText));
        assert_eq!(
            detect(
                Some("notes.txt"),
                b"1\r\n00:00:01,000 --> 00:00:04,000\r\nHi\r\n"
            ),
            Some(Format::Srt)
        );
        assert_eq!(detect(None, b"Interviewer: hello"), Some(Format::PlainText));
        assert_eq!(detect(Some("a.SRT"), b"garbage"), Some(Format::Srt));
        assert_eq!(detect(Some("a.vtt"), b"no header"), Some(Format::WebVtt));
        assert_eq!(detect(Some("a.docx"), b"not a zip"), Some(Format::Docx));
        assert_eq!(
            detect(Some("latin1.txt"), b"caf\xe9"),
            Some(Format::PlainText)
        );
        assert_eq!(detect(None, b"caf\xe9"), None);
        assert_eq!(detect(Some("photo.jpg"), b"\xff\xd8\xff\xe0"), None);
        assert_eq!(detect(None, b"a\0b"), None);
    }
}
