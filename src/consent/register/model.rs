//! What the register shows and how: statuses, filters and the CSV encoding. No I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, DAY};
use crate::consent::records::model::{ConsentMethod, WithdrawalScope};
use crate::error::{AppError, FieldProblem};

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

    fn parse(s: &str) -> Option<RegisterStatus> {
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

/// One consent record as the register lists it. Capacity assessments and
/// consultee records (C7) are to join the register as rows of their own kinds
/// next to these, sharing the study code, date and filters.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct RegisterRow {
    pub record_id: String,
    pub study_code: String,
    pub form_id: String,
    pub form_version: i32,
    pub method: ConsentMethod,
    /// When the participant signed or gave consent, ISO 8601, UTC.
    pub consented_at: String,
    /// Clause key to answer.
    pub answers: BTreeMap<String, Answer>,
    pub status: RegisterStatus,
    /// Set when the status is withdrawn.
    pub withdrawal: Option<WithdrawalNote>,
    /// For the audit entries about the participant; never shown or exported.
    #[oai(skip)]
    #[serde(skip)]
    pub participant_id: String,
    #[oai(skip)]
    #[serde(skip)]
    pub consented_at_ms: i64,
}

/// A withdrawal as the register lists it: what was withdrawn and when, and
/// what happened to identifiable data. Reasons are not shown.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct WithdrawalRow {
    pub study_code: String,
    pub scope: WithdrawalScope,
    /// ISO 8601, UTC.
    pub recorded_at: String,
    /// not_asked, erased or refused.
    pub erasure: String,
}

/// A capacity assessment, a consultee's advice or an objection (MCA 2005
/// ss.30-33), by study code: never the consultee's name or any notes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, poem_openapi::Object)]
pub struct CapacityRow {
    pub study_code: String,
    /// assessment, consultee_advice or objection.
    pub kind: String,
    /// The date assessed (YYYY-MM-DD), or the time recorded (ISO 8601, UTC).
    pub date: String,
    /// For an assessment: the decision and its outcome; for advice: the
    /// consultee's kind and their advice; for an objection: empty.
    pub detail: String,
}

/// A record as read, before its status is known.
pub struct ListedRecord {
    pub id: String,
    pub participant_id: String,
    pub study_code: String,
    pub form_id: String,
    pub form_version: i32,
    pub method: ConsentMethod,
    pub signed_at: i64,
}

/// A participant's withdrawals so far.
#[derive(Clone, Copy, Default)]
pub struct Withdrawn {
    pub scope: WithdrawalScope,
    /// When further collection was first stopped.
    pub collection_stopped_at: Option<i64>,
}

/// Gives each record its status. `records` are in the order they were made;
/// `current_versions` maps each form id to its newest published version.
pub fn with_status(
    records: Vec<ListedRecord>,
    mut answers: BTreeMap<String, BTreeMap<String, Answer>>,
    current_versions: &BTreeMap<String, i32>,
    withdrawn: &BTreeMap<String, Withdrawn>,
) -> Vec<RegisterRow> {
    let latest: BTreeMap<&str, &str> = records
        .iter()
        .map(|r| (r.participant_id.as_str(), r.id.as_str()))
        .collect();
    let latest: BTreeSet<String> = latest.values().map(|id| id.to_string()).collect();
    records
        .into_iter()
        .map(|r| {
            let w = withdrawn
                .get(&r.participant_id)
                .copied()
                .unwrap_or_default();
            let (status, withdrawal) = if !latest.contains(&r.id) {
                (RegisterStatus::Superseded, None)
            } else if let Some(at) = w.collection_stopped_at {
                let note = WithdrawalNote {
                    scope: w.scope,
                    withdrawn_at: rfc3339(at),
                };
                (RegisterStatus::Withdrawn, Some(note))
            } else if current_versions
                .get(&r.form_id)
                .is_some_and(|v| *v > r.form_version)
            {
                (RegisterStatus::ReconsentDue, None)
            } else {
                (RegisterStatus::Current, None)
            };
            RegisterRow {
                answers: answers.remove(&r.id).unwrap_or_default(),
                record_id: r.id,
                study_code: r.study_code,
                form_id: r.form_id,
                form_version: r.form_version,
                method: r.method,
                consented_at: rfc3339(r.signed_at),
                status,
                withdrawal,
                participant_id: r.participant_id,
                consented_at_ms: r.signed_at,
            }
        })
        .collect()
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RegisterStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<ConsentMethod>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "iso_date")]
    pub from: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "iso_date")]
    pub to: Option<NaiveDate>,
}

