//! Redaction of interview transcripts: suggesting what to hide, and hiding it.
//!
//! A transcript is a list of turns. Every offset here counts Unicode scalar
//! values (Rust `char`s) within one turn's text, never bytes, because the
//! qualitative analysis tools researchers exchange transcripts with
//! (REFI-QDA) count code points; a byte offset would land in the middle of
//! "ë" or an emoji and move every later mark.
//!
//! Two halves, kept apart on purpose:
//!
//! - [`Suggester`] proposes spans at import: participants' names from the
//!   identity vault, a study's own deny list, and the shapes of e-mail
//!   addresses, UK phone numbers, NHS numbers and UK postcodes. A suggestion
//!   carries positions and a reason but never the words it covers, so the
//!   caller may log suggestions without leaking what they hide.
//! - [`apply`] turns the marks a researcher accepted into a redacted
//!   transcript with consistent tags ("[PERSON_1]" wherever the same person
//!   is named) and a separate log of what each tag replaced, which the
//!   caller seals; the redacted text alone never says who was named.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;

/// What a redacted span is; it picks the stem of the tag that replaces it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Person,
    Place,
    Organisation,
    Other,
}

impl Category {
    pub const ALL: &'static [Category] = &[
        Category::Person,
        Category::Place,
        Category::Organisation,
        Category::Other,
    ];

    /// The stored form, the same as the serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Person => "person",
            Category::Place => "place",
            Category::Organisation => "organisation",
            Category::Other => "other",
        }
    }

    /// The inverse of [`Category::as_str`]; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// What a researcher reads on the page.
    pub fn label(self) -> &'static str {
        match self {
            Category::Person => "A person",
            Category::Place => "A place",
            Category::Organisation => "An organisation",
            Category::Other => "Something else that identifies",
        }
    }

    /// The upper-case stem of the tag a span of this category becomes:
    /// "PERSON" in "[PERSON_1]".
    pub fn tag_stem(self) -> &'static str {
        match self {
            Category::Person => "PERSON",
            Category::Place => "PLACE",
            Category::Organisation => "ORGANISATION",
            Category::Other => "OTHER",
        }
    }
}

/// Why a span was suggested, so a researcher can judge the suggestion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    KnownName,
    DenyList,
    Email,
    PhoneNumber,
    NhsNumber,
    Postcode,
}

impl Reason {
    /// What a researcher reads beside the suggestion.
    pub fn label(self) -> &'static str {
        match self {
            Reason::KnownName => "A participant's name",
            Reason::DenyList => "On the study's list of words to hide",
            Reason::Email => "Looks like an email address",
            Reason::PhoneNumber => "Looks like a UK phone number",
            Reason::NhsNumber => "Looks like an NHS number",
            Reason::Postcode => "Looks like a UK postcode",
        }
    }
}

/// A span fieldkit proposes to redact. It holds positions only, never the
/// text it covers: suggestions may be logged, the words must not be.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Suggestion {
    /// Index of the turn in the transcript, from 0.
    pub turn: usize,
    /// First character of the span, counted in chars from the turn's start.
    pub start: usize,
    /// One past the last character (exclusive), in chars.
    pub end: usize,
    pub category: Category,
    pub reason: Reason,
}

/// Finds spans worth redacting in a transcript.
///
/// Names and deny-list terms are matched with one Aho-Corasick automaton
/// over all of them, so a study with hundreds of names still reads each
/// turn once; the automaton takes the terms as literal text, so nothing a
/// researcher types is ever read as a pattern. Both sides are folded first
/// (lower case, curly apostrophes as straight ones, runs of whitespace as
/// one space) so "JANE  DOE" and "St Anne’s" match "Jane Doe" and
/// "St Anne's". Whole words only: a match must not have a Unicode word
/// character (as regex `\w` defines it) just outside it, so "Sam" is not
/// found in "Samuel" or "sample", "Zoë" not in "Zoëy", but "Sam" is found in
/// "Sam's".
pub struct Suggester {
    terms: AhoCorasick,
    /// What each pattern of `terms` is, by pattern index.
    info: Vec<Term>,
}

/// How a folded name or deny-list term is reported, and where it needs a
/// word boundary: only an edge that is itself a word character can run into
/// a longer word, so "Dr." needs none after its full stop.
struct Term {
    category: Category,
    reason: Reason,
    bounded_start: bool,
    bounded_end: bool,
}

/// Titles that are part of how a name is written but not of who it is: as
/// name parts they would turn every "Mrs" of a transcript into a suggestion.
const TITLES: &[&str] = &["mrs", "miss", "prof", "rev", "revd", "sir", "dame"];

impl Suggester {
    /// `known_names` are the study's participants' names from the identity
    /// vault ("Jane Doe", "Sam"). Each is matched whole, and so is each of
    /// its parts of three characters or more (split at spaces and hyphens, so
    /// "Mary-Jane O'Neil" also gives "Mary", "Jane", "Mary-Jane" and
    /// "O'Neil"), because people are mostly named by first name or surname
    /// alone in interviews. Shorter parts ("Al", "Li") would match too much
    /// ordinary text; titles such as "Mrs" are not parts.
    ///
    /// `deny_list` holds the study's own terms ("Oakfield Ward", "St Anne's"),
    /// each a place unless it starts with a category and a colon:
    /// `org:Oakfield Trust`, `person:Nurse Kim`, `place:Hope Street`,
    /// `other:blue van` (`organisation:` is taken as `org:`; the prefix is
    /// case-insensitive and blanks around the term are ignored). Most
    /// per-study terms are places (wards, clinics, streets), hence the
    /// default; an entry that is blank after its prefix is skipped.
    ///
    /// A term listed twice keeps its first category, names before the deny
    /// list: a participant's name is a person whatever else it is.
    pub fn new(known_names: &[String], deny_list: &[String]) -> Suggester {
        let mut seen = HashSet::new();
        let mut patterns = Vec::new();
        let mut info = Vec::new();
        let mut add = |term: &str, category, reason| {
            let folded = normalise(term);
            let (Some(first), Some(last)) = (folded.chars().next(), folded.chars().last()) else {
                return;
            };
            if !seen.insert(folded.clone()) {
                return;
            }
            info.push(Term {
                category,
                reason,
                bounded_start: is_word(first),
                bounded_end: is_word(last),
            });
            patterns.push(folded);
        };
        for name in known_names {
            add(name, Category::Person, Reason::KnownName);
            for part in name_parts(name) {
                add(part, Category::Person, Reason::KnownName);
            }
        }
        for entry in deny_list {
            if let Some((category, term)) = parse_deny_entry(entry) {
                add(term, category, Reason::DenyList);
            }
        }
        // Standard match semantics, because only they report overlapping
        // matches: a longer term that fails its word boundary ("Jane Doe" in
        // "Jane Doel") must not hide a shorter one that passes ("Jane").
        let terms = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            // The builder refuses only more than 2^31 states, patterns or bytes
            // in one pattern: gigabytes of names, whose automaton would exhaust
            // memory (an abort, not this panic) before reaching the limit. No
            // smaller input fails, and this signature has no way to report it.
            .expect("an Aho-Corasick automaton over the study's names fits its limits");
        Suggester { terms, info }
    }

