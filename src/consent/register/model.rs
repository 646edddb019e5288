//! What the register shows and how: statuses, filters and the CSV encoding. No I/O.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::audit::action::{Key, RegisterFilter};
use crate::consent::kernel::model::{ConsentMethod, WithdrawalBasis, WithdrawalScope};
use crate::error::{AppError, FieldProblem};
use crate::ids::{ConsentRecordId, ParticipantId, StudyCode, WithdrawalId};

/// Where a record stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum RegisterStatus {
    /// The participant's latest record, on the current version of its form.
    Current,
    /// The latest record, but a newer version of its form is published (C5).
    ReconsentDue,
    /// A newer record of the same participant exists.
    Superseded,
    /// The latest record of someone who withdrew from further data collection.
    Withdrawn,
}

impl RegisterStatus {
    pub const ALL: [RegisterStatus; 4] = [
        Self::Current,
        Self::ReconsentDue,
        Self::Superseded,
        Self::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::ReconsentDue => "reconsent_due",
            Self::Superseded => "superseded",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Current => "Current",
            Self::ReconsentDue => "Re-consent due",
            Self::Superseded => "Superseded",
            Self::Withdrawn => "Withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<RegisterStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A clause's answer as the register shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Answer {
    Yes,
    No,
    /// An optional clause left blank, recorded as no (C2).
    Blank,
}

impl Answer {
    pub fn of(agreed: bool, left_blank: bool) -> Answer {
        match (agreed, left_blank) {
            (true, _) => Answer::Yes,
            (false, true) => Answer::Blank,
            (false, false) => Answer::No,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Answer::Yes => "yes",
            Answer::No => "no",
            Answer::Blank => "blank",
        }
    }
}

/// The withdrawal that stopped collection: everything withdrawn, and when collection stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, poem_openapi::Object)]
pub struct WithdrawalNote {
    pub scope: WithdrawalScope,
    /// ISO 8601, UTC.
    pub withdrawn_at: String,
}

/// One consent record as the register lists it, its status worked out in SQL.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct RegisterRow {
    pub record_id: ConsentRecordId,
    pub study_code: StudyCode,
    pub form_id: String,
    pub form_version: i32,
    /// The language the form was read in (a translation's, or the form's own).
    pub language: String,
    pub method: ConsentMethod,
    /// When the participant signed or gave consent, ISO 8601, UTC.
    pub consented_at: String,
    /// Clause key to answer.
    pub answers: BTreeMap<String, Answer>,
    pub status: RegisterStatus,
    /// Set when the status is withdrawn.
    #[oai(nullable)]
    pub withdrawal: Option<WithdrawalNote>,
    /// For the audit entries about the participant; never shown or exported.
    #[oai(skip)]
    #[serde(skip)]
    pub participant_id: Option<ParticipantId>,
}

/// A withdrawal as the register lists it: what was withdrawn and when, and
/// what happened to identifiable data. Reasons are not shown.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct WithdrawalRow {
    #[oai(skip)]
    #[serde(skip)]
    pub id: Option<WithdrawalId>,
    pub study_code: StudyCode,
    pub scope: WithdrawalScope,
    /// ISO 8601, UTC.
    pub recorded_at: String,
    /// not_asked, erased or refused.
    pub erasure: String,
    /// Why it was made: the participant's request, an objection (MCA s.33)
    /// or a consultee's advice (s.32(5)).
    pub basis: WithdrawalBasis,
    /// A confirmation was emailed to the participant; absent for withdrawals
    /// recorded before this was kept.
    #[oai(nullable)]
    pub confirmation_emailed: Option<bool>,
}

/// A capacity assessment, a consultee's advice or an objection (MCA 2005
/// ss.30-33), by study code: never the consultee's name or any notes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, poem_openapi::Object)]
pub struct CapacityRow {
    /// Where the row stands in the list (its record's id).
    #[oai(skip)]
    #[serde(skip)]
    pub key: Option<String>,
    pub study_code: StudyCode,
    /// assessment, consultee_advice or objection.
    pub kind: String,
    /// The date assessed (YYYY-MM-DD), or the time recorded (ISO 8601, UTC).
    pub date: String,
    /// For an assessment: the decision and its outcome; for advice: the
    /// consultee's kind, their advice and what it did; for an objection: its
    /// effect.
    pub detail: String,
}

/// The filters as given (query parameters); empty means not filtered.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FilterInput {
    pub status: Option<String>,
    pub form_id: Option<String>,
    pub method: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Filters that passed their checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub status: Option<RegisterStatus>,
    pub form_id: Option<Key>,
    pub method: Option<ConsentMethod>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A filter parsed when given; one given that does not parse is a problem
/// named by its field.
fn check<T>(
    problem: &mut impl FnMut(&str, &str),
    field: &str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
    detail: &str,
) -> Option<T> {
    let raw = raw?;
    let parsed = parse(raw);
    if parsed.is_none() {
        problem(field, detail);
    }
    parsed
}

