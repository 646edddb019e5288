//! What a consent record holds and the rules for answers (C2, C3). No I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::consent::forms::model::{Clause, DataUse};
use crate::error::{AppError, FieldProblem};
use crate::ids::{ConsentRecordId, StudyCode, StudyId};

/// How consent was taken (C1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum ConsentMethod {
    /// By the participant, online, through their invitation link.
    Online,
    /// In person, with the researcher as witness.
    InPersonWitnessed,
    /// Spoken (e.g. by phone) and recorded; the record says where.
    VerbalRecorded,
    /// On paper, scanned; the scan's SHA-256 is kept.
    PaperScanned,
    /// For someone lacking capacity: a consultee's advice, answering the
    /// clauses on their behalf (MCA s.32).
    ConsulteeAdvice,
}

impl ConsentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMethod::Online => "online",
            ConsentMethod::InPersonWitnessed => "in_person_witnessed",
            ConsentMethod::VerbalRecorded => "verbal_recorded",
            ConsentMethod::PaperScanned => "paper_scanned",
            ConsentMethod::ConsulteeAdvice => "consultee_advice",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ConsentMethod::Online => "Online, by the participant",
            ConsentMethod::InPersonWitnessed => "In person, witnessed",
            ConsentMethod::VerbalRecorded => "Verbal, recorded",
            ConsentMethod::PaperScanned => "Paper form, scanned",
            ConsentMethod::ConsulteeAdvice => "Consultee's advice (Mental Capacity Act s.32)",
        }
    }

    pub fn parse(s: &str) -> Option<ConsentMethod> {
        [
            Self::Online,
            Self::InPersonWitnessed,
            Self::VerbalRecorded,
            Self::PaperScanned,
            Self::ConsulteeAdvice,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// An answer as submitted: nothing is pre-ticked, so blank is its own state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    Yes,
    No,
    Blank,
}

impl Submitted {
    /// From a form or JSON value: "yes", "no", or anything empty.
    pub fn parse(raw: &str) -> Option<Submitted> {
        match raw.trim() {
            "yes" => Some(Submitted::Yes),
            "no" => Some(Submitted::No),
            "" => Some(Submitted::Blank),
            _ => None,
        }
    }
}

/// One clause as answered, with the exact text shown (C1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, poem_openapi::Object)]
pub struct ClauseAnswer {
    pub key: String,
    pub text: String,
    /// SHA-256 of the clause text as shown.
    pub text_sha256: String,
    pub governs: String,
    pub mandatory: bool,
    pub agreed: bool,
    /// An optional clause left blank: recorded as not agreed (C2).
    pub left_blank: bool,
}

/// Checks answers against the form's clauses. Every mandatory clause must be
/// a yes, or nothing is stored; an optional clause left blank is a no; an
/// answer for a clause the form does not have is refused (C2).
pub fn check_answers(
    clauses: &[Clause],
    submitted: &BTreeMap<String, Submitted>,
) -> Result<Vec<ClauseAnswer>, AppError> {
    let mut problems = Vec::new();
    for key in submitted.keys() {
        if !clauses.iter().any(|c| &c.key == key) {
            problems.push(FieldProblem {
                field: format!("answers.{key}"),
                detail: format!("This form has no clause \"{key}\"."),
            });
        }
    }
    let mut answers = Vec::new();
    for clause in clauses {
        let given = submitted
            .get(&clause.key)
            .copied()
            .unwrap_or(Submitted::Blank);
        if clause.mandatory && given != Submitted::Yes {
            problems.push(FieldProblem {
                field: format!("answers.{}", clause.key),
                detail: format!(
                    "\u{201c}{}\u{201d} needs a yes to take part. Nothing has been recorded.",
                    short(&clause.text)
                ),
            });
        }
        answers.push(ClauseAnswer {
            key: clause.key.clone(),
            text: clause.text.clone(),
            text_sha256: hex::encode(Sha256::digest(clause.text.as_bytes())),
            governs: clause.governs.as_str().to_owned(),
            mandatory: clause.mandatory,
            agreed: given == Submitted::Yes,
            left_blank: given == Submitted::Blank,
        });
    }
    if problems.is_empty() {
        Ok(answers)
    } else {
        Err(AppError::Invalid(problems))
    }
}

/// The start of a clause, to name it in a message.
fn short(text: &str) -> String {
    let mut words = text.split_whitespace();
    let start: Vec<&str> = words.by_ref().take(8).collect();
    let more = if words.next().is_some() {
        "\u{2026}"
    } else {
        ""
    };
    format!("{}{more}", start.join(" "))
}

/// A typed-name signature: the person's name as they typed it, 1 to 200 characters.
pub fn parse_signature(field: &str, raw: &str) -> Result<String, AppError> {
    crate::auth::model::parse_display_name(raw).map_err(|_| {
        AppError::invalid(
            field,
            "The signature is missing: the person signing types their full name.",
        )
    })
}

/// What withdrawal stops (C6). Any combination; at least one.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, poem_openapi::Object,
)]
pub struct WithdrawalScope {
    /// No further contact.
    pub no_contact: bool,
    /// No further data collection.
    pub no_collection: bool,
    /// Remove identifiable data not yet analysed.
    pub remove_identifiable: bool,
}

