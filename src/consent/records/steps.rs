//! The participant's online consent in steps, as GOV.UK's question pages
//! and Castor's e-consent run it: a start page, the statements in small
//! parts with progress, a page to check every answer (each one changeable)
//! and sign. Nothing is stored before the signature: each step posts the
//! answers so far back in the form, so a half-answered form leaves no trace
//! on the server. No I/O here.

use std::collections::BTreeMap;
use std::ops::Range;

use super::interface::{fill, Words};
use crate::consent::forms::model::Clause;
use crate::error::FieldProblem;

/// At most this many statements on one page: few enough to read on a phone
/// without losing one's place.
pub const PART_SIZE: usize = 4;

/// The statements in parts, in the form's order. Those needed to take part
/// and those that are a choice never share a part, and each run of either is
/// cut into parts of near-equal size (5 needed ones are 3 and 2, not 4 and 1).
pub fn parts(clauses: &[Clause]) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for (i, c) in clauses.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if clauses[run.start].mandatory == c.mandatory => run.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    runs.into_iter()
        .flat_map(|run| {
            let n = run.len();
            let pieces = n.div_ceil(PART_SIZE);
            (0..pieces).map(move |k| run.start + k * n / pieces..run.start + (k + 1) * n / pieces)
        })
        .collect()
}

/// Where the participant is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Start,
    /// A part, counted from 1.
    Part(usize),
    /// Check the answers, and sign.
    Check,
}

impl Step {
    /// As the form carries it; anything else (or a part the form does not
    /// have) reads as the start.
    pub fn parse(raw: &str, parts: usize) -> Step {
        match raw {
            "check" => Step::Check,
            _ => raw
                .strip_prefix("part-")
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=parts).contains(n))
                .map_or(Step::Start, Step::Part),
        }
    }

    pub fn as_string(self) -> String {
        match self {
            Step::Start => "start".into(),
            Step::Part(n) => format!("part-{n}"),
            Step::Check => "check".into(),
        }
    }
}

/// The button the participant pressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Go {
    Next,
    Back,
    /// From the check page to a part, and back to the check page after it.
    Change(usize),
    Sign,
}

impl Go {
    pub fn parse(raw: &str) -> Option<Go> {
        match raw {
            "next" => Some(Go::Next),
            "back" => Some(Go::Back),
            "sign" => Some(Go::Sign),
            _ => raw.strip_prefix("change-")?.parse().ok().map(Go::Change),
        }
    }
}

/// Where a button leads from `at`, before any answer is checked. `returning`
/// says the participant came to this part to change an answer from the check
/// page, where Continue takes them back.
pub fn next(at: Step, go: Go, parts: usize, returning: bool) -> Step {
    match (go, at) {
        (Go::Sign, _) => Step::Check,
        (Go::Change(n), _) if (1..=parts).contains(&n) => Step::Part(n),
        (Go::Change(_), _) => Step::Check,
        (Go::Back, Step::Start | Step::Part(1)) => Step::Start,
        (Go::Back, Step::Part(n)) => Step::Part(n - 1),
        (Go::Back, Step::Check) => Step::Part(parts),
        (Go::Next, Step::Start) => Step::Part(1),
        (Go::Next, Step::Part(n)) if returning || n >= parts => Step::Check,
        (Go::Next, Step::Part(n)) => Step::Part(n + 1),
        (Go::Next, Step::Check) => Step::Check,
    }
}

/// What is missing or refused among the statements in `range`: each
/// unanswered one, and each needed one answered no, named by its number so
/// an error summary lists them apart.
pub fn problems(
    clauses: &[Clause],
    range: Range<usize>,
    chosen: &BTreeMap<String, String>,
    words: &Words,
) -> Vec<FieldProblem> {
    let total = clauses.len().to_string();
    range
        .filter_map(|i| {
            let c = &clauses[i];
            let key = match chosen.get(&c.key).map(String::as_str) {
                Some("yes") => return None,
                Some("no") if !c.mandatory => return None,
                Some("no") => "problem_needs_yes",
                _ => "problem_unanswered",
            };
            let n = (i + 1).to_string();
            Some(FieldProblem {
                field: format!("answers.{}", c.key),
                detail: fill(words, key, &[("n", &n), ("total", &total)]),
            })
        })
        .collect()
}