    /// Every suggested span of every turn, sorted by turn then start.
    ///
    /// Where candidates overlap, the longest wins and, among equally long
    /// ones, the earlier; between two candidates for the same span, a name or
    /// deny-list term wins over a pattern, as it says more about what the
    /// span is. The result never overlaps, so it can be applied as it is.
    pub fn suggest(&self, turns: &[&str]) -> Vec<Suggestion> {
        let mut out = Vec::new();
        for (turn, text) in turns.iter().enumerate() {
            let mut candidates = self.term_candidates(turn, text);
            pattern_candidates(turn, text, &mut candidates);
            out.extend(resolve_overlaps(candidates));
        }
        out
    }

    fn term_candidates(&self, turn: usize, text: &str) -> Vec<Suggestion> {
        let folded = Folded::new(text);
        let mut out = Vec::new();
        for m in self.terms.find_overlapping_iter(&folded.text) {
            let Some(term) = self.info.get(m.pattern().as_usize()) else {
                continue;
            };
            if let Some((start, end)) = folded.whole_word(m.start(), m.end(), term) {
                out.push(Suggestion {
                    turn,
                    start,
                    end,
                    category: term.category,
                    reason: term.reason,
                });
            }
        }
        out
    }
}

/// The parts of a name worth matching on their own: words, and the halves of
/// hyphenated words, of at least three characters and not a title.
fn name_parts(name: &str) -> impl Iterator<Item = &str> {
    name.split_whitespace()
        .flat_map(|word| std::iter::once(word).chain(word.split('-')))
        .filter(|part| part.chars().count() >= 3)
        .filter(|part| !TITLES.contains(&normalise(part).as_str()))
}

/// Reads one deny-list entry: an optional `category:` prefix and the term.
fn parse_deny_entry(entry: &str) -> Option<(Category, &str)> {
    let entry = entry.trim();
    let (category, term) = match entry.split_once(':') {
        Some((prefix, rest)) => match prefix.trim().to_lowercase().as_str() {
            "org" => (Category::Organisation, rest),
            prefix => match Category::parse(prefix) {
                Some(category) => (category, rest),
                None => (Category::Place, entry),
            },
        },
        None => (Category::Place, entry),
    };
    let term = term.trim();
    (!term.is_empty()).then_some((category, term))
}

/// Folds one character for comparison: lower case where that is one
/// character, and the few look-alikes transcription software and keyboards
/// swap freely (curly and modifier apostrophes, final sigma, long s, dotted
/// capital I) to one form. One character in, one out, so positions map back.
fn fold(c: char) -> char {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{FF07}' => '\'',
        'ς' => 'σ',
        'ſ' => 's',
        'İ' => 'i',
        _ => {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        }
    }
}

/// Folds text for comparison: each character folded, runs of whitespace as
/// one space, none at either end. Terms and tags' originals are compared in
/// this form.
fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().map(fold));
    }
    out
}

/// A Unicode word character, as regex's `\w` (and so its `\b`) sees it:
/// letters, marks, digits, connector punctuation. Asking regex rather than
/// `char::is_alphanumeric` keeps combining marks inside words, so "Zoe" is
/// not found in a decomposed "Zoë".
fn is_word(c: char) -> bool {
    static WORD: LazyLock<Regex> = LazyLock::new(|| compile(r"\w"));
    WORD.is_match(c.encode_utf8(&mut [0; 4]))
}

/// A turn folded as [`normalise`] folds terms, with the way back from its
/// bytes to the turn's own character offsets.
struct Folded {
    text: String,
    /// For each character of `text`, in order: its byte offset in `text` and
    /// the char index in the turn it stands for (the first of a run of
    /// whitespace).
    chars: Vec<(usize, usize)>,
}

impl Folded {
    fn new(turn: &str) -> Folded {
        let mut text = String::with_capacity(turn.len());
        let mut chars = Vec::new();
        let mut after_space = false;
        for (index, c) in turn.chars().enumerate() {
            let space = c.is_whitespace();
            if space && after_space {
                continue;
            }
            after_space = space;
            chars.push((text.len(), index));
            text.push(if space { ' ' } else { fold(c) });
        }
        Folded { text, chars }
    }

    /// The turn's char span of the match at bytes `start..end` of the folded
    /// text, if the match stands as whole words there.
    fn whole_word(&self, start: usize, end: usize, term: &Term) -> Option<(usize, usize)> {
        let first = self.chars.partition_point(|&(byte, _)| byte < start);
        let after = self.chars.partition_point(|&(byte, _)| byte < end);
        let last = after.checked_sub(1).filter(|&last| last >= first)?;
        let word_at = |position: Option<usize>| {
            position
                .and_then(|p| self.chars.get(p))
                .and_then(|&(byte, _)| self.text.get(byte..))
                .and_then(|rest| rest.chars().next())
                .is_some_and(is_word)
        };
        if term.bounded_start && word_at(first.checked_sub(1)) {
            return None;
        }
        if term.bounded_end && word_at(Some(after)) {
            return None;
        }
        // Terms are trimmed, so a match starts and ends on a character that
        // was not folded away: its last character stands for exactly one.
        let (_, start_char) = *self.chars.get(first)?;
        let (_, last_char) = *self.chars.get(last)?;
        Some((start_char, last_char + 1))
    }
}

/// One of the built-in shapes of identifying data.
struct Pattern {
    regex: LazyLock<Regex>,
    category: Category,
    reason: Reason,
    /// A check the shape alone cannot make (the NHS number's check digit).
    accept: fn(&str) -> bool,
}

/// Compiles a built-in pattern. They are constants, each exercised by the
/// tests below, so failing here is a programming error, not bad input.
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the built-in redaction patterns are valid regexes")
}