impl WithdrawalScope {
    pub fn is_empty(&self) -> bool {
        !(self.no_contact || self.no_collection || self.remove_identifiable)
    }

    /// What was withdrawn, one sentence each, addressed to the participant.
    pub fn in_words(&self) -> Vec<&'static str> {
        [
            (
                self.no_contact,
                "No further contact from the research team.",
            ),
            (
                self.no_collection,
                "No further information to be collected about you.",
            ),
            (
                self.remove_identifiable,
                "Your identifiable information that has not yet been analysed to be removed.",
            ),
        ]
        .into_iter()
        .filter_map(|(asked, what)| asked.then_some(what))
        .collect()
    }

    /// Scopes only ever widen: a later withdrawal adds to an earlier one.
    pub fn union(self, other: WithdrawalScope) -> WithdrawalScope {
        WithdrawalScope {
            no_contact: self.no_contact || other.no_contact,
            no_collection: self.no_collection || other.no_collection,
            remove_identifiable: self.remove_identifiable || other.remove_identifiable,
        }
    }
}

/// Why a withdrawal was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum WithdrawalBasis {
    /// The participant asked, themselves or through a researcher.
    Request,
    /// A sign of objection (Mental Capacity Act 2005 s.33).
    Objection,
    /// A consultee advised that they would not want to take part (s.32(5)).
    ConsulteeAdvice,
}

impl WithdrawalBasis {
    pub const ALL: [WithdrawalBasis; 3] = [
        WithdrawalBasis::Request,
        WithdrawalBasis::Objection,
        WithdrawalBasis::ConsulteeAdvice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawalBasis::Request => "request",
            WithdrawalBasis::Objection => "objection",
            WithdrawalBasis::ConsulteeAdvice => "consultee_advice",
        }
    }

    /// In words, for the register and the participant's copy.
    pub fn label(self) -> &'static str {
        match self {
            WithdrawalBasis::Request => "At the participant's request",
            WithdrawalBasis::Objection => "On a sign of objection (Mental Capacity Act s.33)",
            WithdrawalBasis::ConsulteeAdvice => {
                "On a consultee's advice (Mental Capacity Act s.32(5))"
            }
        }
    }

    pub fn parse(s: &str) -> Option<WithdrawalBasis> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// A participant's consent as it stands: the uses agreed in their latest
/// record, minus those their withdrawals stopped. "Agreed" means in force
/// now: after a withdrawal from further collection, taking part and every
/// use of data is gone from it; after "no further contact", future contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveConsent {
    record_id: ConsentRecordId,
    /// As the record says.
    recorded: BTreeSet<String>,
    /// As it stands.
    agreed: BTreeSet<String>,
    withdrawn: WithdrawalScope,
}