/// The signature, when it is missing.
pub fn signature_problem(signature: &str, words: &Words) -> Option<FieldProblem> {
    signature.trim().is_empty().then(|| FieldProblem {
        field: "signature".into(),
        detail: fill(words, "problem_signature", &[]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::forms::model::DataUse;
    use crate::consent::records::interface::words;

    fn clauses(mandatory: &[bool]) -> Vec<Clause> {
        mandatory
            .iter()
            .enumerate()
            .map(|(i, m)| Clause {
                key: format!("c{i}"),
                text: format!("Statement {i}"),
                mandatory: *m,
                governs: DataUse::TakePart,
            })
            .collect()
    }

    #[test]
    fn parts_keep_needed_and_chosen_apart_and_even() {
        let mut shape = vec![true; 5];
        shape.extend([false; 9]);
        assert_eq!(
            parts(&clauses(&shape)),
            vec![0..2, 2..5, 5..8, 8..11, 11..14]
        );
        assert_eq!(
            parts(&clauses(&[true, false, true])),
            vec![0..1, 1..2, 2..3]
        );
        assert_eq!(parts(&clauses(&[false; 4])), vec![0..4]);
        assert!(parts(&[]).is_empty());
        // Every statement is in exactly one part, in order, none over the size.
        for n in 0..30 {
            let shape: Vec<bool> = (0..n).map(|i| i % 7 < 3).collect();
            let ps = parts(&clauses(&shape));
            let flat: Vec<usize> = ps.iter().flat_map(Clone::clone).collect();
            assert_eq!(flat, (0..n).collect::<Vec<_>>());
            assert!(ps.iter().all(|p| !p.is_empty() && p.len() <= PART_SIZE));
        }
    }

    #[test]
    fn steps_read_back_and_refuse_what_the_form_lacks() {
        for step in [Step::Start, Step::Part(1), Step::Part(3), Step::Check] {
            assert_eq!(Step::parse(&step.as_string(), 3), step);
        }
        assert_eq!(Step::parse("part-4", 3), Step::Start);
        assert_eq!(Step::parse("part-0", 3), Step::Start);
        assert_eq!(Step::parse("part-x", 3), Step::Start);
        assert_eq!(Go::parse("change-2"), Some(Go::Change(2)));
        assert_eq!(Go::parse("change-"), None);
        assert_eq!(Go::parse("submit"), None);
    }

    #[test]
    fn buttons_lead_forward_back_and_home_to_the_check() {
        assert_eq!(next(Step::Start, Go::Next, 3, false), Step::Part(1));
        assert_eq!(next(Step::Part(1), Go::Next, 3, false), Step::Part(2));
        assert_eq!(next(Step::Part(3), Go::Next, 3, false), Step::Check);
        assert_eq!(next(Step::Part(1), Go::Next, 3, true), Step::Check);
        assert_eq!(next(Step::Part(1), Go::Back, 3, false), Step::Start);
        assert_eq!(next(Step::Check, Go::Back, 3, false), Step::Part(3));
        assert_eq!(next(Step::Check, Go::Change(2), 3, false), Step::Part(2));
        assert_eq!(next(Step::Check, Go::Change(9), 3, false), Step::Check);
        assert_eq!(next(Step::Part(2), Go::Sign, 3, false), Step::Check);
    }

    #[test]
    fn each_unanswered_statement_is_named_apart() {
        let cs = clauses(&[true, true, false]);
        let chosen: BTreeMap<String, String> = [
            ("c0".to_owned(), "no".to_owned()),
            ("c2".to_owned(), "no".to_owned()),
        ]
        .into();
        let p = problems(&cs, 0..3, &chosen, words("en-GB", false));
        assert_eq!(
            p.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(),
            ["answers.c0", "answers.c1"]
        );
        assert!(p[0].detail.starts_with("Statement 1 of 3 needs a yes"));
        assert!(p[1].detail.starts_with("Statement 2 of 3 is not answered"));
        let easy = problems(&cs, 1..2, &chosen, words("en-GB", true));
        assert_eq!(easy[0].detail, "Say yes or no to sentence 2.");
        let urdu = problems(&cs, 1..2, &chosen, words("ur", false));
        assert_eq!(
            urdu[0].detail,
            "بیان 2 از 3 کا جواب نہیں دیا گیا: ہاں یا نہیں چنیں۔"
        );
        assert!(signature_problem("  ", words("en-GB", false)).is_some());
        assert!(signature_problem("Ada Lovelace", words("en-GB", true)).is_none());
    }
}
