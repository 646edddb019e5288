//! What the recordings capability keeps and returns: encounters, their media
//! items on the way to publication, transcripts with speakers mapped to
//! study codes, redactions and quotes.

use serde::Serialize;

use crate::consent::forms::model::DataUse;
use crate::ids::{EncounterId, MediaItemId, QuoteId, RedactionId, SiteId, StudyCode, TranscriptId};
use crate::media::kind::MediaKind;

/// A closed set of values stored as snake_case text: `as_str`, `parse`,
/// `label` and `ALL` from one list.
macro_rules! words {
    ($(#[$doc:meta])* $name:ident as $api:literal { $($variant:ident = $text:literal / $label:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, poem_openapi::Enum)]
        #[serde(rename_all = "snake_case")]
        #[oai(rename_all = "snake_case", rename = $api)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

words! {
    /// What kind of fieldwork an encounter was.
    EncounterKind as "EncounterKind" {
        VoxPop = "vox_pop" / "Vox pop",
        Interview = "interview" / "Interview",
        FocusGroup = "focus_group" / "Focus group",
        FilmShoot = "film_shoot" / "Film shoot",
    }
}

words! {
    /// Where a film or photo is on its way to public use.
    Publication as "Publication" {
        Draft = "draft" / "Draft",
        ParticipantReview = "participant_review" / "With participants for review",
        Approved = "approved" / "Approved for use",
        Published = "published" / "Published",
        TakenDown = "taken_down" / "Taken down",
    }
}

words! {
    /// Who speaker N of a transcript is.
    SpeakerRole as "SpeakerRole" {
        Unmapped = "unmapped" / "Not yet mapped",
        Participant = "participant" / "Participant",
        Interviewer = "interviewer" / "Interviewer",
    }
}

words! {
    /// How far a transcript has been checked: only a redacted one leaves the
    /// researchers' view.
    TranscriptStatus as "TranscriptStatus" {
        Raw = "raw" / "Raw",
        Checked = "checked" / "Checked against the recording",
        Redacted = "redacted" / "Redacted",
    }
}

words! {
    RedactionState as "RedactionState" {
        Suggested = "suggested" / "Suggested",
        Accepted = "accepted" / "Accepted",
        Rejected = "rejected" / "Rejected",
    }
}

impl Publication {
    /// The moves a researcher may make from here. Taking down is always
    /// open once an item left draft; a taken-down item starts again as a draft.
    pub fn may_move_to(self, to: Publication) -> bool {
        use Publication::*;
        matches!(
            (self, to),
            (Draft, ParticipantReview)
                | (ParticipantReview, Approved)
                | (ParticipantReview, Draft)
                | (Approved, Published)
                | (Approved, Draft)
                | (ParticipantReview | Approved | Published, TakenDown)
                | (TakenDown, Draft)
        )
    }

    /// Approval and publication rest on consent to public use.
    pub fn needs_public_consent(self) -> bool {
        matches!(self, Publication::Approved | Publication::Published)
    }
}

/// The consent a media item of this kind needs from everyone in it to be
/// kept at all.
pub fn recording_use(kind: MediaKind) -> DataUse {
    match kind {
        MediaKind::Audio => DataUse::AudioRecording,
        MediaKind::Video => DataUse::VideoRecording,
        MediaKind::Photo => DataUse::Photos,
        MediaKind::Document => DataUse::TakePart,
    }
}

/// An encounter as listed and shown.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Encounter {
    pub id: EncounterId,
    pub kind: EncounterKind,
    /// When it took place (ms since the Unix epoch, UTC).
    pub occurred_at: i64,
    /// The study site it belongs to.
    pub site_id: SiteId,
    /// Where exactly, in words, when that was not the site itself.
    pub location: Option<String>,
    pub prompt_set: Option<String>,
    pub duration_minutes: Option<i32>,
    pub notes: Option<String>,
    /// The interviewers, by name (staff, never participants).
    pub interviewers: Vec<String>,
    /// The participants present, by study code.
    pub participants: Vec<StudyCode>,
    pub media_count: i64,
}

/// A media item as listed and shown.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct MediaItem {
    pub id: MediaItemId,
    pub encounter_id: EncounterId,
    pub title: String,
    pub kind: MediaKind,
    pub media_type: String,
    pub size_bytes: u64,
    pub sha256: Option<String>,
    /// stored, external (a file on the team's storage) or erased.
    pub storage: String,
    pub publication: Publication,
    /// The uses public release needs from everyone in it.
    pub public_uses: Vec<String>,
    /// The identifiable people in it, by study code.
    pub people: Vec<StudyCode>,
    /// Someone in it withdrew or changed a choice since it was approved or
    /// published: take it down.
    pub takedown_flagged: bool,
    pub transcript_id: Option<TranscriptId>,
    pub created_at: i64,
}

/// A transcript's speaker and who they are.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
#[oai(rename = "TranscriptSpeaker")]
pub struct Speaker {
    /// Speaker N, in order of first appearance in the file.
    pub speaker: i32,
    pub role: SpeakerRole,
    pub study_code: Option<StudyCode>,
}

#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Turn {
    pub position: i32,
    pub speaker: Option<i32>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// The raw words (for those who record fieldwork) or the redacted ones.
    pub text: String,
}

#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Transcript {
    pub id: TranscriptId,
    pub media_item_id: MediaItemId,
    pub format: String,
    pub status: TranscriptStatus,
    pub speakers: Vec<Speaker>,
    pub turns: Vec<Turn>,
}

#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Redaction {
    pub id: RedactionId,
    pub position: i32,
    /// Characters (Unicode scalar values) into the turn's raw text.
    pub start: i32,
    pub end: i32,
    pub category: String,
    pub state: RedactionState,
    /// Why fieldkit suggested it, when it did.
    pub suggested_because: Option<String>,
    /// The bracketed tag it became, once applied.
    pub tag: Option<String>,
}

#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Quote {
    pub id: QuoteId,
    pub media_item_id: MediaItemId,
    pub position: i32,
    pub start: i32,
    pub end: i32,
    pub theme: String,
    pub study_code: StudyCode,
    /// The redacted words quoted; empty when the quote is blocked.
    pub text: String,
    /// The speaker holds the quotes consent now.
    pub usable: bool,
    pub blocked_because: Option<String>,
}
