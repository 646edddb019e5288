//! What the instruments capability keeps and returns: instrument versions,
//! responses and their scores.

use serde::Serialize;

use super::definition::{Definition, RaterRole, Subject};
use super::scoring::{Answers, Score};
use crate::ids::{AccountId, InstrumentVersionId, ResponseId, SiteId, StudyId};

/// An instrument version as fieldkit keeps it.
#[derive(Clone, Debug)]
pub struct InstrumentVersion {
    pub id: InstrumentVersionId,
    pub definition: Definition,
    pub content_hash: String,
    pub source: String,
    /// Set when it was imported into one study.
    pub study_id: Option<StudyId>,
}

/// An instrument version in a list: what a rater or researcher chooses from.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct InstrumentSummary {
    pub id: InstrumentVersionId,
    pub instrument_id: String,
    pub version: u32,
    pub title: String,
    pub subject: Subject,
    /// The licence and attribution notice, shown wherever the instrument is.
    pub licence: String,
    /// Set for a draft or placeholder definition.
    pub draft: Option<String>,
    pub rater_roles: Vec<RaterRole>,
    /// Where it came from: a shipped file, a deployment's folder or an import.
    pub source: String,
}

impl From<&InstrumentVersion> for InstrumentSummary {
    fn from(v: &InstrumentVersion) -> Self {
        let d = &v.definition;
        InstrumentSummary {
            id: v.id.clone(),
            instrument_id: d.id.clone(),
            version: d.version,
            title: d.title.clone(),
            subject: d.subject,
            licence: d.licence.clone(),
            draft: d.draft.clone(),
            rater_roles: d.rater_roles.clone(),
            source: v.source.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case", rename = "ResponseStatus")]
pub enum Status {
    Draft,
    Submitted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Draft, Status::Submitted]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One response. The subject is named by study code for a participant,
/// and by id and name for a team or site.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
#[oai(rename = "InstrumentResponse")]
pub struct Response {
    pub id: ResponseId,
    pub study_id: StudyId,
    pub instrument_version_id: InstrumentVersionId,
    pub instrument_id: String,
    pub version: u32,
    pub subject_kind: Subject,
    /// The participant's, team's or site's id.
    pub subject_id: String,
    /// A study code, or a team's or site's name.
    pub subject_label: String,
    pub rater_role: RaterRole,
    /// The code of a rater whose paper form a researcher entered.
    pub rater_code: Option<String>,
    pub entered_by: AccountId,
    pub time_point: String,
    pub status: Status,
    pub answers: Answers,
    /// Computed on submit; empty for a draft.
    pub scores: Vec<Score>,
    pub engine_version: Option<u32>,
    pub created_at: i64,
    pub updated_at: i64,
    pub submitted_at: Option<i64>,
    /// The subject's site.
    pub site_id: SiteId,
}
