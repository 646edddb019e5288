//! The one scoring engine. Every instrument is scored by the rules its
//! definition declares (sum, mean, proportion of maximum, reverse scoring,
//! conversion tables, prorating, bands); there is no code per instrument.
//! A blank is never 0: an unanswered item is missing, and a score with more
//! missing items than its rule allows is no score at all, with the reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::definition::{Definition, ItemKind, Method, ScoreRule};

/// Bumped whenever a change here could change a score: stored scores carry
/// the engine version that computed them, so a recomputation that differs
/// is found and reported.
pub const ENGINE_VERSION: u32 = 1;

/// One answer: a number (scale, yes/no, number, single choice), the chosen
/// values (multiple choice) or text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, poem_openapi::Union)]
#[serde(untagged)]
#[oai(one_of, rename = "ItemAnswer")]
pub enum Answer {
    Number(f64),
    Choices(Vec<i64>),
    Text(String),
}

/// A response's answers by item key.
pub type Answers = BTreeMap<String, Answer>;

/// Why an answer was refused, by item key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerProblem {
    pub item: String,
    pub message: String,
}

/// Checks answers against the definition: unknown items, wrong types,
/// values outside the item's options or range. `complete` also asks for
/// every required item (on submit; a draft may be partial).
pub fn check_answers(d: &Definition, answers: &Answers, complete: bool) -> Vec<AnswerProblem> {
    let mut problems = Vec::new();
    let mut say = |item: &str, message: String| {
        problems.push(AnswerProblem {
            item: item.to_owned(),
            message,
        })
    };
    for key in answers.keys() {
        if d.item(key).is_none() {
            say(
                key,
                format!("there is no item \"{key}\" in this instrument"),
            );
        }
    }
    for item in d.items() {
        let Some(answer) = answers.get(&item.key) else {
            if complete && item.required {
                say(
                    &item.key,
                    format!("answer \"{}\": it is required", item.text),
                );
            }
            continue;
        };
        let options = item.options(&d.scales);
        let allowed = |v: i64| options.iter().any(|o| o.value == v);
        let message = match (item.kind, answer) {
            (ItemKind::Scale | ItemKind::SingleChoice, Answer::Number(v)) => (v.fract() != 0.0
                || !allowed(*v as i64))
            .then(|| "choose one of the options given".to_owned()),
            (ItemKind::YesNo, Answer::Number(v)) => {
                (*v != 0.0 && *v != 1.0).then(|| "answer yes (1) or no (0)".to_owned())
            }
            (ItemKind::Number, Answer::Number(v)) => number_problem(item, *v),
            (ItemKind::MultipleChoice, Answer::Choices(values)) => {
                let mut seen = values.clone();
                seen.sort_unstable();
                seen.dedup();
                if seen.len() != values.len() {
                    Some("an option is chosen twice".to_owned())
                } else {
                    (!values.iter().all(|v| allowed(*v)))
                        .then(|| "choose only from the options given".to_owned())
                }
            }
            (ItemKind::Text, Answer::Text(t)) => (t.chars().count() > 10_000
                || t.chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t'))
            .then(|| "write at most 10,000 characters of plain text".to_owned()),
            (kind, _) => Some(format!("expected {}", expected(kind))),
        };
        if let Some(m) = message {
            say(&item.key, m);
        }
    }
    problems
}

fn number_problem(item: &super::definition::Item, v: f64) -> Option<String> {
    if !v.is_finite() {
        return Some("enter a number".into());
    }
    if item.integer && v.fract() != 0.0 {
        return Some("enter a whole number".into());
    }
    match (item.min, item.max) {
        (Some(lo), Some(hi)) if v < lo || v > hi => {
            Some(format!("enter a number from {lo} to {hi}"))
        }
        (Some(lo), None) if v < lo => Some(format!("enter {lo} or more")),
        (None, Some(hi)) if v > hi => Some(format!("enter {hi} or less")),
        _ => None,
    }
}

fn expected(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Scale | ItemKind::SingleChoice => "one option's value (a number)",
        ItemKind::YesNo => "1 for yes or 0 for no",
        ItemKind::Number => "a number",
        ItemKind::MultipleChoice => "a list of option values",
        ItemKind::Text => "text",
    }
}

