//! Study details and their rules. No I/O here.

use serde::{Deserialize, Serialize};

use crate::error::{AppError, FieldProblem};
use crate::http::api::Text;
use crate::ids::{MembershipId, SiteId, StudyId, TeamId};

/// Where a study is in its life.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, poem_openapi::Enum,
)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum StudyStatus {
    #[default]
    Setup,
    Recruiting,
    Analysis,
    Closed,
}

impl StudyStatus {
    pub const ALL: [StudyStatus; 4] = [
        StudyStatus::Setup,
        StudyStatus::Recruiting,
        StudyStatus::Analysis,
        StudyStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StudyStatus::Setup => "setup",
            StudyStatus::Recruiting => "recruiting",
            StudyStatus::Analysis => "analysis",
            StudyStatus::Closed => "closed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StudyStatus::Setup => "Being set up",
            StudyStatus::Recruiting => "Recruiting",
            StudyStatus::Analysis => "Analysis (no new recruitment)",
            StudyStatus::Closed => "Closed",
        }
    }

    pub fn parse(s: &str) -> Option<StudyStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The study's lawful basis for processing personal data (UK GDPR).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, poem_openapi::Enum,
)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum LawfulBasis {
    #[default]
    PublicTask,
    LegitimateInterests,
    Consent,
}

impl LawfulBasis {
    pub const ALL: [LawfulBasis; 3] = [
        LawfulBasis::PublicTask,
        LawfulBasis::LegitimateInterests,
        LawfulBasis::Consent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LawfulBasis::PublicTask => "public_task",
            LawfulBasis::LegitimateInterests => "legitimate_interests",
            LawfulBasis::Consent => "consent",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LawfulBasis::PublicTask => {
                "Public task: UK GDPR Art 6(1)(e), with Art 9(2)(j) for research"
            }
            LawfulBasis::LegitimateInterests => {
                "Legitimate interests: Art 6(1)(f), with Art 9(2)(j)"
            }
            LawfulBasis::Consent => "Consent: Art 6(1)(a), with Art 9(2)(a)",
        }
    }

    pub fn parse(s: &str) -> Option<LawfulBasis> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Study {
    pub id: StudyId,
    pub slug: String,
    pub title: String,
    #[oai(nullable)]
    pub iras_id: Option<String>,
    #[oai(nullable)]
    pub rec_reference: Option<String>,
    pub lawful_basis: LawfulBasis,
    pub retention_years: i32,
    pub status: StudyStatus,
    /// Participant codes are this prefix and a number: RC-0042.
    pub code_prefix: String,
    /// Approved by the ethics committee under the Mental Capacity Act, so
    /// people lacking capacity may take part on a consultee's advice.
    pub mca_approved: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Study details as submitted, before checking. The schema declares what it
/// can (types, enumerations, lengths, patterns); `parse` checks the rest and
/// names every field with a problem.
#[derive(Clone, Debug, Default, Serialize, poem_openapi::Object)]
#[oai(deny_unknown_fields)]
pub struct StudyInput {
    #[oai(validator(max_length = 300))]
    pub title: Text,
    /// Short name: lowercase letters, digits and hyphens; names the consent-forms folder.
    #[oai(validator(pattern = r"^\s*[a-z0-9][a-z0-9-]{0,61}[a-z0-9]\s*$"))]
    pub slug: Text,
    /// The IRAS project ID, digits only.
    #[oai(nullable, validator(pattern = r"^\s*([0-9]{4,8})?\s*$"))]
    pub iras_id: Option<Text>,
    /// The REC reference, e.g. 24/LO/0123.
    #[oai(nullable, validator(max_length = 60))]
    pub rec_reference: Option<Text>,
    pub lawful_basis: LawfulBasis,
    /// How many years data is kept after the study ends.
    #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
    pub retention_years: i32,
    pub status: StudyStatus,
    /// Prefix of participant codes (RC for RC-0042): 1 to 6 capital letters.
    /// Left out, it is made from the short name's initials.
    #[oai(nullable, default, validator(pattern = r"^\s*([A-Z]{1,6})?\s*$"))]
    pub code_prefix: Option<Text>,
    /// Approved by the ethics committee under the Mental Capacity Act 2005
    /// (ss.30-31): people lacking capacity may take part on a consultee's advice.
    #[oai(nullable, default)]
    pub mca_approved: bool,
}

/// Study details that passed every rule.
pub struct StudyFields {
    pub title: String,
    pub slug: String,
    pub iras_id: Option<String>,
    pub rec_reference: Option<String>,
    pub lawful_basis: LawfulBasis,
    pub retention_years: i32,
    pub status: StudyStatus,
    pub code_prefix: String,
    pub mca_approved: bool,
}

impl From<&Study> for StudyFields {
    fn from(s: &Study) -> StudyFields {
        StudyFields {
            title: s.title.clone(),
            slug: s.slug.clone(),
            iras_id: s.iras_id.clone(),
            rec_reference: s.rec_reference.clone(),
            lawful_basis: s.lawful_basis,
            retention_years: s.retention_years,
            status: s.status,
            code_prefix: s.code_prefix.clone(),
            mca_approved: s.mca_approved,
        }
    }
}

fn optional(s: &Option<Text>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A name for a site or team: 1 to 200 characters, no control characters.
pub fn parse_name(field: &str, raw: &str) -> Result<String, AppError> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
        Err(AppError::invalid(
            field,
            "Enter a name of 1 to 200 characters.",
        ))
    } else {
        Ok(s.to_owned())
    }
}