/// An email address: a local part, "@", a domain with at least one dot.
/// Unicode-aware, since addresses may hold "ë". No `\b` is needed: the
/// greedy classes take every adjacent character that could belong, and
/// leaving `\b` out keeps regex on its fast DFA for non-ASCII text.
const EMAIL: &str = r"\w[\w.%+'-]*@[\w-]+(?:\.[\w-]+)+";

/// A UK phone number: a national number of 10 digits (9 for some 01 areas)
/// after 0 or +44 (with an optional "(0)"), spaced or hyphenated anywhere
/// between digits, or with the area code in brackets. Mobiles (07), 02 and
/// 03 have 10-digit national numbers; the bracketed forms spell out each
/// area-code length so the digits still add up. ASCII-only (`-u`): digits
/// are ASCII here, and ASCII `\b` keeps the search on the fast DFA.
const PHONE: &str = r"(?x-u)
    (?:
        (?: \b 0 | \+44 [\x20-]? (?: \(0\) [\x20-]? )? )
        (?: [237] (?: [\x20-]? \d ){9} | 1 (?: [\x20-]? \d ){8,9} )
      | \(0 [237] (?: \d \) \x20? \d (?: [\x20-]? \d ){7}
                    | \d{2} \) \x20? \d (?: [\x20-]? \d ){6}
                    | \d{3} \) \x20? \d (?: [\x20-]? \d ){5} )
      | \(01 (?: \d{2} \) \x20? \d (?: [\x20-]? \d ){5,6}
               | \d{3} \) \x20? \d (?: [\x20-]? \d ){4,5}
               | \d{4} \) \x20? \d (?: [\x20-]? \d ){3,4} )
    )
    \b";

/// An NHS number's shape: ten digits, bare or grouped 3-3-4 by spaces (or by
/// hyphens), the same separator twice. Its check digit is checked apart.
const NHS_NUMBER: &str = r"(?-u)\b(?:\d{10}|\d{3}\x20\d{3}\x20\d{4}|\d{3}-\d{3}-\d{4})\b";

/// A UK postcode, outward code then inward code, in any case, with or
/// without the space: the letters each position may hold (no Q, V or X
/// first; no C, I, K, M, O or V in the inward letters) cut down the false
/// positives of a bare letters-and-digits shape, plus the odd GIR 0AA.
const POSTCODE: &str = r"(?xi-u)
    \b
    (?: GIR \x20? 0AA
      | [A-PR-UWYZ]
        (?: \d{1,2} | [A-HK-Y] \d{1,2} | \d [A-HJKPSTUW] | [A-HK-Y] \d [ABEHMNPRV-Y] )
        \x20? \d [ABD-HJLNP-UW-Z]{2}
    )
    \b";

/// The built-in patterns, in the order they win ties over the same span.
static PATTERNS: [Pattern; 4] = [
    Pattern {
        regex: LazyLock::new(|| compile(EMAIL)),
        category: Category::Other,
        reason: Reason::Email,
        accept: |_| true,
    },
    Pattern {
        regex: LazyLock::new(|| compile(PHONE)),
        category: Category::Other,
        reason: Reason::PhoneNumber,
        accept: |_| true,
    },
    Pattern {
        regex: LazyLock::new(|| compile(NHS_NUMBER)),
        category: Category::Other,
        reason: Reason::NhsNumber,
        accept: nhs_check_digit_ok,
    },
    Pattern {
        regex: LazyLock::new(|| compile(POSTCODE)),
        category: Category::Place,
        reason: Reason::Postcode,
        accept: |_| true,
    },
];

/// The NHS number's modulus 11 check: the first nine digits weighted 10 down
/// to 2, summed; the check digit is 11 minus the sum's remainder by 11, with
/// 11 written as 0 and 10 never issued. Ten random digits pass only about one
/// time in eleven, so the check keeps most other ten-digit numbers (order
/// numbers, timestamps) out of the suggestions.
fn nhs_check_digit_ok(number: &str) -> bool {
    let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
    let [body @ .., check] = digits.as_slice() else {
        return false;
    };
    if body.len() != 9 {
        return false;
    }
    let sum: u32 = body.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
    match 11 - sum % 11 {
        11 => *check == 0,
        10 => false,
        expected => *check == expected,
    }
}

/// Adds the built-in patterns' matches in one turn to `out`.
fn pattern_candidates(turn: usize, text: &str, out: &mut Vec<Suggestion>) {
    // Byte offset of each char, built only once a match needs converting.
    let mut char_starts: Option<Vec<usize>> = None;
    for pattern in &PATTERNS {
        // A refused match (a wrong check digit) hides no other: the NHS
        // shapes are bounded by `\b` and cannot start inside one another.
        for m in pattern.regex.find_iter(text) {
            if !(pattern.accept)(m.as_str()) {
                continue;
            }
            let starts = char_starts
                .get_or_insert_with(|| text.char_indices().map(|(byte, _)| byte).collect());
            out.push(Suggestion {
                turn,
                start: starts.partition_point(|&byte| byte < m.start()),
                end: starts.partition_point(|&byte| byte < m.end()),
                category: pattern.category,
                reason: pattern.reason,
            });
        }
    }
}

/// Keeps the longest of overlapping candidates, then the earlier; equal
/// spans keep the first found (names and the deny list come before the
/// patterns). Returns them sorted by start.
fn resolve_overlaps(mut candidates: Vec<Suggestion>) -> Vec<Suggestion> {
    // A stable sort, so the order found breaks the remaining ties.
    candidates.sort_by(|a, b| {
        (b.end.saturating_sub(b.start))
            .cmp(&a.end.saturating_sub(a.start))
            .then(a.start.cmp(&b.start))
    });
    // Kept spans by start; they never overlap, so the one starting last
    // before a candidate's end is the only one that can overlap it.
    let mut kept: std::collections::BTreeMap<usize, Suggestion> = Default::default();
    for candidate in candidates {
        let clashes = kept
            .range(..candidate.end)
            .next_back()
            .is_some_and(|(_, k)| k.end > candidate.start);
        if !clashes {
            kept.insert(candidate.start, candidate);
        }
    }
    kept.into_values().collect()
}

/// A span a researcher decided to redact, in the same units as a
/// [`Suggestion`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub turn: usize,
    pub start: usize,
    /// Exclusive, in chars.
    pub end: usize,
    pub category: Category,
}

/// A transcript with its marks replaced by tags, and the log of what each
/// tag replaced. The two are meant to part ways at once: the turns may be
/// shared with the team, the log is for the caller to seal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redacted {
    pub turns: Vec<String>,
    /// In reading order (turn, then start).
    pub log: Vec<LogEntry>,
}