/// A computed score. `value` is None when too many items are missing (or
/// a rule cannot apply), with `note` saying why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, poem_openapi::Object)]
pub struct Score {
    pub key: String,
    pub label: String,
    pub value: Option<f64>,
    /// The sum or mean before conversion or proportion of maximum.
    pub raw: Option<f64>,
    pub answered: u32,
    pub items: u32,
    /// True when missing items were allowed for by prorating.
    pub prorated: bool,
    pub band: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The lowest and highest value a rule can give, from the definition alone.
pub fn rule_range(d: &Definition, rule: &ScoreRule) -> Option<(f64, f64)> {
    let ranges: Option<Vec<_>> = d
        .rule_items(rule)
        .iter()
        .map(|i| i.scored_range(&d.scales))
        .collect();
    let ranges = ranges?;
    let n = ranges.len() as f64;
    let lo: f64 = ranges.iter().map(|r| r.lo).sum();
    let hi: f64 = ranges.iter().map(|r| r.hi).sum();
    match (rule.method, &rule.conversion) {
        (Method::Sum, Some(key)) => {
            let table = &d.conversions.iter().find(|c| &c.key == key)?.table;
            let values = table.iter().map(|r| r[1]);
            let lo = values.clone().fold(f64::INFINITY, f64::min);
            let hi = values.fold(f64::NEG_INFINITY, f64::max);
            Some((lo, hi))
        }
        (Method::Sum, None) => Some((lo, hi)),
        (Method::Mean, _) => Some((lo / n, hi / n)),
        (Method::ProportionOfMaximum, _) => Some((0.0, 100.0)),
    }
}

/// Every score the definition declares, from these answers.
pub fn score(d: &Definition, answers: &Answers) -> Vec<Score> {
    d.scores
        .iter()
        .map(|rule| score_rule(d, rule, answers))
        .collect()
}

fn score_rule(d: &Definition, rule: &ScoreRule, answers: &Answers) -> Score {
    let items = d.rule_items(rule);
    // Each answered value, and the ranges of all items and of those answered.
    let mut values = Vec::new();
    let (mut lo_sum, mut hi_sum) = (0.0, 0.0);
    let (mut lo_answered, mut hi_answered) = (0.0, 0.0);
    for item in &items {
        let Some(range) = item.scored_range(&d.scales) else {
            continue;
        };
        lo_sum += range.lo;
        hi_sum += range.hi;
        if let Some(Answer::Number(v)) = answers.get(&item.key) {
            lo_answered += range.lo;
            hi_answered += range.hi;
            values.push(if item.reverse {
                range.lo + range.hi - v
            } else {
                *v
            });
        }
    }
    let n = items.len();
    let answered = values.len();
    let mut out = Score {
        key: rule.key.clone(),
        label: rule.label.clone(),
        value: None,
        raw: None,
        answered: answered as u32,
        items: n as u32,
        prorated: false,
        band: None,
        note: None,
    };
    let missing = n - answered;
    if answered == 0 || missing > rule.max_missing as usize {
        out.note = Some(format!(
            "{missing} of {n} items unanswered; this score allows at most {}",
            rule.max_missing
        ));
        return out;
    }
    out.prorated = missing > 0;
    let answered_sum: f64 = values.iter().sum();
    // Prorating places the answered items' sum at the same point of the
    // whole range as it sits in the answered items' range. With items of
    // one range this is the familiar mean times the number of items; with
    // items of different ranges it still cannot leave the range.
    let sum = if missing == 0 || hi_answered <= lo_answered {
        answered_sum
    } else {
        lo_sum + (answered_sum - lo_answered) * (hi_sum - lo_sum) / (hi_answered - lo_answered)
    };
    let raw = match rule.method {
        Method::Mean => sum / n as f64,
        Method::Sum | Method::ProportionOfMaximum => sum,
    };
    out.raw = Some(raw);
    let value = match (rule.method, &rule.conversion) {
        (Method::Sum, Some(key)) => {
            // A prorated sum is rounded half away from zero before it is
            // looked up, as conversion tables list whole raw scores.
            let whole = sum.round();
            let row = d
                .conversions
                .iter()
                .find(|c| &c.key == key)
                .and_then(|c| c.table.iter().find(|r| r[0] == whole));
            match row {
                Some(r) => r[1],
                None => {
                    out.note = Some(format!("raw score {whole} is not in conversion \"{key}\""));
                    return out;
                }
            }
        }
        (Method::ProportionOfMaximum, _) if hi_sum > lo_sum => {
            100.0 * (sum - lo_sum) / (hi_sum - lo_sum)
        }
        (Method::ProportionOfMaximum, _) => {
            out.note = Some("the items have no range to take a proportion of".into());
            return out;
        }
        _ => raw,
    };
    out.value = Some(value);
    out.band = band(rule, value);
    out
}

/// The band a value falls in: the last band whose `from` it reaches.
pub fn band(rule: &ScoreRule, value: f64) -> Option<String> {
    rule.bands
        .iter()
        .rev()
        .find(|b| value >= b.from)
        .map(|b| b.label.clone())
}

/// Change between two time points and whether it reaches the minimal
/// important change (in either direction).
#[derive(Clone, Debug, PartialEq, Serialize, poem_openapi::Object)]
#[oai(rename = "ScoreChange")]
pub struct Change {
    pub from: f64,
    pub to: f64,
    pub change: f64,
    /// None when the score declares no minimal important change.
    pub important: Option<bool>,
}

pub fn change(rule: &ScoreRule, from: f64, to: f64) -> Change {
    let delta = to - from;
    Change {
        from,
        to,
        change: delta,
        important: rule.minimal_important_change.map(|m| delta.abs() >= m),
    }
}
