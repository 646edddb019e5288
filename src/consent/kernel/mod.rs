//! The consent records kernel: the one place consent records and withdrawals
//! are written, below every capability that writes them (a researcher taking
//! consent, a participant online or changing their choices, a consultee's
//! advice, an objection, the participant withdrawing).
//!
//! The pattern every write follows: check and seal the input outside any
//! transaction (`prepare`), then open a transaction, `lock` the participant,
//! and `record` or `withdraw`, which decide on what was read after that lock:
//! whether they withdrew, whether they lack capacity, which record is their
//! current one, which form version is current. The caller owns the
//! transaction, so it can store its own rows (the consultee's advice, the
//! objection) in the same commit. The database guards the chain too: a
//! record is superseded by at most one other, and a participant has one
//! first record (see migrations/*/0008).

pub mod model;
pub mod pdf;
pub mod store;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use self::model::{
    check_answers, parse_signature, ClauseAnswer, ConsentMethod, EffectiveConsent, RecordContent,
    Submitted, WithdrawalBasis, WithdrawalScope,
};
use self::pdf::{document, CopyOf};
use crate::app::App;
use crate::audit::action::{Erasure, Key, Scope, Sha256Hex};
use crate::audit::{self, Action, Entity, NewEntry};
use crate::auth::model::Actor;
use crate::consent::forms::model::ConsentFormVersion;
use crate::db::Tx;
use crate::error::{AppError, Result};
use crate::ids::{ConsentRecordId, FormVersionId, MediaObjectId, ParticipantId, WithdrawalId};
use crate::mail::{Attachment, Template};
use crate::media::store::Cause;
use crate::participants::model::{Participant, ParticipantStatus};

/// A participant, locked for a decision, with everything the decision rests
/// on, read after the lock.
pub struct Locked {
    pub participant: Participant,
    pub withdrawn: WithdrawalScope,
    pub lacks_capacity: bool,
    /// Their current record and its form version.
    pub latest: Option<(ConsentRecordId, FormVersionId)>,
}

impl Locked {
    /// Withdrawn from further data collection: no new consent may land.
    pub fn stopped_collection(&self) -> bool {
        self.withdrawn.no_collection || self.participant.status == ParticipantStatus::Withdrawn
    }
}

/// Locks the participant's row for the rest of `tx` and reads their consent
/// state after the lock.
pub async fn lock(tx: &mut Tx, participant: &ParticipantId) -> Result<Locked> {
    let participant = crate::participants::store::lock(tx, participant).await?;
    let conn = tx.conn();
    Ok(Locked {
        withdrawn: store::withdrawn(conn, &participant.id).await?,
        lacks_capacity: store::lacks_capacity(conn, &participant.id).await?,
        latest: store::latest_record(conn, &participant.id).await?,
        participant,
    })
}

/// Where a participant's consent stands, each part read once.
pub struct Standing {
    /// Their current record and its form version; None before any consent.
    pub latest: Option<(ConsentRecordId, FormVersionId)>,
    /// Everything their withdrawals stopped.
    pub withdrawn: WithdrawalScope,
    /// The uses of their current record minus what the withdrawals stopped.
    pub effective: Option<EffectiveConsent>,
}

/// The participant's consent as it stands.
pub async fn standing(conn: &mut AnyConnection, participant: &ParticipantId) -> Result<Standing> {
    let latest = store::latest_record(conn, participant).await?;
    let withdrawn = store::withdrawn(conn, participant).await?;
    let effective = match &latest {
        Some((record_id, _)) => {
            let recorded = store::agreed_uses(conn, record_id).await?;
            Some(EffectiveConsent::new(
                record_id.clone(),
                recorded,
                withdrawn,
            ))
        }
        None => None,
    };
    Ok(Standing {
        latest,
        withdrawn,
        effective,
    })
}

/// A consent about to be recorded, as given.
pub struct Consent<'a> {
    pub form: &'a ConsentFormVersion,
    pub method: ConsentMethod,
    pub answers: &'a BTreeMap<String, Submitted>,
    /// The typed name (or, for a consultee's advice, the consultee's).
    pub signature: Option<&'a str>,
    pub verbal_record: Option<&'a str>,
    /// The paper form's scan, already in the media store (`Staged`): placed
    /// by the caller in the same transaction, before `record`.
    pub scan: Option<Scan>,
    /// The researcher who took the consent and countersigns it; None when
    /// the participant gave it themselves.
    pub witness: Option<&'a Actor>,
    /// The consent rests on a consultee's advice (MCA s.32), for someone
    /// lacking capacity; without it such a person cannot consent.
    pub by_consultee: bool,
    /// Email the participant a copy with the PDF attached (when they have an email).
    pub send_copy: bool,
}