/// Why a use is not allowed, in words a researcher can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NoConsent,
    Withdrawn,
    NotAgreed(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoConsent => f.write_str("This participant has not given consent."),
            Refusal::Withdrawn => {
                f.write_str("This participant has withdrawn from further data collection.")
            }
            Refusal::NotAgreed(u) => write!(f, "This participant has not agreed to {u}."),
        }
    }
}

/// Whether a withdrawal stops a use: contact is stopped by "no further
/// contact", everything else by "no further data collection".
fn stopped(use_: &str, withdrawn: &WithdrawalScope) -> bool {
    if use_ == DataUse::FutureContact.as_str() {
        withdrawn.no_contact
    } else {
        withdrawn.no_collection
    }
}

impl EffectiveConsent {
    /// The consent of a record with these agreed uses, after these withdrawals.
    pub fn new(
        record_id: ConsentRecordId,
        recorded: BTreeSet<String>,
        withdrawn: WithdrawalScope,
    ) -> EffectiveConsent {
        let took_part = recorded.contains(DataUse::TakePart.as_str());
        let agreed = recorded
            .iter()
            .filter(|u| took_part && !stopped(u, &withdrawn))
            .cloned()
            .collect();
        EffectiveConsent {
            record_id,
            recorded,
            agreed,
            withdrawn,
        }
    }

    /// The record it rests on.
    pub fn record_id(&self) -> &ConsentRecordId {
        &self.record_id
    }

    /// The uses in force now.
    pub fn agreed(&self) -> &BTreeSet<String> {
        &self.agreed
    }

    /// Whether the consent allows a use (C3): taking part must have been
    /// agreed, the use's own clause must be a yes, and nothing withdrawn may
    /// stop it.
    pub fn allows(&self, use_: &DataUse) -> Result<(), Refusal> {
        if self.agreed.contains(use_.as_str()) {
            return Ok(());
        }
        if stopped(use_.as_str(), &self.withdrawn) {
            Err(Refusal::Withdrawn)
        } else if !self.recorded.contains(DataUse::TakePart.as_str()) {
            Err(Refusal::NoConsent)
        } else {
            Err(Refusal::NotAgreed(use_.as_str().replace('_', " ")))
        }
    }
}

/// The canonical content of a record, hashed into its `record_hash` and
/// printed on its PDF, so the copy and the database can be matched.
#[derive(Serialize)]
pub struct RecordContent<'a> {
    pub record_id: &'a ConsentRecordId,
    pub study_id: &'a StudyId,
    pub study_code: &'a StudyCode,
    pub form_id: &'a str,
    pub form_version: i32,
    /// The translation read, when it was not the form's own language; the
    /// content hash is then the translation's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<&'a str>,
    pub form_content_hash: &'a str,
    pub information_sheet_version: &'a str,
    pub information_sheet_date: String,
    pub method: ConsentMethod,
    pub answers: &'a [ClauseAnswer],
    pub participant_signed_at: i64,
    pub signature_sha256: Option<String>,
    pub taken_by: Option<&'a str>,
    pub countersigned_at: Option<i64>,
    pub verbal_record: Option<&'a str>,
    pub scan_sha256: Option<&'a str>,
    pub supersedes: Option<&'a ConsentRecordId>,
}