/// What one mark replaced. Serialisable so the caller can seal it; its
/// `Debug` leaves the original out, so logging a log entry by mistake does
/// not undo the redaction.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogEntry {
    pub turn: usize,
    /// Char offsets into the original turn.
    pub start: usize,
    pub end: usize,
    pub category: Category,
    /// The tag that stands in the redacted turn, e.g. "[PERSON_1]".
    pub tag: String,
    /// The words the tag replaced.
    pub original: String,
}

impl fmt::Debug for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogEntry")
            .field("turn", &self.turn)
            .field("start", &self.start)
            .field("end", &self.end)
            .field("category", &self.category)
            .field("tag", &self.tag)
            .field(
                "original",
                &format_args!("<{} characters>", self.original.chars().count()),
            )
            .finish()
    }
}

/// Why marks could not be applied. Messages give positions only, never the
/// transcript's words, so they can be shown and logged as they are. Turns
/// and characters are counted from 0.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    #[error(
        "the mark on turn {turn} from character {start} to {end} is on a turn \
         the transcript does not have: it has {turns} turns"
    )]
    UnknownTurn {
        turn: usize,
        start: usize,
        end: usize,
        turns: usize,
    },
    #[error(
        "the mark on turn {turn} from character {start} to {end} is empty: \
         its end must come after its start"
    )]
    EmptyMark {
        turn: usize,
        start: usize,
        end: usize,
    },
    #[error(
        "the mark on turn {turn} from character {start} to {end} runs past \
         the end of the turn, which has {len} characters"
    )]
    OutOfRange {
        turn: usize,
        start: usize,
        end: usize,
        len: usize,
    },
    #[error(
        "the mark on turn {turn} from character {first_start} to {first_end} \
         overlaps the mark on turn {turn} from character {second_start} to \
         {second_end}; merge them or remove one"
    )]
    Overlapping {
        turn: usize,
        first_start: usize,
        first_end: usize,
        second_start: usize,
        second_end: usize,
    },
}

/// A checked mark with where it lies in its turn's bytes.
struct Located<'a> {
    mark: &'a Mark,
    bytes: std::ops::Range<usize>,
    original: &'a str,
}