/// A scan of a signed paper form, as the media store received it.
pub struct Scan {
    pub object: MediaObjectId,
    pub sha256: String,
}

/// A consent checked and sealed, ready for `record`.
pub struct Prepared<'a> {
    id: ConsentRecordId,
    c: Consent<'a>,
    answers: Vec<ClauseAnswer>,
    signature_sha256: Option<String>,
    signature_sealed: Option<String>,
}

/// Checks every answer (C2) and the signature, and seals what is sealed:
/// the work that needs no decision, done before any lock is taken.
pub fn prepare<'a>(app: &App, c: Consent<'a>) -> Result<Prepared<'a>> {
    // Both checked before either refuses, so every problem is named at once.
    let answers = check_answers(&c.form.form.clauses, c.answers);
    let signature = c
        .signature
        .map(|s| parse_signature("signature", s))
        .transpose();
    let (answers, signature) = match (answers, signature) {
        (Ok(a), Ok(s)) => (a, s),
        (a, s) => {
            let mut problems = a
                .err()
                .map(|e| e.field_problems().to_vec())
                .unwrap_or_default();
            problems.extend(
                s.err()
                    .map(|e| e.field_problems().to_vec())
                    .unwrap_or_default(),
            );
            return Err(AppError::Invalid(problems));
        }
    };
    let id = ConsentRecordId::new();
    let seal = |column, value: &str| {
        app.vault
            .seal("consent_records", column, id.as_str(), value)
    };
    Ok(Prepared {
        signature_sha256: signature
            .as_ref()
            .map(|s| hex::encode(Sha256::digest(s.as_bytes()))),
        signature_sealed: signature.as_deref().map(|s| seal("signature", s)),
        answers,
        id,
        c,
    })
}

