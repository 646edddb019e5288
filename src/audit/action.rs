//! Every kind of audit entry, each with its details as types. There is no way
//! to put free JSON into the trail: a detail is an id, a study code, a key
//! checked for its shape, a day, a hash, a count, a flag, or a `&'static str`
//! (an enumeration's name, fixed when fieldkit was built), so a participant's
//! name, email or any other identity value has no field to go into and does
//! not compile. The only text people type that enters the trail is the
//! study's own description (titles, site and team names) and, in the entry's
//! reason, the "why" of a change, which the callers check.
//!
//! The audit module sits below every capability, so it names their
//! enumerations by their `as_str()` names rather than importing their types.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ids::{AccountId, ConsentRecordId, FormVersionId, SiteId, StudyCode};

/// An old value and the new one.
#[derive(Clone, Debug, Serialize)]
pub struct Change<T> {
    pub old: T,
    pub new: T,
}

#[derive(Clone, Debug, Serialize)]
pub struct AdminFlag {
    pub is_admin: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Disabled {
    pub disabled: bool,
}

/// How an account came to exist.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum Via {
    #[serde(rename = "setup link")]
    SetupLink,
    #[serde(rename = "command line")]
    CommandLine,
}

/// A key from a consent form or instrument file (a form id, a clause key, a
/// decision): lowercase letters, digits, `_` and `-`, at most 64.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Key(String);

impl Key {
    pub fn parse(raw: &str) -> Option<Key> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        ok.then(|| Key(raw.to_owned()))
    }

    /// A key as a published form or instrument holds it: checked when its
    /// file was published, so taken as it is (a database edited by hand
    /// must not stop consent from being recorded).
    pub fn published(raw: &str) -> Key {
        Key(raw.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A calendar day, YYYY-MM-DD.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct Day(String);

impl From<chrono::NaiveDate> for Day {
    fn from(d: chrono::NaiveDate) -> Day {
        Day(d.format("%Y-%m-%d").to_string())
    }
}

/// A SHA-256 hash, hex.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// The hex form of a SHA-256 hash; anything else is not one.
    pub fn parse(hex: &str) -> Option<Sha256Hex> {
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Sha256Hex(hex.to_ascii_lowercase()))
    }
}

/// What a withdrawal stops.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Scope {
    pub no_contact: bool,
    pub no_collection: bool,
    pub remove_identifiable: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct NewToken {
    pub permissions: Vec<&'static str>,
    pub expires_at: i64,
}