impl StudyInput {
    pub fn parse(&self) -> Result<StudyFields, AppError> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, detail: &str| {
            problems.push(FieldProblem {
                field: field.into(),
                detail: detail.into(),
            })
        };
        let title = self.title.trim().to_owned();
        if title.is_empty() || title.chars().count() > 300 || title.chars().any(char::is_control) {
            problem("title", "Enter the study's title (up to 300 characters).");
        }
        let slug = self.slug.trim().to_owned();
        let slug_ok = (2..=63).contains(&slug.len())
            && slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !slug.starts_with('-')
            && !slug.ends_with('-');
        if !slug_ok {
            problem("slug", "Use 2 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen.");
        }
        let iras_id = optional(&self.iras_id);
        if iras_id
            .as_ref()
            .is_some_and(|i| !(4..=8).contains(&i.len()) || !i.chars().all(|c| c.is_ascii_digit()))
        {
            problem("iras_id", "An IRAS ID is 4 to 8 digits.");
        }
        let rec_reference = optional(&self.rec_reference);
        if rec_reference
            .as_ref()
            .is_some_and(|r| r.chars().count() > 40 || r.chars().any(char::is_control))
        {
            problem(
                "rec_reference",
                "A REC reference is at most 40 characters, e.g. 24/LO/0123.",
            );
        }
        if !(1..=100).contains(&self.retention_years) {
            problem("retention_years", "Retention is 1 to 100 years.");
        }
        let code_prefix = optional(&self.code_prefix).unwrap_or_else(|| initials(&slug));
        if !(1..=6).contains(&code_prefix.len())
            || !code_prefix.chars().all(|c| c.is_ascii_uppercase())
        {
            problem("code_prefix", "Use 1 to 6 capital letters, e.g. RC.");
        }
        if !problems.is_empty() {
            return Err(AppError::Invalid(problems));
        }
        Ok(StudyFields {
            title,
            slug,
            iras_id,
            rec_reference,
            lawful_basis: self.lawful_basis,
            retention_years: self.retention_years,
            status: self.status,
            code_prefix,
            mca_approved: self.mca_approved,
        })
    }
}

/// The initials of a short name: "recovery-college-codesign" gives "RCC".
fn initials(slug: &str) -> String {
    slug.split('-')
        .filter_map(|part| part.chars().next())
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .take(6)
        .collect()
}

#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Team {
    pub id: TeamId,
    pub site_id: SiteId,
    pub name: String,
    /// e.g. CMHT, recovery college, voluntary group.
    pub kind: String,
    /// The trial arm the team is in, when the study compares arms.
    pub arm: Option<Arm>,
}

/// A trial arm: teams that deliver the intervention, and those that do not.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, poem_openapi::Enum,
)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Arm {
    Intervention,
    Control,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Intervention => "intervention",
            Arm::Control => "control",
        }
    }

    pub fn parse(s: &str) -> Option<Arm> {
        [Arm::Intervention, Arm::Control]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Site {
    pub id: SiteId,
    pub study_id: StudyId,
    pub name: String,
    pub teams: Vec<Team>,
}

#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Member {
    /// The membership id.
    pub id: MembershipId,
    pub account_id: crate::ids::AccountId,
    pub display_name: String,
    pub role: crate::auth::model::Role,
    /// Empty: all sites.
    pub site_ids: Vec<SiteId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> StudyInput {
        StudyInput {
            title: "Recovery college co-design".into(),
            slug: "rc-codesign".into(),
            iras_id: Some("312345".into()),
            rec_reference: Some("24/LO/0123".into()),
            lawful_basis: LawfulBasis::PublicTask,
            retention_years: 10,
            status: StudyStatus::Setup,
            code_prefix: None,
            mca_approved: false,
        }
    }

    #[test]
    fn a_good_study_parses() {
        assert!(input().parse().is_ok());
    }

    #[test]
    fn the_code_prefix_defaults_to_the_initials() {
        assert_eq!(input().parse().unwrap().code_prefix, "RC");
        let mut i = input();
        i.slug = "recovery-college-codesign".into();
        assert_eq!(i.parse().unwrap().code_prefix, "RCC");
        i.code_prefix = Some("rc".into());
        assert!(i.parse().is_err());
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = StudyInput {
            title: " ".into(),
            slug: "Bad Slug".into(),
            iras_id: Some("12a".into()),
            rec_reference: None,
            lawful_basis: LawfulBasis::Consent,
            retention_years: 0,
            status: StudyStatus::Closed,
            code_prefix: None,
            mca_approved: false,
        };
        let fields: Vec<String> = match bad.parse() {
            Err(AppError::Invalid(p)) => p.into_iter().map(|p| p.field).collect(),
            _ => panic!("accepted"),
        };
        assert_eq!(fields, ["title", "slug", "iras_id", "retention_years"]);
    }

    #[test]
    fn blank_optional_references_become_none() {
        let mut i = input();
        i.iras_id = Some("  ".into());
        assert!(i.parse().unwrap().iras_id.is_none());
    }
}