/// Records a prepared consent for the locked participant inside the caller's
/// transaction: refused if they withdrew, if they lack capacity and no
/// consultee advised, or if the form version is not the current one;
/// otherwise it supersedes their current record, gets its PDF copy, sets
/// them consented, is audited and (when asked) emailed. Wake the mailer
/// after commit.
pub async fn record(tx: &mut Tx, app: &App, locked: &Locked, p: Prepared<'_>) -> Result<Recorded> {
    let participant = &locked.participant;
    let c = &p.c;
    if locked.stopped_collection() {
        return Err(AppError::Conflict(format!(
            "{} has been withdrawn from further data collection; no new consent can be recorded.",
            participant.study_code
        )));
    }
    if locked.lacks_capacity && !c.by_consultee {
        return Err(AppError::Conflict(format!(
            "{} was assessed as lacking capacity to decide about taking part, so they cannot consent themselves: record a consultee's advice instead (Mental Capacity Act s.32), in a study approved under the Act.",
            participant.study_code
        )));
    }
    let study = &participant.study_id;
    let current =
        crate::consent::forms::store::current(tx.conn(), study, &c.form.form.form_id).await?;
    if current.as_ref().map(|f| &f.id) != Some(&c.form.id) {
        return Err(AppError::Conflict(format!(
            "Version {} of form {} is not the current version; use the newest one.",
            c.form.form.version, c.form.form.form_id
        )));
    }
    let study_details = crate::studies::store::get_study(tx.conn(), study).await?;
    let now = app.now();
    let supersedes = locked.latest.as_ref().map(|(id, _)| id);
    let taken_by = c.witness.map(|w| &w.account_id);
    let countersigned_at = c.witness.map(|_| now);
    let form = &c.form.form;
    let translated = form
        .translated_from
        .as_ref()
        .map(|_| form.language.as_str());
    let content = RecordContent {
        record_id: &p.id,
        study_id: study,
        study_code: &participant.study_code,
        form_id: &form.form_id,
        form_version: form.version,
        language: translated,
        form_content_hash: &form.content_hash,
        information_sheet_version: &form.information_sheet_version,
        information_sheet_date: form.information_sheet_date.to_string(),
        method: c.method,
        answers: &p.answers,
        participant_signed_at: now,
        signature_sha256: p.signature_sha256.clone(),
        taken_by: taken_by.map(|a| a.as_str()),
        countersigned_at,
        verbal_record: c.verbal_record,
        scan_sha256: c.scan.as_ref().map(|s| s.sha256.as_str()),
        supersedes,
    };
    let record_hash = content.hash();
    let copy = CopyOf {
        study: &study_details,
        form: c.form,
        study_code: participant.study_code.as_str(),
        method: c.method,
        answers: &p.answers,
        signed_at: now,
        signature_sha256: p.signature_sha256.as_deref(),
        verbal_record: c.verbal_record,
        taken_by_name: c.witness.map(|w| w.display_name.as_str()),
        countersigned_at,
        record_hash: &record_hash,
    };
    let pdf = document(&copy).render().map_err(AppError::internal)?;
    let pdf_sha256 = hex::encode(Sha256::digest(&pdf));
    let new = store::NewRecord {
        id: &p.id,
        study_id: study,
        participant_id: &participant.id,
        form_version_id: &c.form.id,
        language: &form.language,
        method: c.method,
        supersedes_id: supersedes,
        signature_sealed: p.signature_sealed.as_deref(),
        participant_signed_at: now,
        taken_by,
        countersigned_at,
        verbal_record: c.verbal_record,
        scan_sha256: c.scan.as_ref().map(|s| s.sha256.as_str()),
        scan_object: c.scan.as_ref().map(|s| &s.object),
        record_hash: &record_hash,
        pdf: &pdf,
        pdf_sha256: &pdf_sha256,
    };
    store::insert_record(tx, &new, &p.answers, now)
        .await
        .map_err(|e| match &e {
            // The chain's own guard; the participant lock keeps it from firing.
            sqlx::Error::Database(d) if d.is_unique_violation() => AppError::Conflict(
                "Another consent for this participant was recorded at the same moment; look at their records and try again.".into(),
            ),
            _ => e.into(),
        })?;
    crate::participants::store::set_status(tx, &participant.id, ParticipantStatus::Consented, now)
        .await?;
    // A new record may decline a public use someone's published film rests on.
    crate::recordings::service::consent_changed(tx, app, participant).await?;
    let action = Action::ConsentRecord {
        study_code: participant.study_code.clone(),
        form_id: Key::published(&form.form_id),
        form_version: form.version,
        language: translated.map(Key::published),
        method: c.method.as_str(),
        answers: p
            .answers
            .iter()
            .map(|a| (Key::published(&a.key), a.agreed))
            .collect(),
        supersedes: supersedes.cloned(),
        record_hash: sha256(&record_hash)?,
        pdf_sha256: sha256(&pdf_sha256)?,
    };
    let entity = Entity::ConsentRecord(p.id.clone());
    let entry = match c.witness {
        Some(w) => NewEntry::by_in_study(w, study, action, entity),
        None => NewEntry::by_participant(&participant.id, action, entity).study(study),
    };
    audit::append(tx, now, entry).await?;
    let copy_emailed = c.send_copy
        && email_copy(
            tx,
            app,
            participant,
            c.form,
            &study_details.title,
            &pdf,
            now,
        )
        .await?;
    Ok(Recorded {
        id: p.id,
        copy_emailed,
    })
}

/// A consent as recorded.
pub struct Recorded {
    pub id: ConsentRecordId,
    /// A copy was emailed to the participant (asked for, and an address known).
    pub copy_emailed: bool,
}

fn sha256(hex: &str) -> Result<Sha256Hex> {
    Sha256Hex::parse(hex).ok_or_else(|| AppError::internal(anyhow::anyhow!("a malformed hash")))
}

/// A withdrawal as asked for (C6).
pub struct Withdrawal<'a> {
    pub scope: WithdrawalScope,
    /// The participant's own reason, if they gave one (sealed).
    pub reason: Option<&'a str>,
    /// When removal of identifiable data was asked for but cannot be done
    /// (for example, it would seriously impair analysis already under way): why.
    pub erasure_refused_because: Option<&'a str>,
    pub basis: WithdrawalBasis,
    /// The participant asked for the confirmation by email (never assumed).
    pub email_asked: bool,
}

