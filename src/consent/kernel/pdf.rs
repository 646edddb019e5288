//! The PDF copy of a consent record (C4): the form as shown, every clause and
//! its answer, how and when it was signed, and the record's hash. It holds no
//! identity: the typed-name signature is sealed in the vault and the copy
//! shows its SHA-256, so reviewers can read copies without seeing who signed.
//! And the participant's record of a withdrawal, made the same way.

use crate::clock::spoken;
use crate::consent::forms::model::ConsentFormVersion;
use crate::pdf::{Block, Clause, Document, KeyValue, Metadata, Signature, Span};
use crate::studies::model::Study;

use super::model::{ClauseAnswer, ConsentMethod};
use super::store::WithdrawalEntry;

pub struct CopyOf<'a> {
    pub study: &'a Study,
    pub form: &'a ConsentFormVersion,
    pub study_code: &'a str,
    pub method: ConsentMethod,
    pub answers: &'a [ClauseAnswer],
    pub signed_at: i64,
    pub signature_sha256: Option<&'a str>,
    pub verbal_record: Option<&'a str>,
    pub taken_by_name: Option<&'a str>,
    pub countersigned_at: Option<i64>,
    pub record_hash: &'a str,
}

/// A copy's file name, the same wherever it is downloaded or sent:
/// `<participant code>-<form>-v<version>-<UK date>.pdf`.
pub fn file_name(study_code: &str, form_id: &str, version: i32, signed_at: i64) -> String {
    let day = crate::clock::local_date(signed_at);
    format!("{study_code}-{form_id}-v{version}-{day}.pdf")
}

const PAGE_LABEL: &str = "Page {page} of {pages}";

/// The language of everything fieldkit writes on a copy itself.
const INTERFACE_LANGUAGE: &str = "en-GB";

fn heading(text: impl Into<String>) -> Block {
    Block::Section(text.into())
}

fn paragraph(text: impl Into<String>) -> Block {
    Block::Paragraph(vec![Span::plain(text)])
}

/// A moment as people in the UK read it, saying so.
fn uk_time(ms: i64) -> String {
    format!("{} (UK time)", spoken(ms))
}

fn long_date(d: chrono::NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

fn answer_text(a: &ClauseAnswer) -> &'static str {
    match (a.agreed, a.left_blank) {
        (true, _) => "Yes",
        (false, true) => "No (left blank)",
        (false, false) => "No",
    }
}

pub fn document(c: &CopyOf<'_>) -> Document {
    let f = &c.form.form;
    let mut blocks = vec![Block::KeyValues(vec![
        KeyValue::new("Study", &c.study.title),
        KeyValue::new("IRAS ID", c.study.iras_id.as_deref().unwrap_or("—")),
        KeyValue::new("REC reference", &f.rec_reference),
        KeyValue::new("REC approval", long_date(f.rec_approval_date)),
        KeyValue::new(
            "Form",
            format!("{} version {} ({})", f.form_id, f.version, f.language),
        ),
        KeyValue::new(
            "Information sheet",
            format!(
                "version {} of {}",
                f.information_sheet_version,
                long_date(f.information_sheet_date)
            ),
        ),
        KeyValue::new("Participant", c.study_code),
        KeyValue::new("How consent was taken", c.method.label()),
    ])];
    blocks.extend(crate::markdown::to_blocks(&f.body_markdown));
    blocks.push(heading("Your answers"));
    blocks.push(Block::Clauses {
        headers: ["Statement".into(), "Answer".into()],
        rows: c
            .answers
            .iter()
            .map(|a| Clause::new(&a.text, answer_text(a)))
            .collect(),
    });
    blocks.push(heading("If you withdraw"));
    blocks.extend(crate::markdown::to_blocks(&f.withdrawal_policy));
    if let Some(contact) = &f.contact {
        blocks.push(heading("Questions"));
        blocks.extend(crate::markdown::to_blocks(contact));
    }
    blocks.push(heading("Signatures"));
    let participant = match (c.signature_sha256, c.verbal_record) {
        (Some(sha), _) => format!("Signed by typing their name (kept encrypted; SHA-256 {sha})"),
        (None, Some(where_)) => format!("Consent given verbally and recorded: {where_}"),
        (None, None) => "Signed on the paper form (scan kept encrypted)".into(),
    };
    blocks.push(Block::Signature(Signature {
        label: "Participant".into(),
        name: participant,
        time: uk_time(c.signed_at),
    }));
    if let (Some(name), Some(at)) = (c.taken_by_name, c.countersigned_at) {
        blocks.push(Block::Signature(Signature {
            label: "Researcher taking consent".into(),
            name: name.into(),
            time: uk_time(at),
        }));
    }
    Document {
        metadata: Metadata {
            title: format!("{} – {}", f.title, c.study_code),
            author: "fieldkit".into(),
            producer: "fieldkit".into(),
            created_unix_ms: c.signed_at,
            language: f.language.clone(),
        },
        footer: format!("Consent record {} · {}", c.study_code, c.record_hash),
        page_label: PAGE_LABEL.into(),
        interface_language: Some(INTERFACE_LANGUAGE.into()),
        blocks,
    }
}

/// A withdrawal, as its record for the participant shows it.
pub struct WithdrawalCopy<'a> {
    pub study: &'a Study,
    pub study_code: &'a str,
    pub withdrawal: &'a WithdrawalEntry,
    /// The withdrawal policy of the form they last consented on, if any.
    pub policy: Option<&'a str>,
}

pub fn withdrawal_document(c: &WithdrawalCopy<'_>) -> Document {
    let w = c.withdrawal;
    let recorded_by = match (&w.recorded_by, w.by_participant) {
        (_, true) => "You, online".to_owned(),
        (Some(name), false) => format!("The research team ({name})"),
        (None, false) => "The research team".to_owned(),
    };
    // The title opens the page; no heading repeats it.
    let mut blocks = vec![
        Block::KeyValues(vec![
            KeyValue::new("Study", &c.study.title),
            KeyValue::new("IRAS ID", c.study.iras_id.as_deref().unwrap_or("—")),
            KeyValue::new("Participant", c.study_code),
            KeyValue::new("Recorded", uk_time(w.recorded_at)),
            KeyValue::new("Recorded by", recorded_by),
            KeyValue::new("Why", w.basis.label()),
        ]),
        heading("What stops"),
    ];
    blocks.extend(w.scope.in_words().into_iter().map(paragraph));
    blocks.push(heading("Information already collected"));
    blocks.push(paragraph(w.erasure_in_words()));
    if let Some(policy) = c.policy {
        blocks.push(heading("What the consent form says about withdrawing"));
        blocks.extend(crate::markdown::to_blocks(policy));
    }
    blocks.push(paragraph(match w.confirmation_emailed {
        Some(true) => "A confirmation was also emailed to you.",
        Some(false) => "No confirmation was emailed to you.",
        None => "Whether a confirmation was emailed was not recorded.",
    }));
    Document {
        metadata: Metadata {
            title: format!("Your withdrawal from {} – {}", c.study.title, c.study_code),
            author: "fieldkit".into(),
            producer: "fieldkit".into(),
            created_unix_ms: w.recorded_at,
            // The record is written in English whatever the form's language.
            language: INTERFACE_LANGUAGE.into(),
        },
        footer: format!("Withdrawal record {} · {}", c.study_code, w.id),
        page_label: PAGE_LABEL.into(),
        interface_language: None,
        blocks,
    }
}