/// YYYY-MM-DD (chrono is built without serde here).
fn iso_date<S: serde::Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(d),
        None => s.serialize_none(),
    }
}

fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
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
        let status = given(&self.status).and_then(|s| {
            let parsed = RegisterStatus::parse(s);
            if parsed.is_none() {
                problem(
                    "status",
                    "Choose current, reconsent_due, superseded or withdrawn.",
                );
            }
            parsed
        });
        let method = given(&self.method).and_then(|s| {
            let parsed = ConsentMethod::parse(s);
            if parsed.is_none() {
                problem(
                    "method",
                    "Choose online, in_person_witnessed, verbal_recorded or paper_scanned.",
                );
            }
            parsed
        });
        let mut date = |field: &str, raw: &Option<String>| {
            given(raw).and_then(|s| {
                let parsed = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
                if parsed.is_none() {
                    problem(field, "Give a date as YYYY-MM-DD, for example 2026-03-27.");
                }
                parsed
            })
        };
        let from = date("from", &self.from);
        let to = date("to", &self.to);
        if matches!((from, to), (Some(f), Some(t)) if f > t) {
            problem("to", "The end date is before the start date.");
        }
        if problems.is_empty() {
            Ok(Filter {
                status,
                form_id: given(&self.form_id).map(str::to_owned),
                method,
                from,
                to,
            })
        } else {
            Err(AppError::Invalid(problems))
        }
    }
}

/// Filter problems as one 400 naming each parameter, for the API and the CSV download.
pub fn bad_request(e: AppError) -> AppError {
    match e {
        AppError::Invalid(problems) => {
            let detail: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.detail))
                .collect();
            AppError::BadRequest(detail.join(" "))
        }
        other => other,
    }
}

fn day_start(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

impl Filter {
    /// Dates are whole UTC days, both ends included.
    pub fn keeps(&self, row: &RegisterRow) -> bool {
        self.status.is_none_or(|s| s == row.status)
            && self.form_id.as_ref().is_none_or(|f| *f == row.form_id)
            && self.method.is_none_or(|m| m == row.method)
            && self
                .from
                .is_none_or(|d| row.consented_at_ms >= day_start(d))
            && self
                .to
                .is_none_or(|d| row.consented_at_ms < day_start(d) + DAY)
    }

    /// As query parameters, to carry the filters over to a link.
    pub fn query(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

/// A cell as written to CSV: a leading = + - @ (or tab or carriage return)
/// gets a single quote so spreadsheets do not run it as a formula; then
/// quoted when it holds a comma, quote or line break (RFC 4180).
fn cell(raw: &str) -> String {
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

const FIXED_COLUMNS: [&str; 10] = [
    "study_code",
    "record_id",
    "form_id",
    "form_version",
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
    pdf_path: impl Fn(&str) -> String,
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
            r.study_code.clone(),
            r.record_id.clone(),
            r.form_id.clone(),
            r.form_version.to_string(),
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

    fn listed(id: &str, participant: &str, version: i32, signed_at: i64) -> ListedRecord {
        ListedRecord {
            id: id.into(),
            participant_id: participant.into(),
            study_code: format!("RC-{participant}"),
            form_id: "participation".into(),
            form_version: version,
            method: ConsentMethod::Online,
            signed_at,
        }
    }

    #[test]
    fn statuses_follow_the_latest_record_the_form_and_withdrawals() {
        let records = vec![
            listed("a1", "1", 1, 10),
            listed("a2", "1", 2, 20),
            listed("b1", "2", 1, 30),
            listed("c1", "3", 2, 40),
        ];
        let versions = BTreeMap::from([("participation".to_string(), 2)]);
        let withdrawn = BTreeMap::from([(
            "3".to_string(),
            Withdrawn {
                scope: WithdrawalScope {
                    no_collection: true,
                    ..Default::default()
                },
                collection_stopped_at: Some(50),
            },
        )]);
        let rows = with_status(records, BTreeMap::new(), &versions, &withdrawn);
        let statuses: Vec<_> = rows.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [
                RegisterStatus::Superseded,
                RegisterStatus::Current,
                RegisterStatus::ReconsentDue,
                RegisterStatus::Withdrawn
            ]
        );
        assert_eq!(
            rows[3].withdrawal.as_ref().unwrap().withdrawn_at,
            rfc3339(50)
        );
    }

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