impl Withdrawal<'_> {
    /// Refuses a withdrawal from nothing, before any lock is taken.
    pub fn check(&self) -> Result<()> {
        if self.scope.is_empty() {
            return Err(AppError::invalid(
                "scope",
                "Choose what the participant is withdrawing from.",
            ));
        }
        Ok(())
    }

    /// Is the confirmation emailed, given what they had withdrawn before?
    /// Once they have asked for no further contact (now or earlier), only
    /// when they asked for it. Never for a withdrawal on a consultee's
    /// advice: the person lacks capacity and did not ask; the researcher
    /// tells the consultee. Otherwise always (when there is an address).
    pub fn emails_confirmation(&self, before: WithdrawalScope) -> bool {
        match self.basis {
            WithdrawalBasis::ConsulteeAdvice => false,
            WithdrawalBasis::Request | WithdrawalBasis::Objection => {
                !before.union(self.scope).no_contact || self.email_asked
            }
        }
    }

    fn refusal(&self) -> Option<&str> {
        self.erasure_refused_because
            .map(str::trim)
            .filter(|r| !r.is_empty())
    }
}

/// A withdrawal as recorded.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct Withdrawn {
    pub id: WithdrawalId,
    /// A confirmation was queued for the participant's email address.
    pub confirmation_emailed: bool,
}

/// Records a withdrawal by `by` (a researcher, or the participant themselves)
/// inside the caller's transaction. Its effects are immediate: invitations
/// cancelled, further collection refused, the confirmation queued before any
/// erasure, and the identity and the sealed signatures erased where asked and
/// not refused; the confirmation is emailed only as `emails_confirmation`
/// says. Wake the mailer after commit.
pub async fn withdraw(
    tx: &mut Tx,
    app: &App,
    locked: &Locked,
    by: &Actor,
    w: &Withdrawal<'_>,
) -> Result<Withdrawn> {
    w.check()?;
    let p = &locked.participant;
    let refusal = w.refusal();
    let erasure = match (w.scope.remove_identifiable, refusal) {
        (false, _) => Erasure::NotAsked,
        (true, None) => Erasure::Erased,
        (true, Some(_)) => Erasure::Refused,
    };
    let id = WithdrawalId::new();
    let reason = w.reason.map(str::trim).filter(|r| !r.is_empty());
    let reason_sealed = reason.map(|r| app.vault.seal("withdrawals", "reason", id.as_str(), r));
    let now = app.now();
    let cancelled = store::cancel_invitations(tx, &p.id, now).await?;
    if w.scope.no_collection {
        crate::participants::store::set_status(tx, &p.id, ParticipantStatus::Withdrawn, now)
            .await?;
    }
    // Before any erasure: the outbox forgets the address once the confirmation is sent.
    let emailed = if w.emails_confirmation(locked.withdrawn) {
        let confirmation = withdrawal_confirmation(tx, locked, w.scope, erasure, refusal).await?;
        email_participant(
            tx,
            app,
            p,
            Template::WithdrawalConfirmation,
            "Your withdrawal from the study is recorded",
            confirmation,
            None,
        )
        .await?
    } else {
        false
    };
    let record = store::NewWithdrawal {
        id: &id,
        study_id: &p.study_id,
        participant_id: &p.id,
        scope: w.scope,
        reason_sealed: reason_sealed.as_deref(),
        recorded_by: &by.account_id,
        erasure: erasure.as_str(),
        erasure_refusal_reason: refusal,
        basis: w.basis,
        confirmation_emailed: emailed,
    };
    store::insert_withdrawal(tx, &record, now).await?;
    let mut signatures_erased = 0;
    if erasure == Erasure::Erased {
        crate::vault::service::erase(tx, app, &p.id).await?;
        signatures_erased = store::erase_signatures(tx, &p.id, now).await?;
        for scan in store::scans_of(tx, &p.id).await? {
            crate::media::service::erase(tx, app, &scan, Some(&p.id), Cause::Withdrawal).await?;
        }
        crate::recordings::service::erase_for(tx, app, p).await?;
    }
    crate::recordings::service::consent_changed(tx, app, p).await?;
    let action = Action::Withdraw {
        study_code: p.study_code.clone(),
        scope: Scope {
            no_contact: w.scope.no_contact,
            no_collection: w.scope.no_collection,
            remove_identifiable: w.scope.remove_identifiable,
        },
        reason_given: reason.is_some(),
        basis: w.basis.as_str(),
        confirmation_emailed: emailed,
        erasure,
        invitations_cancelled: cancelled,
        signatures_erased,
    };
    let entry = NewEntry::by_in_study(by, &p.study_id, action, Entity::Participant(p.id.clone()))
        .reason(refusal);
    audit::append(tx, now, entry).await?;
    Ok(Withdrawn {
        id,
        confirmation_emailed: emailed,
    })
}