/// A study's description, as an administrator entered it.
#[derive(Clone, Debug, Serialize)]
pub struct StudyDetails {
    pub title: String,
    pub slug: String,
    pub iras_id: Option<String>,
    pub rec_reference: Option<String>,
    pub lawful_basis: &'static str,
    pub retention_years: i32,
    pub status: &'static str,
    pub code_prefix: String,
    pub mca_approved: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct SiteName {
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct NewTeam {
    pub site_id: SiteId,
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm: Option<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RoleAndSites {
    pub role: &'static str,
    pub site_ids: Vec<SiteId>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Enrolled {
    pub study_code: StudyCode,
    pub site_id: SiteId,
    pub stakeholder_group: &'static str,
    pub has_account: bool,
}

/// The filters of a register export.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RegisterFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form_id: Option<Key>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Day>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Day>,
}

/// What happened to identifiable data when someone withdrew.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Erasure {
    NotAsked,
    Erased,
    Refused,
}

impl Erasure {
    pub fn as_str(self) -> &'static str {
        match self {
            Erasure::NotAsked => "not_asked",
            Erasure::Erased => "erased",
            Erasure::Refused => "refused",
        }
    }
}

/// The action and its details, as the trail stores them: `action` names the
/// kind (`consent.record`), `details` holds the typed fields.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "action", content = "details")]
pub enum Action {
    /// `second_factor` names what completed it (`totp`, `recovery_code`),
    /// absent for an account without one.
    #[serde(rename = "auth.login")]
    Login {
        #[serde(skip_serializing_if = "Option::is_none")]
        second_factor: Option<&'static str>,
    },
    #[serde(rename = "auth.login_failed")]
    LoginFailed,
    #[serde(rename = "auth.logout")]
    Logout,
    #[serde(rename = "auth.password_change")]
    PasswordChange,
    /// A wrong current password when changing one's password.
    #[serde(rename = "auth.password_change_failed")]
    PasswordChangeFailed,
    #[serde(rename = "auth.password_reset")]
    PasswordReset,
    #[serde(rename = "auth.password_reset_requested")]
    PasswordResetRequested,
    /// A wrong, replayed or used-up code at a second-factor step.
    #[serde(rename = "auth.second_factor_failed")]
    SecondFactorFailed,
    #[serde(rename = "second_factor.enrol")]
    SecondFactorEnrol,
    /// Turned off by the person themselves.
    #[serde(rename = "second_factor.remove")]
    SecondFactorRemove,
    /// Reset by an administrator; why is the entry's reason.
    #[serde(rename = "second_factor.reset")]
    SecondFactorReset { had_one: bool },
    #[serde(rename = "second_factor.recovery_codes_renew")]
    RecoveryCodesRenew,
    #[serde(rename = "auth.unlock")]
    Unlock { cleared: bool },
    #[serde(rename = "account.create")]
    AccountCreate { new: AdminFlag, via: Via },
    #[serde(rename = "account.invite")]
    AccountInvite { new: AdminFlag },
    #[serde(rename = "account.activate")]
    AccountActivate,
    #[serde(rename = "account.disable")]
    AccountDisable(Change<Disabled>),
    #[serde(rename = "account.enable")]
    AccountEnable(Change<Disabled>),
    #[serde(rename = "account.role_change")]
    AccountRoleChange(Change<AdminFlag>),
    #[serde(rename = "api_token.create")]
    TokenCreate { new: NewToken },
    /// `route` is the operation's path template, never the path as sent.
    #[serde(rename = "api_token.used")]
    TokenUsed {
        method: &'static str,
        route: &'static str,
    },
    #[serde(rename = "api_token.revoke")]
    TokenRevoke,
    #[serde(rename = "study.create")]
    StudyCreate { new: StudyDetails },
    #[serde(rename = "study.update")]
    StudyUpdate(Change<StudyDetails>),
    #[serde(rename = "site.create")]
    SiteCreate { new: SiteName },
    #[serde(rename = "team.create")]
    TeamCreate { new: NewTeam },
    #[serde(rename = "membership.create")]
    MembershipCreate {
        account_id: AccountId,
        new: RoleAndSites,
    },
    #[serde(rename = "membership.role_change")]
    MembershipRoleChange {
        account_id: AccountId,
        old: RoleAndSites,
        new: RoleAndSites,
    },
    #[serde(rename = "membership.remove")]
    MembershipRemove {
        account_id: AccountId,
        old: RoleAndSites,
    },
    #[serde(rename = "participant.enrol")]
    Enrol {
        new: Enrolled,
        identity_fields: Vec<&'static str>,
    },
    /// The fields shown, never their values.
    #[serde(rename = "identity.reveal")]
    Reveal {
        fields: Vec<&'static str>,
        site_id: SiteId,
    },
    /// A reason that repeated the participant's details was refused.
    #[serde(rename = "identity.reveal_refused")]
    RevealRefused,
    /// A system use of the participant's email (to send them what they are owed).
    #[serde(rename = "identity.use")]
    IdentityUse {
        purpose: &'static str,
        field: &'static str,
    },
    #[serde(rename = "consent_form.publish")]
    FormPublish {
        form_id: Key,
        version: i32,
        /// A translation's language; absent for the form itself.
        #[serde(skip_serializing_if = "Option::is_none")]
        language: Option<Key>,
        content_hash: Sha256Hex,
    },
    #[serde(rename = "consent.record")]
    ConsentRecord {
        study_code: StudyCode,
        form_id: Key,
        form_version: i32,
        /// The translation read; absent when the form's own language was.
        #[serde(skip_serializing_if = "Option::is_none")]
        language: Option<Key>,
        method: &'static str,
        /// Clause key to whether it was agreed.
        answers: BTreeMap<Key, bool>,
        supersedes: Option<ConsentRecordId>,
        record_hash: Sha256Hex,
        pdf_sha256: Sha256Hex,
    },
    #[serde(rename = "consent.invite")]
    ConsentInvite {
        study_code: StudyCode,
        form_id: Key,
        form_version: i32,
        emailed: bool,
    },
    /// Why erasure was refused goes into the entry's reason.
    #[serde(rename = "consent.withdraw")]
    Withdraw {
        study_code: StudyCode,
        scope: Scope,
        reason_given: bool,
        /// request, objection or consultee_advice.
        basis: &'static str,
        confirmation_emailed: bool,
        erasure: Erasure,
        invitations_cancelled: u64,
        /// Typed-name signatures and paper scans erased from consent records.
        signatures_erased: u64,
    },
    #[serde(rename = "consent.objection")]
    Objection {
        study_code: StudyCode,
        withdrawn_from: &'static str,
    },
    #[serde(rename = "consent.register_export")]
    RegisterExport { filter: RegisterFilter, rows: usize },
    #[serde(rename = "capacity.assess")]
    CapacityAssess {
        study_code: StudyCode,
        decision: Key,
        assessed_on: Day,
        outcome: &'static str,
        notes_given: bool,
        flag_cleared: bool,
    },
    #[serde(rename = "capacity.changed")]
    CapacityChanged { study_code: StudyCode },
    #[serde(rename = "consultee.advice")]
    ConsulteeAdvice {
        study_code: StudyCode,
        consultee_kind: &'static str,
        advice: &'static str,
        form_version_id: Option<FormVersionId>,
        /// What the advice did: consent_recorded, kept_from_taking_part,
        /// withdrawn or already_withdrawn.
        effect: &'static str,
    },
    /// An instrument version loaded from a file (`origin` "file") or
    /// imported into a study from an XLSForm or a REDCap data dictionary
    /// (`origin` "import").
    #[serde(rename = "instrument.load")]
    InstrumentLoad {
        instrument_id: Key,
        version: u32,
        origin: &'static str,
        content_hash: Sha256Hex,
    },
    /// A response begun. The subject is a study code for a participant, or
    /// the team's or site's id; `on_behalf` when a researcher entered a
    /// paper form for a rater named by a code.
    #[serde(rename = "instrument.response_start")]
    ResponseStart {
        instrument_id: Key,
        version: u32,
        subject_kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        study_code: Option<StudyCode>,
        rater_role: &'static str,
        on_behalf: bool,
        time_point: Key,
    },
    /// A response submitted: how many items were answered and scores
    /// computed (never the answers), and for a participant the consent
    /// record the permission rested on.
    #[serde(rename = "instrument.response_submit")]
    ResponseSubmit {
        answered: usize,
        scores: usize,
        engine_version: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        consent_record_id: Option<ConsentRecordId>,
    },
    /// Stored scores recomputed; `changed` is how many responses' scores
    /// differed and were replaced.
    #[serde(rename = "instrument.rescore")]
    Rescore {
        instrument_id: Key,
        version: u32,
        responses: usize,
        changed: usize,
        engine_version: u32,
    },
    /// An encounter logged: its kind and the participants present by study
    /// code, each of whom passed the take-part gate.
    #[serde(rename = "fieldwork.encounter")]
    Encounter {
        kind: &'static str,
        participants: Vec<StudyCode>,
    },
    /// A media item added: its kind, stored or a reference, its size and
    /// checksum, and the people in it by study code with the consent use
    /// each held (never the file's name or a location).
    #[serde(rename = "fieldwork.media_add")]
    MediaAdd {
        kind: &'static str,
        storage: &'static str,
        size_bytes: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        sha256: Option<Sha256Hex>,
        people: Vec<StudyCode>,
        consent_use: String,
    },
    /// A recording or file sent to someone: which bytes.
    #[serde(rename = "fieldwork.media_read")]
    MediaRead {
        #[serde(skip_serializing_if = "Option::is_none")]
        range: Option<String>,
    },
    /// A film or photo moved towards (or away from) public use; for
    /// approval and publication, the uses everyone in it held.
    #[serde(rename = "fieldwork.publication")]
    Publication {
        from: &'static str,
        to: &'static str,
        people: Vec<StudyCode>,
        uses: Vec<String>,
    },
    /// Items a participant is in, flagged for take-down because their
    /// consent changed.
    #[serde(rename = "fieldwork.takedown_flag")]
    TakedownFlag { study_code: StudyCode, items: usize },
    /// A participant's media after withdrawal with removal of identifiable
    /// data: how many objects were removed, how many kept (each with its
    /// reason in the media erasure log), and how many of their turns blanked.
    #[serde(rename = "fieldwork.erasure")]
    MediaErasure {
        study_code: StudyCode,
        removed: usize,
        kept: usize,
        turns_blanked: u64,
    },
    /// A transcript imported: its format, how many turns and speakers, and
    /// how many redactions were suggested.
    #[serde(rename = "fieldwork.transcript_import")]
    TranscriptImport {
        format: &'static str,
        turns: usize,
        speakers: usize,
        suggestions: usize,
    },
    /// Speakers mapped, by study code (or interviewer).
    #[serde(rename = "fieldwork.speakers")]
    SpeakersMapped { mapped: Vec<String> },
    /// A transcript's status changed; for redaction, how many spans.
    #[serde(rename = "fieldwork.transcript_status")]
    TranscriptStatus {
        status: &'static str,
        redactions: usize,
    },
    /// The raw words of a transcript, or its sealed original, read.
    #[serde(rename = "fieldwork.transcript_read")]
    TranscriptRead { raw: bool },
    /// A quote marked, by the speaker's study code and theme, with the
    /// consent record the quotes use rested on.
    #[serde(rename = "fieldwork.quote")]
    QuoteMark {
        study_code: StudyCode,
        consent_record_id: ConsentRecordId,
    },
    /// The usable quotes exported: how many, and how many were blocked.
    #[serde(rename = "fieldwork.quotes_export")]
    QuotesExport { usable: usize, blocked: usize },
    #[serde(rename = "audit.export")]
    AuditExport { entries: i64 },
    #[serde(rename = "vault.rotate_key")]
    VaultRotateKey {
        rows: u64,
        from_versions: Vec<u16>,
        to_version: u16,
    },
}

impl Action {
    /// The action's name and its details as JSON text.
    pub fn encode(&self) -> (String, String) {
        let mut value = serde_json::to_value(self).expect("an audit action serialises");
        let name = value["action"]
            .as_str()
            .expect("every action has a name")
            .to_owned();
        let details = match value.get_mut("details").map(serde_json::Value::take) {
            Some(serde_json::Value::Null) | None => serde_json::json!({}),
            Some(d) => d,
        };
        (name, details.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_encode_to_their_names_and_details() {
        let login = |second_factor| Action::Login { second_factor }.encode();
        assert_eq!(login(None), ("auth.login".into(), "{}".into()));
        assert_eq!(login(Some("totp")).1, r#"{"second_factor":"totp"}"#);
        let (name, details) = Action::Unlock { cleared: true }.encode();
        assert_eq!(name, "auth.unlock");
        assert_eq!(details, r#"{"cleared":true}"#);
        let (name, details) = Action::AccountDisable(Change {
            old: Disabled { disabled: false },
            new: Disabled { disabled: true },
        })
        .encode();
        assert_eq!(name, "account.disable");
        assert_eq!(
            details,
            r#"{"new":{"disabled":true},"old":{"disabled":false}}"#
        );
    }

    #[test]
    fn keys_days_and_hashes_hold_only_their_shapes() {
        assert!(Key::parse("take_part").is_some());
        assert!(Key::parse("Ana Lee").is_none());
        assert!(Key::parse("ana@example.ac.uk").is_none());
        assert!(Key::parse("").is_none());
        assert!(Sha256Hex::parse(&"ab".repeat(32)).is_some());
        assert!(Sha256Hex::parse("Ana Lee").is_none());
    }
}
