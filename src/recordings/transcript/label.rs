//! Whether a line starts with a speaker's label, as in `Interviewer: ...`,
//! `P07: ...` or Zoom's `Jane Doe: ...`.
//!
//! Speech itself contains colons ("The thing is: I was scared"), and a label
//! taken wrongly turns words into a bogus speaker, so a prefix counts as a
//! label only when all of these hold:
//! - it ends at the first colon that is followed by whitespace or the end of
//!   the line (so times like `10:30` and links like `https://` never end one);
//! - it is 1 to 40 characters and 1 to 5 words, and has a letter in it (so
//!   `12:` is not one);
//! - it has none of `\ @ < > ? ! ; = " # * [ ] { } |`, no other colon, and no
//!   `://` or `www.` (so sentences, questions, links and addresses are not);
//! - every word starts with a capital, a digit or `(` — or is a surname
//!   particle such as "van" or "de" — so `So what I said:` is not one, while
//!   `Jane Doe (she/her)`, `Speaker 2`, `I` and `P07` are; scripts without
//!   case count as capitals;
//! - it is not one of a few words that head notes and metadata rather than
//!   speech (`Note`, `NB`, `Date`, `Location`, ...; see [`NOT_SPEAKERS`]).
//!
//! A label may end with its turn's start time, as Rev and Trint write it:
//! `Speaker 1 (00:01:10):`. What is left is known to be a label, never a
//! name: it is kept as found, with runs of spaces made one.

use super::clock;

/// Prefixes that look like labels but head notes or transcript metadata.
/// Compared ignoring ASCII case.
const NOT_SPEAKERS: &[&str] = &[
    "note",
    "notes",
    "nb",
    "n.b.",
    "ps",
    "p.s.",
    "re",
    "date",
    "time",
    "duration",
    "length",
    "location",
    "place",
    "venue",
    "setting",
    "title",
    "project",
    "study",
    "interview",
    "transcript",
    "transcribed by",
    "transcriber",
    "file",
    "file name",
    "filename",
    "recording",
    "audio",
    "subject",
    "present",
    "attendees",
    "participants",
    "keywords",
    "summary",
    "comment",
    "comments",
];

/// Lower-case words that begin surnames.
const PARTICLES: &[&str] = &[
    "al", "bin", "binti", "da", "das", "de", "del", "della", "den", "der", "di", "dos", "du", "el",
    "ibn", "la", "le", "ten", "ter", "van", "von",
];

const FORBIDDEN: &[char] = &[
    '\\', '@', '<', '>', '?', '!', ';', '=', '"', '#', '*', '[', ']', '{', '}', '|', ':',
];

/// A line split after its speaker's label.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Labelled<'a> {
    pub(super) speaker: String,
    /// The start time written inside the label, if any.
    pub(super) at: Option<u64>,
    /// What follows the label, trimmed; may be empty when the words start on
    /// the next line.
    pub(super) text: &'a str,
}

/// `line` split after its speaker's label, if it starts with one (see the
/// module docs for the rule).
pub(super) fn split(line: &str) -> Option<Labelled<'_>> {
    let colon = line
        .char_indices()
        .find(|&(i, c)| c == ':' && line[i + 1..].chars().next().is_none_or(char::is_whitespace))?
        .0;
    let mut name = line[..colon].trim();
    let mut at = None;
    if let Some((before, stamp)) = clock::trailing(name) {
        name = before.trim_end();
        at = Some(stamp);
    }
    if !looks_like_label(name) {
        return None;
    }
    Some(Labelled {
        speaker: name.split_whitespace().collect::<Vec<_>>().join(" "),
        at,
        text: line[colon + 1..].trim(),
    })
}

fn looks_like_label(name: &str) -> bool {
    let words: Vec<&str> = name.split_whitespace().collect();
    let shape = (1..=40).contains(&name.chars().count())
        && (1..=5).contains(&words.len())
        && name.chars().any(char::is_alphabetic)
        && !name.contains(FORBIDDEN)
        && !name.contains("://")
        && !name.to_ascii_lowercase().contains("www.");
    shape
        && !NOT_SPEAKERS
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&words.join(" ")))
        && words.iter().all(|w| {
            w.chars()
                .next()
                .is_some_and(|c| !c.is_lowercase() || c == '(')
                || PARTICLES.contains(w)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speaker(line: &str) -> Option<String> {
        split(line).map(|l| l.speaker)
    }

    #[test]
    fn labels_researchers_write() {
        for (line, who) in [
            ("Interviewer: hello", "Interviewer"),
            ("P07: yes", "P07"),
            ("I: Wie geht's?", "I"),
            ("Jane Doe: hi", "Jane Doe"),
            ("Jane  Doe (she/her):\tthanks", "Jane Doe (she/her)"),
            ("Dr. Amara Okafor-Lee: right", "Dr. Amara Okafor-Lee"),
            ("Pieter van der Berg: ja", "Pieter van der Berg"),
            ("Speaker 2:", "Speaker 2"),
            ("Doe, Jane: hi", "Doe, Jane"),
            ("Ngozi O'Neill: so", "Ngozi O'Neill"),
            ("張偉: 你好", "張偉"),
        ] {
            assert_eq!(speaker(line).as_deref(), Some(who), "{line}");
        }
    }

    #[test]
    fn not_labels() {
        for line in [
            "So what I said: nothing",
            "The thing is: I was scared",
            "Note: the host muted the room",
            "NB: check this",
            "Date: 14 March",
            "at 10:30 we met",
            "10: ten",
            "See https://example.org: it's there",
            "Visit www.Example.org: it's there",
            "Really? Yes: it was",
            "Her email jane@example.org: write",
            "One Two Three Four Five Six: too many words",
            "Abcdefghij Abcdefghij Abcdefghij Abcdefghij: too long",
            ": nothing before",
            "Interviewer:no space",
            "[inaudible]: hmm",
            "jane: lower case",
        ] {
            assert_eq!(speaker(line), None, "{line}");
        }
    }

    #[test]
    fn text_after_label_is_trimmed() {
        assert_eq!(
            split("Interviewer:   And then?  "),
            Some(Labelled {
                speaker: "Interviewer".into(),
                at: None,
                text: "And then?"
            })
        );
    }

    #[test]
    fn start_time_inside_label() {
        assert_eq!(
            split("Speaker 1 (00:01:10): Hello."),
            Some(Labelled {
                speaker: "Speaker 1".into(),
                at: Some(70_000),
                text: "Hello."
            })
        );
        assert_eq!(
            split("Interviewer [02:05]:"),
            Some(Labelled {
                speaker: "Interviewer".into(),
                at: Some(125_000),
                text: ""
            })
        );
    }
}