/// What the form of a consent record says happens on withdrawal, if there
/// is a record.
pub async fn withdrawal_policy(
    conn: &mut AnyConnection,
    version: Option<&FormVersionId>,
) -> Result<Option<String>> {
    Ok(match version {
        Some(version) => Some(
            crate::consent::forms::store::get(conn, version)
                .await?
                .form
                .withdrawal_policy,
        ),
        None => None,
    })
}

/// What the withdrawal confirmation says: what was withdrawn, what happens to
/// the data already collected (the withdrawal policy of the form of their
/// current record, if any), and whether their details were erased.
async fn withdrawal_confirmation(
    tx: &mut Tx,
    locked: &Locked,
    scope: WithdrawalScope,
    erasure: Erasure,
    refusal: Option<&str>,
) -> Result<serde_json::Value> {
    let version = locked.latest.as_ref().map(|(_, version)| version);
    let policy = withdrawal_policy(tx.conn(), version).await?;
    let study_title = crate::studies::store::get_study(tx.conn(), &locked.participant.study_id)
        .await?
        .title;
    let withdrawn = scope.in_words();
    Ok(serde_json::json!({
        "study_title": study_title, "withdrawn": withdrawn, "withdrawal_policy": policy,
        "erasure": erasure.as_str(), "erasure_refusal_reason": refusal,
    }))
}

/// Sends the participant an email they are owed, through the outbox in the
/// caller's transaction, when the vault holds an address for them; reading it
/// is a system use of the identity (audited, without the value). True if sent.
pub async fn email_participant(
    tx: &mut Tx,
    app: &App,
    p: &Participant,
    template: Template,
    subject: &str,
    context: serde_json::Value,
    attachment: Option<&Attachment>,
) -> Result<bool> {
    let Some(to) =
        crate::vault::service::email_of(tx, app, &p.id, &p.study_id, template.name()).await?
    else {
        return Ok(false);
    };
    app.mailer
        .enqueue(tx, template, &to, subject, context, attachment, app.now())
        .await?;
    Ok(true)
}

/// The participant's copy of a consent record, with its PDF attached.
async fn email_copy(
    tx: &mut Tx,
    app: &App,
    p: &Participant,
    form: &ConsentFormVersion,
    study_title: &str,
    pdf: &[u8],
    signed_at: i64,
) -> Result<bool> {
    let filename = pdf::file_name(
        p.study_code.as_str(),
        &form.form.form_id,
        form.form.version,
        signed_at,
    );
    let context = serde_json::json!({ "study_title": study_title, "form_title": form.form.title,
                                      "form_version": form.form.version, "filename": filename });
    let attachment = Attachment {
        name: filename,
        content_type: "application/pdf".into(),
        bytes: pdf.to_vec(),
    };
    email_participant(
        tx,
        app,
        p,
        Template::ConsentCopy,
        "Your copy of your consent form",
        context,
        Some(&attachment),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn withdrawal(
        scope: WithdrawalScope,
        basis: WithdrawalBasis,
        asked: bool,
    ) -> Withdrawal<'static> {
        Withdrawal {
            scope,
            reason: None,
            erasure_refused_because: None,
            basis,
            email_asked: asked,
        }
    }

    const CONTACT: WithdrawalScope = WithdrawalScope {
        no_contact: true,
        no_collection: false,
        remove_identifiable: false,
    };
    const COLLECTION: WithdrawalScope = WithdrawalScope {
        no_contact: false,
        no_collection: true,
        remove_identifiable: false,
    };

    #[test]
    fn no_further_contact_is_emailed_only_when_asked() {
        let none = WithdrawalScope::default();
        let request = WithdrawalBasis::Request;
        assert!(!withdrawal(CONTACT, request, false).emails_confirmation(none));
        assert!(withdrawal(CONTACT, request, true).emails_confirmation(none));
        assert!(withdrawal(COLLECTION, request, false).emails_confirmation(none));
        // Asked earlier for no contact: a later withdrawal is not emailed either.
        assert!(!withdrawal(COLLECTION, request, false).emails_confirmation(CONTACT));
        assert!(withdrawal(COLLECTION, request, true).emails_confirmation(CONTACT));
        assert!(withdrawal(COLLECTION, WithdrawalBasis::Objection, false).emails_confirmation(none));
        assert!(
            !withdrawal(COLLECTION, WithdrawalBasis::ConsulteeAdvice, true)
                .emails_confirmation(none)
        );
    }
}
