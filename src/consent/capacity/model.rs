//! What capacity assessments, consultees' advice and objections hold, and the
//! rules for their input. No I/O.

use serde::Serialize;

use crate::audit::action::Key;
use crate::error::AppError;

/// What an assessment found about one decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Outcome {
    HasCapacity,
    LacksCapacity,
}

impl Outcome {
    pub const ALL: [Outcome; 2] = [Outcome::HasCapacity, Outcome::LacksCapacity];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::HasCapacity => "has_capacity",
            Outcome::LacksCapacity => "lacks_capacity",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::HasCapacity => "Has capacity to make this decision",
            Outcome::LacksCapacity => "Lacks capacity to make this decision",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Who the consultee is (s.32): someone close to the person, or someone
/// nominated because no such person is willing and able.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum ConsulteeKind {
    Personal,
    Nominated,
}

impl ConsulteeKind {
    pub const ALL: [ConsulteeKind; 2] = [ConsulteeKind::Personal, ConsulteeKind::Nominated];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsulteeKind::Personal => "personal",
            ConsulteeKind::Nominated => "nominated",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ConsulteeKind::Personal => "Personal consultee (someone close to them)",
            ConsulteeKind::Nominated => "Nominated consultee",
        }
    }

    pub fn parse(s: &str) -> Option<ConsulteeKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What the consultee advised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Advice {
    TakePart,
    NotTakePart,
}

impl Advice {
    pub fn as_str(self) -> &'static str {
        match self {
            Advice::TakePart => "take_part",
            Advice::NotTakePart => "not_take_part",
        }
    }

    pub fn parse(s: &str) -> Option<Advice> {
        [Advice::TakePart, Advice::NotTakePart]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// What a consultee's advice did (MCA 2005 s.32(5)): advice against keeps
/// someone not yet consented from taking part, and withdraws someone taking
/// part, at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum AdviceEffect {
    ConsentRecorded,
    KeptFromTakingPart,
    Withdrawn,
    AlreadyWithdrawn,
}

impl AdviceEffect {
    pub const ALL: [AdviceEffect; 4] = [
        AdviceEffect::ConsentRecorded,
        AdviceEffect::KeptFromTakingPart,
        AdviceEffect::Withdrawn,
        AdviceEffect::AlreadyWithdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdviceEffect::ConsentRecorded => "consent_recorded",
            AdviceEffect::KeptFromTakingPart => "kept_from_taking_part",
            AdviceEffect::Withdrawn => "withdrawn",
            AdviceEffect::AlreadyWithdrawn => "already_withdrawn",
        }
    }

    /// In words, for the register and the participant's page.
    pub fn label(self) -> &'static str {
        match self {
            AdviceEffect::ConsentRecorded => "recorded as their consent",
            AdviceEffect::KeptFromTakingPart => {
                "kept from taking part; open invitations cancelled (s.32(5))"
            }
            AdviceEffect::Withdrawn => "withdrawn from further data collection at once (s.32(5))",
            AdviceEffect::AlreadyWithdrawn => "already withdrawn from further data collection",
        }
    }

    pub fn parse(s: &str) -> Option<AdviceEffect> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// A decision key: `take_part` or a data use key (lowercase letters, digits, underscores).
pub fn parse_decision(raw: &str) -> Result<Key, AppError> {
    let d = raw.trim();
    let shaped = d.starts_with(|c: char| c.is_ascii_lowercase()) && !d.contains('-');
    match Key::parse(d).filter(|_| shaped) {
        Some(key) => Ok(key),
        None => Err(AppError::invalid(
            "decision",
            "Name the decision assessed: take_part, or the use of data (e.g. audio_recording).",
        )),
    }
}

/// A day, YYYY-MM-DD, not after `today`.
pub fn parse_day(
    field: &str,
    raw: &str,
    today: chrono::NaiveDate,
) -> Result<chrono::NaiveDate, AppError> {
    match crate::clock::parse_day(raw.trim()) {
        Some(d) if d <= today => Ok(d),
        Some(_) => Err(AppError::invalid(
            field,
            "The date cannot be in the future.",
        )),
        None => Err(AppError::invalid(field, "Enter the date as YYYY-MM-DD.")),
    }
}

/// Free text to be sealed: trimmed, at most 5,000 characters; None if empty.
pub fn parse_text(field: &str, raw: &str) -> Result<Option<String>, AppError> {
    let t = raw.trim();
    if t.chars().count() > 5000 {
        return Err(AppError::invalid(field, "Keep this to 5,000 characters."));
    }
    Ok(Some(t.to_owned()).filter(|t| !t.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> chrono::NaiveDate {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_decision_is_take_part_or_a_use_key() {
        assert_eq!(parse_decision(" take_part ").unwrap().as_str(), "take_part");
        assert!(parse_decision("audio_recording").is_ok());
        assert!(parse_decision("").is_err());
        assert!(parse_decision("Take part").is_err());
    }

    #[test]
    fn an_assessment_date_is_a_past_day() {
        let today = day("2026-03-01");
        assert_eq!(
            parse_day("d", "2026-02-28", today).unwrap(),
            day("2026-02-28")
        );
        assert!(parse_day("d", "2026-03-02", today).is_err());
        assert!(parse_day("d", "28/02/2026", today).is_err());
    }
}