impl FilterInput {
    /// Checks every filter; all problems at once, each naming its parameter.
    pub fn parse(&self) -> Result<Filter, AppError> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, detail: &str| {
            problems.push(FieldProblem {
                field: field.into(),
                detail: detail.into(),
            })
        };
        let status = check(
            &mut problem,
            "status",
            given(&self.status),
            RegisterStatus::parse,
            "Choose current, reconsent_due, superseded or withdrawn.",
        );
        let method = check(
            &mut problem,
            "method",
            given(&self.method),
            ConsentMethod::parse,
            "Choose online, in_person_witnessed, verbal_recorded or paper_scanned.",
        );
        use crate::clock::{parse_day, DAY_FORMAT};
        let from = check(
            &mut problem,
            "from",
            given(&self.from),
            parse_day,
            DAY_FORMAT,
        );
        let to = check(&mut problem, "to", given(&self.to), parse_day, DAY_FORMAT);
        if matches!((from, to), (Some(f), Some(t)) if f > t) {
            problem("to", "The end date is before the start date.");
        }
        let form_id = check(
            &mut problem,
            "form_id",
            given(&self.form_id),
            Key::parse,
            "A form id is lowercase letters, digits and hyphens.",
        );
        if problems.is_empty() {
            Ok(Filter {
                status,
                form_id,
                method,
                from,
                to,
            })
        } else {
            Err(AppError::Invalid(problems))
        }
    }
}

/// The first millisecond of a UTC day.
pub fn day_start(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

impl Filter {
    /// As the audit trail records it.
    pub fn audited(&self) -> RegisterFilter {
        RegisterFilter {
            status: self.status.map(RegisterStatus::as_str),
            form_id: self.form_id.clone(),
            method: self.method.map(ConsentMethod::as_str),
            from: self.from.map(Into::into),
            to: self.to.map(Into::into),
        }
    }

    /// As query parameters, to carry the filters over to a link.
    pub fn query(&self) -> String {
        serde_urlencoded::to_string(self.audited()).unwrap_or_default()
    }
}

/// A cell as written to CSV: a leading = + - @ (or tab or carriage return)
/// gets a single quote so spreadsheets do not run it as a formula; then
/// quoted when it holds a comma, quote or line break (RFC 4180). Every CSV
/// fieldkit writes goes through here.
pub fn cell(raw: &str) -> String {
    let safe = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    if safe.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", safe.replace('"', "\"\""))
    } else {
        safe
    }
}

const FIXED_COLUMNS: [&str; 11] = [
    "study_code",
    "record_id",
    "form_id",
    "form_version",
    "language",
    "method",
    "consented_at",
    "status",
    "withdrawal_scope",
    "withdrawn_at",
    "record_pdf",
];

/// The register as CSV: a header row, then one line per record, CRLF line
/// ends, one `clause_<key>` column per clause key of the study's forms
/// (empty where the record's form has no such clause).
pub fn csv(
    rows: &[RegisterRow],
    clause_keys: &[String],
    pdf_path: impl Fn(&ConsentRecordId) -> String,
) -> String {
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    };
    let mut header: Vec<String> = FIXED_COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(clause_keys.iter().map(|k| format!("clause_{k}")));
    line(header);
    for r in rows {
        let (scope, at) = match &r.withdrawal {
            Some(w) => (scope_words(&w.scope).join("; "), w.withdrawn_at.clone()),
            None => (String::new(), String::new()),
        };
        let mut cells = vec![
            r.study_code.to_string(),
            r.record_id.to_string(),
            r.form_id.clone(),
            r.form_version.to_string(),
            r.language.clone(),
            r.method.as_str().to_owned(),
            r.consented_at.clone(),
            r.status.as_str().to_owned(),
            scope,
            at,
            pdf_path(&r.record_id),
        ];
        cells.extend(
            clause_keys
                .iter()
                .map(|k| r.answers.get(k).map_or("", |a| a.as_str()).to_owned()),
        );
        line(cells);
    }
    out
}

/// What a withdrawal stopped, in words.
pub fn scope_words(s: &WithdrawalScope) -> Vec<&'static str> {
    [
        (s.no_contact, "no further contact"),
        (s.no_collection, "no further data collection"),
        (s.remove_identifiable, "remove identifiable data"),
    ]
    .into_iter()
    .filter_map(|(on, words)| on.then_some(words))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_filters_are_each_named() {
        let input = FilterInput {
            status: Some("lapsed".into()),
            method: Some("carrier pigeon".into()),
            from: Some("2026-02-30".into()),
            to: Some("".into()),
            ..Default::default()
        };
        let err = input.parse().unwrap_err();
        let fields: Vec<_> = err
            .field_problems()
            .iter()
            .map(|p| p.field.as_str())
            .collect();
        assert_eq!(fields, ["status", "method", "from"]);
        let backwards = FilterInput {
            from: Some("2026-03-02".into()),
            to: Some("2026-03-01".into()),
            ..Default::default()
        };
        assert_eq!(
            backwards.parse().unwrap_err().field_problems()[0].field,
            "to"
        );
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("+1,2"), "\"'+1,2\"");
    }
}
