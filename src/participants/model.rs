//! Participant types and rules. No I/O here.

use serde::Serialize;

pub use crate::ids::StudyCode;
use crate::ids::{ParticipantId, SiteId, StudyId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum StakeholderGroup {
    Student,
    PeerTrainer,
    Staff,
    Practitioner,
    ServiceUser,
    Carer,
    Other,
}

impl StakeholderGroup {
    pub const ALL: [StakeholderGroup; 7] = [
        StakeholderGroup::Student,
        StakeholderGroup::PeerTrainer,
        StakeholderGroup::Staff,
        StakeholderGroup::Practitioner,
        StakeholderGroup::ServiceUser,
        StakeholderGroup::Carer,
        StakeholderGroup::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StakeholderGroup::Student => "student",
            StakeholderGroup::PeerTrainer => "peer_trainer",
            StakeholderGroup::Staff => "staff",
            StakeholderGroup::Practitioner => "practitioner",
            StakeholderGroup::ServiceUser => "service_user",
            StakeholderGroup::Carer => "carer",
            StakeholderGroup::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StakeholderGroup::Student => "Recovery college student",
            StakeholderGroup::PeerTrainer => "Peer trainer",
            StakeholderGroup::Staff => "Staff",
            StakeholderGroup::Practitioner => "Practitioner",
            StakeholderGroup::ServiceUser => "Person using services",
            StakeholderGroup::Carer => "Carer",
            StakeholderGroup::Other => "Other",
        }
    }

    pub fn parse(s: &str) -> Option<StakeholderGroup> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum ParticipantStatus {
    Invited,
    Consented,
    Active,
    Withdrawn,
    Completed,
}

impl ParticipantStatus {
    pub const ALL: [ParticipantStatus; 5] = [
        ParticipantStatus::Invited,
        ParticipantStatus::Consented,
        ParticipantStatus::Active,
        ParticipantStatus::Withdrawn,
        ParticipantStatus::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantStatus::Invited => "invited",
            ParticipantStatus::Consented => "consented",
            ParticipantStatus::Active => "active",
            ParticipantStatus::Withdrawn => "withdrawn",
            ParticipantStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<ParticipantStatus> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// In words, for pages.
    pub fn label(self) -> &'static str {
        match self {
            ParticipantStatus::Invited => "Invited, not yet consented",
            ParticipantStatus::Consented => "Consented",
            ParticipantStatus::Active => "Taking part",
            ParticipantStatus::Withdrawn => "Withdrawn",
            ParticipantStatus::Completed => "Completed",
        }
    }
}

/// A participant as the research team sees them: never who they are.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Participant {
    pub id: ParticipantId,
    pub study_id: StudyId,
    /// The pseudonymous study code, e.g. RC-0042.
    pub study_code: StudyCode,
    pub site_id: SiteId,
    pub stakeholder_group: StakeholderGroup,
    pub status: ParticipantStatus,
    /// Whether the participant has their own fieldkit account.
    pub has_account: bool,
    /// Set when their capacity to consent may have changed.
    pub capacity_flag: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The filters of the participant list; empty means not filtered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParticipantFilter {
    pub status: Option<ParticipantStatus>,
    pub stakeholder_group: Option<StakeholderGroup>,
    pub site_id: Option<SiteId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_prefixed_and_zero_padded() {
        assert_eq!(StudyCode::new("RC", 42).as_str(), "RC-0042");
        assert_eq!(StudyCode::new("P", 12345).as_str(), "P-12345");
    }

    #[test]
    fn groups_and_statuses_round_trip() {
        for g in StakeholderGroup::ALL {
            assert_eq!(StakeholderGroup::parse(g.as_str()), Some(g));
        }
        assert_eq!(
            ParticipantStatus::parse("withdrawn"),
            Some(ParticipantStatus::Withdrawn)
        );
        assert_eq!(ParticipantStatus::parse("gone"), None);
    }
}