impl RecordContent<'_> {
    pub fn hash(&self) -> String {
        let text = serde_json::to_string(self).expect("a record serialises");
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clauses() -> Vec<Clause> {
        vec![
            Clause {
                key: "take_part".into(),
                text: "I agree to take part.".into(),
                mandatory: true,
                governs: DataUse::TakePart,
            },
            Clause {
                key: "video".into(),
                text: "I agree to be video recorded.".into(),
                mandatory: false,
                governs: DataUse::VideoRecording,
            },
            Clause {
                key: "quotes".into(),
                text: "You may quote me anonymously.".into(),
                mandatory: false,
                governs: DataUse::Quotes,
            },
        ]
    }

    fn answers(pairs: &[(&str, Submitted)]) -> BTreeMap<String, Submitted> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_mandatory_clause_not_answered_yes_refuses_everything() {
        for given in [Submitted::No, Submitted::Blank] {
            let named = check_answers(&clauses(), &answers(&[("take_part", given)])).unwrap_err();
            assert!(
                named.field_problems()[0]
                    .detail
                    .contains("I agree to take part."),
                "{named}"
            );
            // Worded for whoever reads it: the participant or the researcher
            // recording their answers.
            assert!(!named.to_string().contains("you"), "{named}");
            let err = check_answers(
                &clauses(),
                &answers(&[("take_part", given), ("video", Submitted::Yes)]),
            )
            .unwrap_err();
            assert_eq!(err.field_problems()[0].field, "answers.take_part");
        }
    }

    #[test]
    fn an_optional_clause_left_blank_is_a_no() {
        let a = check_answers(
            &clauses(),
            &answers(&[("take_part", Submitted::Yes), ("video", Submitted::Yes)]),
        )
        .unwrap();
        let quotes = a.iter().find(|c| c.key == "quotes").unwrap();
        assert!(!quotes.agreed && quotes.left_blank);
        assert!(a.iter().find(|c| c.key == "video").unwrap().agreed);
    }

    #[test]
    fn an_answer_for_a_clause_that_does_not_exist_is_refused() {
        let err = check_answers(
            &clauses(),
            &answers(&[("take_part", Submitted::Yes), ("dance", Submitted::Yes)]),
        )
        .unwrap_err();
        assert_eq!(err.field_problems()[0].field, "answers.dance");
    }

    fn effective(agreed: &[&str], withdrawn: WithdrawalScope) -> EffectiveConsent {
        EffectiveConsent::new(
            ConsentRecordId::new(),
            agreed.iter().map(|s| s.to_string()).collect(),
            withdrawn,
        )
    }

    #[test]
    fn each_use_needs_its_own_clause() {
        let e = effective(
            &["take_part", "audio_recording"],
            WithdrawalScope::default(),
        );
        assert!(e.allows(&DataUse::AudioRecording).is_ok());
        assert_eq!(
            e.allows(&DataUse::VideoRecording),
            Err(Refusal::NotAgreed("video recording".into()))
        );
    }

    #[test]
    fn withdrawal_stops_collection_and_contact_separately() {
        let no_collection = WithdrawalScope {
            no_collection: true,
            ..Default::default()
        };
        let e = effective(
            &["take_part", "audio_recording", "future_contact"],
            no_collection,
        );
        assert_eq!(e.allows(&DataUse::AudioRecording), Err(Refusal::Withdrawn));
        assert!(e.allows(&DataUse::FutureContact).is_ok());
        let no_contact = WithdrawalScope {
            no_contact: true,
            ..Default::default()
        };
        assert_eq!(
            effective(&["take_part", "future_contact"], no_contact).allows(&DataUse::FutureContact),
            Err(Refusal::Withdrawn)
        );
    }

    #[test]
    fn what_is_agreed_is_what_stands_after_withdrawals() {
        let all = ["take_part", "audio_recording", "future_contact"];
        let no_collection = WithdrawalScope {
            no_collection: true,
            ..Default::default()
        };
        let e = effective(&all, no_collection);
        assert_eq!(e.agreed().iter().collect::<Vec<_>>(), ["future_contact"]);
        let no_contact = WithdrawalScope {
            no_contact: true,
            ..Default::default()
        };
        assert!(!effective(&all, no_contact)
            .agreed()
            .contains("future_contact"));
        assert_eq!(
            effective(&all, no_collection.union(no_contact))
                .agreed()
                .len(),
            0
        );
        assert_eq!(
            effective(&all, WithdrawalScope::default()).agreed().len(),
            3
        );
    }

    #[test]
    fn without_taking_part_nothing_is_allowed() {
        assert_eq!(
            effective(&["quotes"], WithdrawalScope::default()).allows(&DataUse::Quotes),
            Err(Refusal::NoConsent)
        );
    }
}