/// Replaces each marked span with a tag such as "[PERSON_1]".
///
/// The same words (compared case-insensitively, with whitespace runs as one
/// space) in the same category get the same tag throughout the transcript,
/// so readers can still follow who said what about whom. Tags are numbered
/// per category in reading order of first appearance: the first person
/// named is PERSON_1 wherever they appear. All marks are checked before
/// anything is replaced; marks may come in any order but may not overlap
/// (touching is fine).
pub fn apply(turns: &[&str], marks: &[Mark]) -> Result<Redacted, RedactError> {
    // Byte offset of every char boundary of each marked turn, end included.
    let mut bounds: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut located = Vec::with_capacity(marks.len());
    for mark in marks {
        let &Mark {
            turn, start, end, ..
        } = mark;
        let text = *turns.get(turn).ok_or(RedactError::UnknownTurn {
            turn,
            start,
            end,
            turns: turns.len(),
        })?;
        if end <= start {
            return Err(RedactError::EmptyMark { turn, start, end });
        }
        let turn_bounds = bounds.entry(turn).or_insert_with(|| {
            text.char_indices()
                .map(|(byte, _)| byte)
                .chain([text.len()])
                .collect()
        });
        let out_of_range = || RedactError::OutOfRange {
            turn,
            start,
            end,
            len: turn_bounds.len().saturating_sub(1),
        };
        let (Some(&from), Some(&to)) = (turn_bounds.get(start), turn_bounds.get(end)) else {
            return Err(out_of_range());
        };
        let original = text.get(from..to).ok_or_else(out_of_range)?;
        located.push(Located {
            mark,
            bytes: from..to,
            original,
        });
    }
    located.sort_by_key(|l| (l.mark.turn, l.mark.start, l.mark.end));
    for pair in located.windows(2) {
        if let [a, b] = pair {
            if a.mark.turn == b.mark.turn && b.mark.start < a.mark.end {
                return Err(RedactError::Overlapping {
                    turn: a.mark.turn,
                    first_start: a.mark.start,
                    first_end: a.mark.end,
                    second_start: b.mark.start,
                    second_end: b.mark.end,
                });
            }
        }
    }

    let mut tags: HashMap<(Category, String), String> = HashMap::new();
    let mut counts: HashMap<Category, usize> = HashMap::new();
    let mut log = Vec::with_capacity(located.len());
    for l in &located {
        let category = l.mark.category;
        let tag = tags
            .entry((category, normalise(l.original)))
            .or_insert_with(|| {
                let n = counts.entry(category).or_default();
                *n += 1;
                format!("[{}_{}]", category.tag_stem(), n)
            });
        log.push(LogEntry {
            turn: l.mark.turn,
            start: l.mark.start,
            end: l.mark.end,
            category,
            tag: tag.clone(),
            original: l.original.to_owned(),
        });
    }

    let mut out = Vec::with_capacity(turns.len());
    let mut pending = located.iter().zip(&log).peekable();
    for (index, text) in turns.iter().enumerate() {
        let mut redacted = String::with_capacity(text.len());
        let mut copied = 0;
        while let Some((l, entry)) = pending.next_if(|(l, _)| l.mark.turn == index) {
            // Sorted, disjoint and on char boundaries (checked above), so
            // each gap between marks is a valid slice.
            redacted.push_str(text.get(copied..l.bytes.start).unwrap_or_default());
            redacted.push_str(&entry.tag);
            copied = l.bytes.end;
        }
        redacted.push_str(text.get(copied..).unwrap_or_default());
        out.push(redacted);
    }
    Ok(Redacted { turns: out, log })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn patterns_only() -> Suggester {
        Suggester::new(&[], &[])
    }

    /// The text of each suggestion in a one-turn transcript, with its reason.
    fn found(s: &Suggester, text: &str) -> Vec<(String, Category, Reason)> {
        s.suggest(&[text])
            .into_iter()
            .map(|x| {
                let words: String = text.chars().skip(x.start).take(x.end - x.start).collect();
                (words, x.category, x.reason)
            })
            .collect()
    }

    fn texts(s: &Suggester, text: &str) -> Vec<String> {
        found(s, text).into_iter().map(|(t, _, _)| t).collect()
    }

    fn mark(turn: usize, start: usize, end: usize, category: Category) -> Mark {
        Mark {
            turn,
            start,
            end,
            category,
        }
    }

    #[test]
    fn categories_round_trip_and_read_well() {
        for &c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
            assert_eq!(
                serde_json::from_str::<Category>(&format!("\"{}\"", c.as_str())).unwrap(),
                c
            );
        }
        assert_eq!(Category::parse("Person"), None);
        assert_eq!(Category::parse("org"), None);
        assert_eq!(Category::Organisation.tag_stem(), "ORGANISATION");
        assert_eq!(Category::Person.tag_stem(), "PERSON");
        assert_eq!(Category::Place.tag_stem(), "PLACE");
        assert_eq!(Category::Other.tag_stem(), "OTHER");
        assert_eq!(
            serde_json::to_string(&Reason::NhsNumber).unwrap(),
            "\"nhs_number\""
        );
        assert_eq!(Reason::PhoneNumber.label(), "Looks like a UK phone number");
    }

    #[test]
    fn built_in_patterns_compile() {
        for p in &PATTERNS {
            assert!(!p.regex.as_str().is_empty());
        }
    }

    #[test]
    fn emails() {
        let s = patterns_only();
        assert_eq!(
            found(&s, "write to jane.doe+study@nhs.net, please."),
            [(
                "jane.doe+study@nhs.net".to_string(),
                Category::Other,
                Reason::Email
            )]
        );
        assert_eq!(texts(&s, "(zoë@example.org.uk)"), ["zoë@example.org.uk"]);
        assert_eq!(
            texts(&s, "it's at sam_o'neil@mail.example.com."),
            ["sam_o'neil@mail.example.com"]
        );
        for none in [
            "jane at example dot org",
            "ask @oakfield on the forum",
            "jane@localhost",
            "an @ sign alone",
        ] {
            assert!(texts(&s, none).is_empty(), "{none}");
        }
    }

    #[test]
    fn phone_numbers() {
        let s = patterns_only();
        for number in [
            "0161 496 0000",
            "07700 900123",
            "07700900123",
            "07700 900 123",
            "+44 7700 900123",
            "+447700900123",
            "+44 (0)7700 900123",
            "(020) 7946 0000",
            "020 7946 0000",
            "(0161) 496 0000",
            "(01632) 960000",
            "0113-496-0000",
            "0300 123 4567",
            "+44 20 7946 0000",
            "(07700) 900123",
        ] {
            let text = format!("Call me on {number}, any time.");
            assert_eq!(
                found(&s, &text),
                [(number.to_string(), Category::Other, Reason::PhoneNumber)],
                "{number}"
            );
        }
        for none in [
            "I was at ward 12 on 10/01",
            "0161 496",
            "room 0800 123 456",
            "01614960000123",
            "x07700900123",
            "07700 900123456",
            "(020) 7946",
            "0161  496  0000",
        ] {
            assert!(texts(&s, none).is_empty(), "{none}: {:?}", texts(&s, none));
        }
    }

    #[test]
    fn nhs_numbers_need_a_valid_check_digit() {
        let s = patterns_only();
        for number in ["943 476 5919", "9434765919", "943-476-5919"] {
            assert_eq!(
                found(&s, &format!("NHS no. {number}.")),
                [(number.to_string(), Category::Other, Reason::NhsNumber)],
                "{number}"
            );
        }
        assert!(nhs_check_digit_ok("943 476 5919"));
        // A check digit of 11 is written 0: 100 000 006 weighs 10 + 12 = 22.
        assert!(nhs_check_digit_ok("1000000060"));
        assert!(!nhs_check_digit_ok("1000000061"));
        for none in [
            "943 476 5918", // wrong check digit
            "123 456 7890", // check would be 10, never issued
            "943 4765919",  // mixed grouping
            "943-476 5919", // mixed separators
            "94347659190",  // eleven digits
            "a9434765919",  // inside a word
        ] {
            assert!(texts(&s, none).is_empty(), "{none}");
        }
        assert!(!nhs_check_digit_ok("123 456 7890"));
        assert!(!nhs_check_digit_ok("943 476 591"));
    }

    #[test]
    fn a_refused_number_does_not_hide_a_valid_one() {
        let s = patterns_only();
        assert_eq!(
            texts(&s, "943 476 5918 or 943 476 5919, 9434765918"),
            ["943 476 5919"]
        );
    }

    #[test]
    fn postcodes() {
        let s = patterns_only();
        for code in [
            "M1 1AE", "SW1A 1AA", "b33 8th", "B33 8TH", "CR2 6XH", "DN55 1PT", "EC1A 1BB",
            "W1A 0AX", "M11AE", "GIR 0AA",
        ] {
            assert_eq!(
                found(&s, &format!("She lives near {code}, by the park")),
                [(code.to_string(), Category::Place, Reason::Postcode)],
                "{code}"
            );
        }
        for none in [
            "I was at ward 12 on 10/01",
            "QQ1 1AA",
            "M1 1AEX",
            "XM1 1AE",
            "M1 1CE",
            "the A14 was shut",
        ] {
            assert!(texts(&s, none).is_empty(), "{none}: {:?}", texts(&s, none));
        }
    }

    #[test]
    fn offsets_count_chars_not_bytes() {
        let s = Suggester::new(&strings(&["Sam"]), &[]);
        let text = "Zoë said 😀 that Sam rang 07700 900123";
        let got = s.suggest(&["", text]);
        assert_eq!(
            got,
            [
                Suggestion {
                    turn: 1,
                    start: 16,
                    end: 19,
                    category: Category::Person,
                    reason: Reason::KnownName
                },
                Suggestion {
                    turn: 1,
                    start: 25,
                    end: 37,
                    category: Category::Other,
                    reason: Reason::PhoneNumber
                },
            ]
        );
        assert_eq!(text.chars().count(), 37);
        // In bytes "Sam" would start at 20: "ë" takes two, the emoji four.
        assert_eq!(text.find("Sam"), Some(20));
        // Whitespace folded to one space still maps back to the turn.
        let got = s.suggest(&["Zoë \t\n  😀  Sam"]);
        assert_eq!((got[0].start, got[0].end), (11, 14));
    }

    #[test]
    fn known_names_match_whole_words_case_insensitively() {
        let s = Suggester::new(&strings(&["Jane Doe", "Sam", "Al Smith"]), &[]);
        assert_eq!(
            found(&s, "Jane Doe came"),
            [("Jane Doe".to_string(), Category::Person, Reason::KnownName)]
        );
        assert_eq!(texts(&s, "JANE  DOE came"), ["JANE  DOE"]);
        assert_eq!(texts(&s, "jane\ndoe came"), ["jane\ndoe"]);
        assert_eq!(texts(&s, "then jane, then doe"), ["jane", "doe"]);
        assert_eq!(texts(&s, "Sam's mum and SAM"), ["Sam", "SAM"]);
        assert!(texts(&s, "Samuel took a sample to Dorset and Janet").is_empty());
        assert!(texts(&s, "Sam_ and Sam2 and Doel").is_empty());
        // Parts under three characters are not matched alone; the whole is.
        assert_eq!(
            texts(&s, "Al said Al Smith; smith agreed"),
            ["Al Smith", "smith"]
        );
        // "Jane Doe" fails its boundary in "Jane Doel", "Jane" still counts.
        assert_eq!(texts(&s, "Jane Doel"), ["Jane"]);
    }

    #[test]
    fn unicode_names_and_boundaries() {
        let s = Suggester::new(&strings(&["Zoë Ørsted", "Mary-Jane O'Neil"]), &[]);
        assert_eq!(texts(&s, "ZOË said ørsted"), ["ZOË", "ørsted"]);
        assert!(texts(&s, "Zoëy and Zoëanne").is_empty());
        // A decomposed "Zoë" is not a whole-word "Zoe" either way.
        assert!(texts(&s, "Zoe\u{308}").is_empty());
        assert_eq!(texts(&s, "Mary-Jane O’Neil"), ["Mary-Jane O’Neil"]);
        assert_eq!(
            texts(&s, "mary and jane and o'neil"),
            ["mary", "jane", "o'neil"]
        );
        assert_eq!(texts(&s, "Zoë.Ørsted"), ["Zoë", "Ørsted"]);
    }

    #[test]
    fn look_alike_letters_fold_together() {
        let s = Suggester::new(
            &strings(&["Ὀδυσσεύς"]),
            &strings(&["İstanbul", "West Street", "St Anne’s"]),
        );
        assert_eq!(texts(&s, "ὈΔΥΣΣΕΎΣ"), ["ὈΔΥΣΣΕΎΣ"]);
        assert_eq!(texts(&s, "istanbul"), ["istanbul"]);
        assert_eq!(texts(&s, "the Weſt Street"), ["Weſt Street"]);
        assert_eq!(
            texts(&s, "St Anne\u{2bc}s and st anne's"),
            ["St Anne\u{2bc}s", "st anne's"]
        );
    }

    #[test]
    fn titles_are_not_name_parts() {
        let s = Suggester::new(&strings(&["Mrs Jane Doe", "Prof Sam Lee"]), &[]);
        assert_eq!(texts(&s, "Mrs Patel and Prof Lee"), ["Lee"]);
        assert_eq!(texts(&s, "mrs jane doe"), ["mrs jane doe"]);
    }

    #[test]
    fn names_are_literal_text_not_patterns() {
        let s = Suggester::new(&strings(&["J. (Jo) Smith+", ".*", "a|b"]), &["[x]".into()]);
        assert_eq!(texts(&s, "so J. (Jo) Smith+ said"), ["J. (Jo) Smith+"]);
        assert!(texts(&s, "nothing here, a or b").is_empty());
        assert_eq!(texts(&s, "the [x] sign"), ["[x]"]);
    }

    #[test]
    fn deny_list_categories() {
        let s = Suggester::new(
            &[],
            &strings(&[
                "Oakfield Ward",
                "org:Oakfield Trust",
                "Org : Hope Café",
                "organisation:Mind Hub",
                "person: Nurse Kim",
                "place:St Anne's",
                "other:blue van",
                "place:",
                "   ",
                "Ward 12: east",
            ]),
        );
        let got = found(
            &s,
            "Oakfield ward, oakfield trust, hope café, mind hub, nurse kim, \
             St Anne’s, a Blue Van, ward 12: east",
        );
        let expect = [
            ("Oakfield ward", Category::Place),
            ("oakfield trust", Category::Organisation),
            ("hope café", Category::Organisation),
            ("mind hub", Category::Organisation),
            ("nurse kim", Category::Person),
            ("St Anne’s", Category::Place),
            ("Blue Van", Category::Other),
            ("ward 12: east", Category::Place),
        ];
        assert_eq!(got.len(), expect.len(), "{got:?}");
        for ((text, category, reason), (want, want_category)) in got.into_iter().zip(expect) {
            assert_eq!(
                (text.as_str(), category, reason),
                (want, want_category, Reason::DenyList)
            );
        }
        assert_eq!(parse_deny_entry("place:"), None);
        assert_eq!(
            parse_deny_entry("http://x"),
            Some((Category::Place, "http://x"))
        );
    }

    #[test]
    fn a_known_name_keeps_its_category_over_the_deny_list() {
        let s = Suggester::new(&strings(&["Hope Jones"]), &strings(&["place:Hope"]));
        assert_eq!(
            found(&s, "Hope"),
            [("Hope".to_string(), Category::Person, Reason::KnownName)]
        );
    }

    #[test]
    fn overlaps_keep_the_longest_then_the_earlier() {
        let s = Suggester::new(
            &strings(&["Jane Doe", "Ann Lee", "Lee Ann"]),
            &strings(&["Doe Street"]),
        );
        // "Doe Street" (10) beats "Jane Doe" (8); "Jane" stands alone.
        let got = found(&s, "Jane Doe Street");
        assert_eq!(
            got,
            [
                ("Jane".to_string(), Category::Person, Reason::KnownName),
                ("Doe Street".to_string(), Category::Place, Reason::DenyList),
            ]
        );
        // Equal lengths: the earlier wins, the rest is matched as it can be.
        assert_eq!(texts(&s, "Ann Lee Ann"), ["Ann Lee", "Ann"]);
        // An email holding a name is one email.
        assert_eq!(
            found(&s, "jane.doe@example.org"),
            [(
                "jane.doe@example.org".to_string(),
                Category::Other,
                Reason::Email
            )]
        );
        // A postcode inside a deny-list term: the term wins.
        let s = Suggester::new(&[], &strings(&["Unit 4, M1 1AE Works"]));
        assert_eq!(
            found(&s, "at Unit 4, M1 1AE Works"),
            [(
                "Unit 4, M1 1AE Works".to_string(),
                Category::Place,
                Reason::DenyList
            )]
        );
    }

    #[test]
    fn suggestions_are_sorted_by_turn_then_start() {
        let s = Suggester::new(&strings(&["Sam"]), &strings(&["Oakfield"]));
        let got = s.suggest(&["Sam at Oakfield, M1 1AE", "", "oakfield then sam"]);
        let keys: Vec<_> = got.iter().map(|x| (x.turn, x.start)).collect();
        assert_eq!(keys, [(0, 0), (0, 7), (0, 17), (2, 0), (2, 14)]);
        assert!(s.suggest(&[]).is_empty());
    }

    #[test]
    fn hundreds_of_names_over_a_long_turn() {
        let names: Vec<String> = (0..500).map(|i| format!("Name{i} Surname{i}")).collect();
        let s = Suggester::new(&names, &[]);
        let mut text = String::new();
        while text.chars().count() < 100_000 {
            text.push_str("Zoë said that name499 met SURNAME7 near Name12x. ");
        }
        let got = s.suggest(&[&text]);
        let per_line = 2;
        let lines = text.matches("Zoë").count();
        assert_eq!(got.len(), per_line * lines);
    }

    #[test]
    fn apply_tags_consistently_in_reading_order() {
        let turns = [
            "Jane met Bob at Oakfield.",
            "Then JANE left.",
            "Bob stayed; jane rang.",
            "Jane (the place) is a village.",
        ];
        // Given out of order on purpose.
        let marks = [
            mark(2, 0, 3, Category::Person),
            mark(0, 9, 12, Category::Person),
            mark(1, 5, 9, Category::Person),
            mark(0, 0, 4, Category::Person),
            mark(0, 16, 24, Category::Place),
            mark(2, 12, 16, Category::Person),
            mark(3, 0, 4, Category::Place),
        ];
        let r = apply(&turns, &marks).unwrap();
        assert_eq!(
            r.turns,
            [
                "[PERSON_1] met [PERSON_2] at [PLACE_1].",
                "Then [PERSON_1] left.",
                "[PERSON_2] stayed; [PERSON_1] rang.",
                "[PLACE_2] (the place) is a village.",
            ]
        );
        let log: Vec<_> = r
            .log
            .iter()
            .map(|e| (e.turn, e.start, e.end, e.tag.as_str(), e.original.as_str()))
            .collect();
        assert_eq!(
            log,
            [
                (0, 0, 4, "[PERSON_1]", "Jane"),
                (0, 9, 12, "[PERSON_2]", "Bob"),
                (0, 16, 24, "[PLACE_1]", "Oakfield"),
                (1, 5, 9, "[PERSON_1]", "JANE"),
                (2, 0, 3, "[PERSON_2]", "Bob"),
                (2, 12, 16, "[PERSON_1]", "jane"),
                (3, 0, 4, "[PLACE_2]", "Jane"),
            ]
        );
        assert_eq!(r.log[6].category, Category::Place);
    }

    #[test]
    fn apply_normalises_whitespace_and_counts_chars() {
        let turns = ["Zoë 😀 met Jane\u{a0}Doe", "jane doe, again"];
        let marks = [
            mark(0, 10, 18, Category::Person),
            mark(1, 0, 8, Category::Person),
        ];
        let r = apply(&turns, &marks).unwrap();
        assert_eq!(r.turns, ["Zoë 😀 met [PERSON_1]", "[PERSON_1], again"]);
        assert_eq!(r.log[0].original, "Jane\u{a0}Doe");
        // Touching marks are fine; the whole turn can be one mark.
        let r = apply(
            &["ab", "Zoë"],
            &[
                mark(0, 0, 1, Category::Other),
                mark(0, 1, 2, Category::Other),
                mark(1, 0, 3, Category::Person),
            ],
        )
        .unwrap();
        assert_eq!(r.turns, ["[OTHER_1][OTHER_2]", "[PERSON_1]"]);
        // No marks: the turns as they were.
        let r = apply(&["as it was"], &[]).unwrap();
        assert_eq!(r.turns, ["as it was"]);
        assert!(r.log.is_empty());
    }

    #[test]
    fn apply_errors_name_positions_only() {
        let turns = ["Zoë rang", "Bob"];
        let cases = [
            (
                vec![mark(2, 0, 1, Category::Person)],
                RedactError::UnknownTurn {
                    turn: 2,
                    start: 0,
                    end: 1,
                    turns: 2,
                },
            ),
            (
                vec![mark(0, 3, 3, Category::Person)],
                RedactError::EmptyMark {
                    turn: 0,
                    start: 3,
                    end: 3,
                },
            ),
            (
                vec![mark(0, 4, 2, Category::Person)],
                RedactError::EmptyMark {
                    turn: 0,
                    start: 4,
                    end: 2,
                },
            ),
            (
                // 9 bytes but 8 chars: char 9 is past the end.
                vec![mark(0, 4, 9, Category::Person)],
                RedactError::OutOfRange {
                    turn: 0,
                    start: 4,
                    end: 9,
                    len: 8,
                },
            ),
            (
                vec![mark(1, usize::MAX - 1, usize::MAX, Category::Person)],
                RedactError::OutOfRange {
                    turn: 1,
                    start: usize::MAX - 1,
                    end: usize::MAX,
                    len: 3,
                },
            ),
            (
                vec![
                    mark(1, 0, 3, Category::Person),
                    mark(0, 4, 8, Category::Other),
                    mark(0, 0, 5, Category::Person),
                ],
                RedactError::Overlapping {
                    turn: 0,
                    first_start: 0,
                    first_end: 5,
                    second_start: 4,
                    second_end: 8,
                },
            ),
            (
                vec![
                    mark(1, 0, 3, Category::Person),
                    mark(1, 0, 3, Category::Place),
                ],
                RedactError::Overlapping {
                    turn: 1,
                    first_start: 0,
                    first_end: 3,
                    second_start: 0,
                    second_end: 3,
                },
            ),
        ];
        for (marks, want) in cases {
            let got = apply(&turns, &marks).unwrap_err();
            assert_eq!(got, want);
            let message = got.to_string();
            for word in ["Zoë", "rang", "Bob"] {
                assert!(!message.contains(word), "{message}");
            }
        }
        assert_eq!(
            RedactError::Overlapping {
                turn: 0,
                first_start: 0,
                first_end: 5,
                second_start: 4,
                second_end: 8
            }
            .to_string(),
            "the mark on turn 0 from character 0 to 5 overlaps the mark on turn 0 \
             from character 4 to 8; merge them or remove one"
        );
    }

    #[test]
    fn log_entries_do_not_debug_print_their_words() {
        let r = apply(&["Jane Doe"], &[mark(0, 0, 8, Category::Person)]).unwrap();
        let printed = format!("{r:?}");
        assert!(!printed.contains("Jane"), "{printed}");
        assert!(printed.contains("<8 characters>"), "{printed}");
        assert!(printed.contains("[PERSON_1]"), "{printed}");
    }

    #[test]
    fn suggestions_apply_cleanly() {
        let s = Suggester::new(&strings(&["Jane Doe"]), &strings(&["Oakfield Ward"]));
        let turns = [
            "Jane Doe of Oakfield Ward, M1 1AE, 07700 900123",
            "doe again",
        ];
        let marks: Vec<Mark> = s
            .suggest(&turns)
            .iter()
            .map(|x| mark(x.turn, x.start, x.end, x.category))
            .collect();
        let r = apply(&turns, &marks).unwrap();
        assert_eq!(
            r.turns,
            [
                "[PERSON_1] of [PLACE_1], [PLACE_2], [OTHER_1]",
                "[PERSON_2] again"
            ]
        );
    }

    /// A fixed suggester for the properties: names and terms with accents,
    /// apostrophes, hyphens, and characters that mean something to regex.
    fn property_suggester() -> Suggester {
        Suggester::new(
            &strings(&[
                "Jane Doe",
                "Sam",
                "Zoë Ørsted",
                "Mary-Jane O'Neil",
                "J. (Jo) Smith+",
            ]),
            &strings(&["Oakfield Ward", "org:St Anne's", "İstanbul", "other:a|b"]),
        )
    }

    /// Pieces a transcript is made of: things to find, things that must not
    /// be found, and awkward characters. Words that merely contain a name
    /// ("Samuel") are left to the unit tests: they would rightly keep "Sam"
    /// in the output and defeat the plain "not in the output" check.
    fn fragment() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "Jane",
            "DOE",
            "jane  doe",
            "Sam",
            "Zoë",
            "ørsted",
            "Zoe\u{308}",
            "Mary-Jane",
            "O’Neil",
            "J. (Jo) Smith+",
            "oakfield ward",
            "St Anne’s",
            "istanbul",
            "a|b",
            "jane.doe@example.org",
            "zoë@nhs.net",
            "07700 900123",
            "+44 (0)161 496 0000",
            "(020) 7946 0000",
            "943 476 5919",
            "943 476 5918",
            "9434765919",
            "M1 1AE",
            "sw1a1aa",
            "b33 8th",
            "ward 12 on 10/01",
            "😀",
            "👩‍👩‍👧",
            "\u{308}",
            "ς",
            "ſ",
            "İ",
            "_",
            "-",
            ".",
            "@",
            "(",
            ")",
            "0",
            "44",
            "\t",
            "\n",
            "\u{a0}",
        ])
        .prop_map(str::to_string);
        let noise = proptest::collection::vec(
            prop::sample::select(vec![
                'é', 'ß', '山', '😀', '\u{308}', '’', '5', '0', ' ', 'İ',
            ]),
            0..6,
        )
        .prop_map(|cs| cs.into_iter().collect::<String>());
        prop_oneof![3 => pieces, 1 => noise]
    }

    /// A turn: fragments joined by separators, so what should be whole
    /// words is.
    fn turn() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            (
                fragment(),
                prop::sample::select(vec![" ", ", ", "\n", " — ", "; "]),
            ),
            0..12,
        )
        .prop_map(|parts| parts.into_iter().map(|(f, sep)| f + sep).collect())
    }

    fn check_spans(turns: &[&str], got: &[Suggestion]) -> Result<(), TestCaseError> {
        for (i, x) in got.iter().enumerate() {
            let text = turns.get(x.turn).copied().unwrap_or_default();
            prop_assert!(x.turn < turns.len());
            prop_assert!(x.start < x.end, "{x:?}");
            prop_assert!(x.end <= text.chars().count(), "{x:?} in {text:?}");
            // Char offsets land on char boundaries when turned into bytes.
            let mut boundaries = text.char_indices().map(|(b, _)| b).chain([text.len()]);
            let from = boundaries.nth(x.start);
            let to = boundaries.nth(x.end - x.start - 1);
            prop_assert!(
                matches!((from, to), (Some(f), Some(t)) if f < t && text.get(f..t).is_some()),
                "{x:?} in {text:?}"
            );
            if let Some(prev) = i.checked_sub(1).and_then(|p| got.get(p)) {
                prop_assert!(
                    (prev.turn, prev.end) <= (x.turn, x.start),
                    "unsorted or overlapping: {prev:?} then {x:?}"
                );
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn suggest_never_panics_and_stays_in_bounds(
            names in proptest::collection::vec("\\PC{0,12}", 0..6),
            deny in proptest::collection::vec("\\PC{0,12}", 0..6),
            turns in proptest::collection::vec("\\PC{0,60}", 0..4),
        ) {
            let s = Suggester::new(&names, &deny);
            let turns: Vec<&str> = turns.iter().map(String::as_str).collect();
            let got = s.suggest(&turns);
            check_spans(&turns, &got)?;
            // Whatever the input, the suggestions apply.
            let marks: Vec<Mark> =
                got.iter().map(|x| mark(x.turn, x.start, x.end, x.category)).collect();
            prop_assert!(apply(&turns, &marks).is_ok());
        }

        #[test]
        fn applying_the_suggestions_hides_what_they_found(
            turns in proptest::collection::vec(turn(), 1..4),
        ) {
            let s = property_suggester();
            let turns: Vec<&str> = turns.iter().map(String::as_str).collect();
            let got = s.suggest(&turns);
            check_spans(&turns, &got)?;
            let marks: Vec<Mark> =
                got.iter().map(|x| mark(x.turn, x.start, x.end, x.category)).collect();
            let r = apply(&turns, &marks).unwrap();
            prop_assert_eq!(r.log.len(), got.len());
            prop_assert_eq!(r.turns.len(), turns.len());
            for entry in &r.log {
                for out in &r.turns {
                    prop_assert!(
                        !out.contains(&entry.original),
                        "{:?} left in {:?}", entry.original, out
                    );
                }
            }
            // Nothing found again in the redacted text was found before.
            let redacted: Vec<&str> = r.turns.iter().map(String::as_str).collect();
            let originals: HashSet<String> =
                r.log.iter().map(|e| normalise(&e.original)).collect();
            for again in found_texts(&s, &redacted) {
                prop_assert!(!originals.contains(&normalise(&again)), "{again:?} again");
            }
        }
    }

    fn found_texts(s: &Suggester, turns: &[&str]) -> Vec<String> {
        s.suggest(turns)
            .into_iter()
            .map(|x| {
                let text = turns.get(x.turn).copied().unwrap_or_default();
                text.chars().skip(x.start).take(x.end - x.start).collect()
            })
            .collect()
    }
}
