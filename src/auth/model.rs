//! Accounts, roles, permissions and the actor a request acts as. No I/O here.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ApiTokenId, SiteId, StudyId};

/// An email address, trimmed and lower-cased; the only form ever stored or compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, String> {
        let s = raw.trim().to_lowercase();
        let valid = s.len() <= 254
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            })
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
        if valid {
            Ok(Email(s))
        } else {
            Err("Enter an email address like name@example.ac.uk.".into())
        }
    }

    pub fn from_db(s: String) -> Email {
        Email(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's name as shown in fieldkit: 1 to 200 characters, no control characters.
pub fn parse_display_name(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
        Err("Enter a name of 1 to 200 characters.".into())
    } else {
        Ok(s.to_owned())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Role {
    Researcher,
    Reviewer,
    Analyst,
    Participant,
    /// Completes the study's instruments (fidelity checklists,
    /// questionnaires) as themselves; sees no identities and no one else's
    /// answers.
    Rater,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Researcher => "researcher",
            Role::Reviewer => "reviewer",
            Role::Analyst => "analyst",
            Role::Participant => "participant",
            Role::Rater => "rater",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Researcher => "Researcher",
            Role::Reviewer => "Ethics reviewer",
            Role::Analyst => "Analyst",
            Role::Participant => "Participant",
            Role::Rater => "Rater",
        }
    }

    /// What the role may do, in one line, for where it is granted.
    pub fn explained(self) -> &'static str {
        match self {
            Role::Researcher => "Enrols participants, takes consent, logs fieldwork and may open identities, with a reason that is audited.",
            Role::Reviewer => "Reads the consent register, the records' copies and the audit trail; never sees who participants are.",
            Role::Analyst => "Receives anonymised datasets to analyse; sees no identities and no consent forms' signatures.",
            Role::Participant => "A participant with their own account: sees their own consent and choices, nothing else.",
            Role::Rater => "Completes checklists and questionnaires as themselves; sees no identities and no one else's answers.",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::Researcher,
            Role::Reviewer,
            Role::Analyst,
            Role::Participant,
            Role::Rater,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Everything anyone may do. Instance permissions need the admin flag; study
/// permissions come from a role in that study (or, for configuration, admin).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Permission {
    /// Create and disable accounts, unlock sign-in, grant admin.
    ManageAccounts,
    /// Create studies.
    CreateStudies,
    /// Read the whole instance's audit trail and verify it.
    ViewInstanceAudit,
    /// See a study's title, references, status, sites and teams.
    ViewStudy,
    /// See who works on a study and in which role.
    ViewMembers,
    /// Change a study's details, sites and teams.
    EditStudy,
    /// Add and remove members and set their roles and sites.
    ManageMembers,
    /// Read the study's audit trail.
    ViewStudyAudit,
    /// Enrol participants and manage their study records (site-scoped).
    EnrolParticipants,
    /// Read a participant's identity from the encrypted vault; every read is audited.
    RevealIdentity,
    /// Take consent in person or by phone, and record capacity and withdrawal.
    TakeConsent,
    /// Read the consent register: records, answers, PDFs, no identities.
    ViewConsentRegister,
    /// See one's own part in a study (consent records and PDFs), change one's
    /// optional choices and withdraw: a participant, about themselves only.
    ManageOwnParticipation,
    /// Complete instruments (as oneself, or a researcher entering a paper
    /// form for a rater named by a code).
    RateInstruments,
    /// Read every response, score, outcome and agreement figure of the study's instruments.
    ViewInstrumentResults,
    /// Import instrument definitions into the study and rescore responses.
    ManageInstruments,
    /// Log encounters, upload and play recordings, import, redact and quote
    /// transcripts, move films and photos towards publication (site-scoped).
    RecordFieldwork,
    /// Read redacted transcripts and the quotes consent allows, never the
    /// recordings or the raw text.
    ViewRedactedFieldwork,
    /// See that fieldwork passed its consent checks: counts and gate
    /// decisions, never content.
    ViewFieldworkChecks,
}

impl Permission {
    pub const ALL: [Permission; 19] = [
        Permission::ManageAccounts,
        Permission::CreateStudies,
        Permission::ViewInstanceAudit,
        Permission::ViewStudy,
        Permission::ViewMembers,
        Permission::EditStudy,
        Permission::ManageMembers,
        Permission::ViewStudyAudit,
        Permission::EnrolParticipants,
        Permission::RevealIdentity,
        Permission::TakeConsent,
        Permission::ViewConsentRegister,
        Permission::ManageOwnParticipation,
        Permission::RateInstruments,
        Permission::ViewInstrumentResults,
        Permission::ManageInstruments,
        Permission::RecordFieldwork,
        Permission::ViewRedactedFieldwork,
        Permission::ViewFieldworkChecks,
    ];

    pub fn is_instance_wide(self) -> bool {
        matches!(
            self,
            Permission::ManageAccounts | Permission::CreateStudies | Permission::ViewInstanceAudit
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ManageAccounts => "manage_accounts",
            Permission::CreateStudies => "create_studies",
            Permission::ViewInstanceAudit => "view_instance_audit",
            Permission::ViewStudy => "view_study",
            Permission::ViewMembers => "view_members",
            Permission::EditStudy => "edit_study",
            Permission::ManageMembers => "manage_members",
            Permission::ViewStudyAudit => "view_study_audit",
            Permission::EnrolParticipants => "enrol_participants",
            Permission::RevealIdentity => "reveal_identity",
            Permission::TakeConsent => "take_consent",
            Permission::ViewConsentRegister => "view_consent_register",
            Permission::ManageOwnParticipation => "manage_own_participation",
            Permission::RateInstruments => "rate_instruments",
            Permission::ViewInstrumentResults => "view_instrument_results",
            Permission::ManageInstruments => "manage_instruments",
            Permission::RecordFieldwork => "record_fieldwork",
            Permission::ViewRedactedFieldwork => "view_redacted_fieldwork",
            Permission::ViewFieldworkChecks => "view_fieldwork_checks",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub study_id: StudyId,
    pub role: Role,
    /// Empty: every site of the study.
    pub sites: Vec<SiteId>,
}

/// How the actor proved who they are.
#[derive(Clone, Debug)]
pub enum Credential {
    Session,
    /// The operator at the server's command line (`fieldkit demo`).
    CommandLine,
    ApiToken {
        id: ApiTokenId,
        study_id: StudyId,
        permissions: Vec<Permission>,
    },
}

/// The signed-in account a request acts as, with everything the policy needs.
#[derive(Clone, Debug)]
pub struct Actor {
    pub account_id: AccountId,
    pub display_name: String,
    pub is_admin: bool,
    pub memberships: Vec<Membership>,
    pub credential: Credential,
    /// The account has a confirmed second factor.
    pub second_factor: bool,
    /// The session was started with a password that no longer meets the
    /// policy: the person is asked to change it.
    pub password_change_due: bool,
}

impl Actor {
    pub fn membership(&self, study: &StudyId) -> Option<&Membership> {
        self.memberships.iter().find(|m| &m.study_id == study)
    }

    /// The server operator, acting from the command line with administrator rights.
    pub fn command_line() -> Actor {
        Actor {
            account_id: AccountId::from_db("00000000-0000-0000-0000-000000000000".into()),
            display_name: "command line".into(),
            is_admin: true,
            memberships: Vec::new(),
            credential: Credential::CommandLine,
            second_factor: false,
            password_change_due: false,
        }
    }
}

impl crate::audit::Author for Actor {
    /// By account id, never by name or email.
    fn audit_ref(&self) -> String {
        match self.credential {
            Credential::CommandLine => "system:command-line".into(),
            _ => format!("account:{}", self.account_id),
        }
    }

    /// The role this actor acts in (in `study`, if given).
    fn audit_role(&self, study: Option<&StudyId>) -> &'static str {
        match study.and_then(|s| self.membership(s)) {
            Some(m) => m.role.as_str(),
            None if self.is_admin => "admin",
            None => "account",
        }
    }
}

/// An account as administrators see it.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Account {
    pub id: AccountId,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub disabled: bool,
    /// False until the person has accepted their invitation and set a password.
    pub active: bool,
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ana.Lee@Example.AC.uk ").unwrap().as_str(),
            "ana.lee@example.ac.uk"
        );
        for bad in [
            "", "ana", "ana@", "@x.uk", "ana@uk", "a b@x.uk", "a@x\n.uk", "a@b@x.uk", "<a@x.uk>",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn roles_round_trip() {
        for r in [
            Role::Researcher,
            Role::Reviewer,
            Role::Analyst,
            Role::Participant,
        ] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
