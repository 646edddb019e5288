//! Taking consent (online by the participant, or by a researcher in person or
//! by phone), withdrawing it, and the copies. One path records every consent:
//! it refuses a withdrawn participant or a form version that is not current,
//! checks every answer, seals the signature, renders the PDF and audits, all
//! in one transaction.

use std::collections::BTreeMap;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::model::{
    check_answers, parse_signature, ConsentMethod, EffectiveConsent, RecordContent, Submitted,
    WithdrawalScope,
};
use super::pdf::{document, CopyOf};
use super::store;
use crate::app::App;
use crate::audit::{self, NewEntry};
use crate::auth::model::{Actor, Permission};
use crate::auth::service::{new_secret, secret_hash};
use crate::clock::DAY;
use crate::consent::capacity::service::ConsulteeAdvice;
use crate::consent::forms::model::ConsentFormVersion;
use crate::db::Tx;
use crate::error::{AppError, Result};
use crate::ids::{SiteId, StudyId};
use crate::mail::{self, Attachment, Template};
use crate::participants::model::{Participant, ParticipantStatus};

/// The participant's consent as it stands now, if they ever gave one.
pub async fn effective(app: &App, participant: &str) -> Result<Option<EffectiveConsent>> {
    let Some((record_id, _)) = store::latest_record(&app.db.pool, participant).await? else {
        return Ok(None);
    };
    Ok(Some(EffectiveConsent {
        agreed: store::agreed_uses(&app.db.pool, &record_id).await?,
        withdrawn: store::withdrawn(&app.db.pool, participant).await?,
        record_id,
    }))
}

/// Who recorded the consent, for the countersignature.
struct Witness<'a> {
    actor: &'a Actor,
}

/// A consent about to be recorded.
struct Consent<'a> {
    participant: &'a Participant,
    form: &'a ConsentFormVersion,
    method: ConsentMethod,
    answers: &'a BTreeMap<String, Submitted>,
    signature: Option<&'a str>,
    verbal_record: Option<&'a str>,
    scan: Option<&'a [u8]>,
    witness: Option<Witness<'a>>,
    /// For someone lacking capacity: the consultee's advice the consent rests
    /// on, stored with it (MCA s.32). Without it, such a person cannot consent.
    consultee: Option<&'a ConsulteeAdvice<'a>>,
    /// Email the participant a copy with the PDF attached (when they have an email).
    send_copy: bool,
}

/// The one path every consent is recorded through. Returns the record id.
async fn record(app: &App, c: Consent<'_>, invitation_hash: Option<&str>) -> Result<String> {
    let p = c.participant;
    let study = StudyId::from_db(p.study_id.clone());
    if store::withdrawn(&app.db.pool, &p.id).await?.no_collection
        || p.status == ParticipantStatus::Withdrawn
    {
        return Err(AppError::Conflict(format!(
            "{} has withdrawn; no new consent can be recorded.",
            p.study_code
        )));
    }
    if c.consultee.is_none()
        && crate::consent::capacity::store::lacks_capacity(&app.db.pool, &p.id).await?
    {
        return Err(AppError::Conflict(format!(
            "{} was assessed as lacking capacity to decide about taking part, so they cannot consent themselves: record a consultee's advice instead (Mental Capacity Act s.32), in a study approved under the Act.",
            p.study_code
        )));
    }
    let current =
        crate::consent::forms::service::current_version(app, &study, &c.form.form.form_id).await?;
    if current.as_ref().map(|f| f.id.as_str()) != Some(c.form.id.as_str()) {
        return Err(AppError::Conflict(format!(
            "Version {} of form {} is not the current version; use the newest one.",
            c.form.form.version, c.form.form.form_id
        )));
    }
    let answers = check_answers(&c.form.form.clauses, c.answers)?;
    let signature = c
        .signature
        .map(|s| parse_signature("signature", s))
        .transpose()?;
    let study_details = crate::studies::store::get_study(&app.db.pool, &study).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = app.now();
    let supersedes = store::latest_record(&app.db.pool, &p.id)
        .await?
        .map(|(r, _)| r);
    let signature_sha256 = signature
        .as_ref()
        .map(|s| hex::encode(Sha256::digest(s.as_bytes())));
    let scan_sha256 = c.scan.map(|s| hex::encode(Sha256::digest(s)));
    let taken_by = c.witness.as_ref().map(|w| w.actor.account_id.to_string());
    let countersigned_at = c.witness.as_ref().map(|_| now);
    let content = RecordContent {
        record_id: &id,
        study_id: &p.study_id,
        study_code: &p.study_code,
        form_id: &c.form.form.form_id,
        form_version: c.form.form.version,
        form_content_hash: &c.form.form.content_hash,
        information_sheet_version: &c.form.form.information_sheet_version,
        information_sheet_date: c.form.form.information_sheet_date.to_string(),
        method: c.method,
        answers: &answers,
        participant_signed_at: now,
        signature_sha256: signature_sha256.clone(),
        taken_by: taken_by.as_deref(),
        countersigned_at,
        verbal_record: c.verbal_record,
        scan_sha256: scan_sha256.as_deref(),
        supersedes: supersedes.as_deref(),
    };
    let record_hash = content.hash();
    let copy = CopyOf {
        study: &study_details,
        form: c.form,
        study_code: &p.study_code,
        method: c.method,
        answers: &answers,
        signed_at: now,
        signature_sha256: signature_sha256.as_deref(),
        verbal_record: c.verbal_record,
        taken_by_name: c.witness.as_ref().map(|w| w.actor.display_name.as_str()),
        countersigned_at,
        record_hash: &record_hash,
    };
    let pdf = document(&copy).render().map_err(AppError::internal)?;
    let pdf_sha256 = hex::encode(Sha256::digest(&pdf));
    let signature_sealed = signature
        .as_ref()
        .map(|s| app.vault.seal("consent_records", "signature", &id, s));
    let scan_sealed = c.scan.map(|s| {
        app.vault
            .seal("consent_records", "scan", &id, &base64_encode(s))
    });

    let mut tx = app.db.begin().await?;
    if let Some(hash) = invitation_hash {
        if !store::use_invitation(&mut tx, hash, now).await? {
            return Err(AppError::Forbidden(
                "This consent link has expired or has already been used.".into(),
            ));
        }
    }
    let new = store::NewRecord {
        id: &id,
        study_id: &p.study_id,
        participant_id: &p.id,
        form_version_id: &c.form.id,
        method: c.method,
        supersedes_id: supersedes.as_deref(),
        signature_sealed: signature_sealed.as_deref(),
        participant_signed_at: now,
        taken_by: taken_by.as_deref(),
        countersigned_at,
        verbal_record: c.verbal_record,
        scan_sha256: scan_sha256.as_deref(),
        scan_sealed: scan_sealed.as_deref(),
        record_hash: &record_hash,
        pdf: &pdf,
        pdf_sha256: &pdf_sha256,
    };
    store::insert_record(&mut tx, &new, &answers, now).await?;
    if let Some(advice) = c.consultee {
        crate::consent::capacity::service::store_advice(&mut tx, app, advice, now).await?;
    }
    store::set_participant_status(&mut tx, &p.id, ParticipantStatus::Consented.as_str(), now)
        .await?;
    let (actor, role) = match &c.witness {
        Some(w) => (
            w.actor.audit_ref(),
            w.actor.audit_role(Some(&study)).to_owned(),
        ),
        None => (format!("participant:{}", p.id), "participant".to_owned()),
    };
    let agreed: BTreeMap<&str, bool> = answers.iter().map(|a| (a.key.as_str(), a.agreed)).collect();
    let details = json!({
        "study_code": p.study_code, "form_id": c.form.form.form_id, "form_version": c.form.form.version,
        "method": c.method, "answers": agreed, "supersedes": supersedes, "record_hash": record_hash, "pdf_sha256": pdf_sha256,
    });
    let entry = NewEntry::new(&actor, &role, "consent.record", "consent_record", &id)
        .study(&p.study_id)
        .details(details);
    audit::append(&mut tx, &app.db, now, entry).await?;
    let copy_emailed =
        c.send_copy && email_copy(&mut tx, app, p, c.form, &study_details.title, &pdf).await?;
    tx.commit().await?;
    if copy_emailed {
        app.mailer.wake();
    }
    Ok(id)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Consent taken by a researcher in person or by phone.
pub struct Taken<'a> {
    pub form_version_id: &'a str,
    pub method: ConsentMethod,
    pub answers: BTreeMap<String, Submitted>,
    /// The participant's typed name (in person).
    pub signature: Option<&'a str>,
    /// Where the verbal consent recording is kept (verbal).
    pub verbal_record: Option<&'a str>,
    /// The scanned paper form (paper).
    pub scan: Option<Vec<u8>>,
    /// Email the participant a copy of the form with the PDF attached.
    pub send_copy: bool,
}

/// Records consent taken by a researcher at the participant's site.
pub async fn take(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &str,
    t: Taken<'_>,
) -> Result<String> {
    let p = crate::participants::service::get(app, actor, study, participant_id).await?;
    crate::studies::service::require(actor, Permission::TakeConsent, study)?;
    let form = crate::consent::forms::service::get_version(app, t.form_version_id)
        .await
        .map_err(|_| {
            AppError::invalid("form_version_id", "Choose a published form of this study.")
        })?;
    if form.study_id != *study {
        return Err(AppError::invalid(
            "form_version_id",
            "Choose a published form of this study.",
        ));
    }
    let (signature, verbal, scan) = match t.method {
        ConsentMethod::Online => {
            return Err(AppError::invalid(
                "method",
                "Online consent is given by the participant through their invitation link.",
            ))
        }
        ConsentMethod::ConsulteeAdvice => {
            return Err(AppError::invalid(
                "method",
                "Record a consultee's advice as such (consultee-advice).",
            ))
        }
        ConsentMethod::InPersonWitnessed => (Some(t.signature.unwrap_or_default()), None, None),
        ConsentMethod::VerbalRecorded => {
            match t.verbal_record.map(str::trim).filter(|v| !v.is_empty()) {
                Some(v) => (None, Some(v), None),
                None => {
                    return Err(AppError::invalid(
                        "verbal_record",
                        "Say where the recording of the verbal consent is kept.",
                    ))
                }
            }
        }
        ConsentMethod::PaperScanned => match t.scan.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => (None, None, Some(s)),
            None => {
                return Err(AppError::invalid(
                    "scan",
                    "Attach the scan of the signed paper form.",
                ))
            }
        },
    };
    let consent = Consent {
        participant: &p,
        form: &form,
        method: t.method,
        answers: &t.answers,
        signature,
        verbal_record: verbal,
        scan,
        witness: Some(Witness { actor }),
        consultee: None,
        send_copy: t.send_copy,
    };
    record(app, consent, None).await
}

/// A consent invitation as made: the link to hand over, and whether it was
/// also emailed to the participant.
pub struct SentInvitation {
    pub link: String,
    pub emailed: bool,
}

/// Sends (or hands over) a one-time link to the current version of a form.
/// Returns the link; it is emailed when the participant has an email address.
pub async fn invite(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &str,
    form_id: &str,
) -> Result<SentInvitation> {
    let p = crate::participants::service::get(app, actor, study, participant_id).await?;
    crate::studies::service::require(actor, Permission::TakeConsent, study)?;
    if p.status == ParticipantStatus::Withdrawn
        || store::withdrawn(&app.db.pool, &p.id).await?.no_contact
    {
        return Err(AppError::Conflict(format!(
            "{} has withdrawn; they cannot be invited.",
            p.study_code
        )));
    }
    let form = crate::consent::forms::service::current_version(app, study, form_id)
        .await?
        .ok_or_else(|| {
            AppError::invalid("form_id", "This study has no published form with that id.")
        })?;
    let secret = new_secret("fkc_");
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::insert_invitation(
        &mut tx,
        &secret_hash(&secret),
        &p.id,
        &form.id,
        actor.account_id.as_str(),
        now,
        now + 14 * DAY,
    )
    .await?;
    let link = app.server.link(&format!("/consent?token={secret}"));
    let study_title = crate::studies::store::get_study(&app.db.pool, study)
        .await?
        .title;
    let invitation = json!({ "study_title": study_title, "form_title": form.form.title, "link": link,
                             "researcher": actor.display_name, "days": 14 });
    let emailed = email_participant(
        &mut tx,
        app,
        &p,
        Template::ConsentInvitation,
        "Your invitation to a research consent form",
        invitation,
        None,
    )
    .await?;
    let details = json!({ "study_code": p.study_code, "form_id": form.form.form_id, "form_version": form.form.version, "emailed": emailed });
    let entry = NewEntry::by_in_study(actor, study, "consent.invite", "participant", &p.id)
        .details(details);
    audit::append(&mut tx, &app.db, now, entry).await?;
    tx.commit().await?;
    if emailed {
        app.mailer.wake();
    }
    Ok(SentInvitation { link, emailed })
}

/// What the consent page shows for a link.
pub struct Invitation {
    pub participant: Participant,
    pub form: ConsentFormVersion,
    pub study_title: String,
}

pub async fn open_invitation(app: &App, secret: &str) -> Result<Invitation> {
    let refused = || {
        AppError::Forbidden("This consent link has expired, has been used, or was cancelled. Ask the researcher for a new one.".into())
    };
    let (participant_id, form_version_id) =
        store::usable_invitation(&app.db.pool, &secret_hash(secret), app.now())
            .await?
            .ok_or_else(refused)?;
    let form = crate::consent::forms::service::get_version(app, &form_version_id).await?;
    let participant =
        crate::participants::store::get(&app.db.pool, &form.study_id, &participant_id).await?;
    let study_title = crate::studies::store::get_study(&app.db.pool, &form.study_id)
        .await?
        .title;
    Ok(Invitation {
        participant,
        form,
        study_title,
    })
}

/// Online consent by the participant through their link. Returns the record id.
pub async fn consent_online(
    app: &App,
    secret: &str,
    answers: &BTreeMap<String, Submitted>,
    typed_name: &str,
    send_copy: bool,
) -> Result<String> {
    let inv = open_invitation(app, secret).await?;
    let consent = Consent {
        participant: &inv.participant,
        form: &inv.form,
        method: ConsentMethod::Online,
        answers,
        signature: Some(typed_name),
        verbal_record: None,
        scan: None,
        witness: None,
        consultee: None,
        send_copy,
    };
    record(app, consent, Some(&secret_hash(secret))).await
}

/// Consent on the participant's behalf by a consultee who advised taking part
/// (MCA s.32), recorded with that advice. Returns the record id.
pub(crate) async fn consent_by_consultee(
    app: &App,
    actor: &Actor,
    p: &Participant,
    form: &ConsentFormVersion,
    answers: &BTreeMap<String, Submitted>,
    advice: &ConsulteeAdvice<'_>,
) -> Result<String> {
    let consent = Consent {
        participant: p,
        form,
        method: ConsentMethod::ConsulteeAdvice,
        answers,
        signature: Some(advice.consultee_name),
        verbal_record: None,
        scan: None,
        witness: Some(Witness { actor }),
        consultee: Some(advice),
        send_copy: false,
    };
    record(app, consent, None).await
}

/// A withdrawal as recorded by a researcher (C6).
pub struct Withdrawal<'a> {
    pub scope: WithdrawalScope,
    pub reason: Option<&'a str>,
    /// When removal of identifiable data was asked for but cannot be done
    /// (for example, it would seriously impair analysis already under way): why.
    pub erasure_refused_because: Option<&'a str>,
}

/// Records a withdrawal; its effects are immediate: invitations cancelled,
/// further collection refused by the gate, identity erased where asked and
/// not refused.
pub async fn withdraw(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &str,
    w: Withdrawal<'_>,
) -> Result<()> {
    let p = crate::participants::service::get(app, actor, study, participant_id).await?;
    crate::studies::service::require(actor, Permission::TakeConsent, study)?;
    record_withdrawal(app, actor, &p, w).await
}

/// A participant withdraws, themselves (C6): the same path as a researcher's
/// recording, with no refusal of erasure (only the study team can refuse it).
pub async fn withdraw_own(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    scope: WithdrawalScope,
    reason: Option<&str>,
) -> Result<()> {
    let p = crate::consent::choices::service::own_participant(app, actor, study).await?;
    let w = Withdrawal {
        scope,
        reason,
        erasure_refused_because: None,
    };
    record_withdrawal(app, actor, &p, w).await
}

/// Records a withdrawal by `actor` (the researcher, or the participant themselves).
pub(crate) async fn record_withdrawal(
    app: &App,
    actor: &Actor,
    p: &Participant,
    w: Withdrawal<'_>,
) -> Result<()> {
    let study = &StudyId::from_db(p.study_id.clone());
    if w.scope.is_empty() {
        return Err(AppError::invalid(
            "scope",
            "Choose what the participant is withdrawing from.",
        ));
    }
    let refusal = w
        .erasure_refused_because
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let erasure = match (w.scope.remove_identifiable, refusal) {
        (false, _) => "not_asked",
        (true, None) => "erased",
        (true, Some(_)) => "refused",
    };
    let id = uuid::Uuid::now_v7().to_string();
    let reason = w.reason.map(str::trim).filter(|r| !r.is_empty());
    let reason_sealed = reason.map(|r| app.vault.seal("withdrawals", "reason", &id, r));
    let confirmation = withdrawal_confirmation(app, p, w.scope, erasure, refusal).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let cancelled = store::cancel_invitations(&mut tx, &p.id, now).await?;
    let record = store::NewWithdrawal {
        id: &id,
        study_id: study.as_str(),
        participant_id: &p.id,
        scope: w.scope,
        reason_sealed: reason_sealed.as_deref(),
        recorded_by: Some(actor.account_id.as_str()),
        erasure,
        erasure_refusal_reason: refusal,
    };
    store::insert_withdrawal(&mut tx, &record, now).await?;
    if w.scope.no_collection {
        store::set_participant_status(&mut tx, &p.id, ParticipantStatus::Withdrawn.as_str(), now)
            .await?;
    }
    // Before any erasure: the outbox forgets the address once the confirmation is sent.
    let confirmed = email_participant(
        &mut tx,
        app,
        p,
        Template::WithdrawalConfirmation,
        "Your withdrawal from the study is recorded",
        confirmation,
        None,
    )
    .await?;
    if erasure == "erased" {
        crate::vault::service::erase(&mut tx, app, &p.id).await?;
    }
    let details = json!({
        "study_code": p.study_code, "scope": w.scope, "reason_given": reason.is_some(),
        "erasure": erasure, "erasure_refusal_reason": refusal, "invitations_cancelled": cancelled,
    });
    let entry = NewEntry::by_in_study(actor, study, "consent.withdraw", "participant", &p.id)
        .details(details);
    audit::append(&mut tx, &app.db, now, entry).await?;
    tx.commit().await?;
    if confirmed {
        app.mailer.wake();
    }
    Ok(())
}

/// Sends the participant an email they are owed, through the outbox in the
/// caller's transaction, when the vault holds an address for them; reading it
/// is a system use of the identity (audited, without the value). True if sent.
async fn email_participant(
    tx: &mut Tx,
    app: &App,
    p: &Participant,
    template: Template,
    subject: &str,
    context: serde_json::Value,
    attachment: Option<&Attachment>,
) -> Result<bool> {
    let Some(to) = crate::vault::service::email_of(tx, app, p, template.name()).await? else {
        return Ok(false);
    };
    mail::enqueue(tx, app, template, &to, subject, context, attachment).await?;
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
) -> Result<bool> {
    let filename = format!("consent-{}.pdf", p.study_code);
    let context = json!({ "study_title": study_title, "form_title": form.form.title,
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

/// What the withdrawal confirmation says: what was withdrawn, what happens to
/// the data already collected (the withdrawal policy of the form of their
/// latest record, if any), and whether their details were erased.
async fn withdrawal_confirmation(
    app: &App,
    p: &Participant,
    scope: WithdrawalScope,
    erasure: &str,
    refusal: Option<&str>,
) -> Result<serde_json::Value> {
    let policy = match store::latest_record(&app.db.pool, &p.id).await? {
        Some((_, version_id)) => Some(
            crate::consent::forms::service::get_version(app, &version_id)
                .await?
                .form
                .withdrawal_policy,
        ),
        None => None,
    };
    let study = StudyId::from_db(p.study_id.clone());
    let study_title = crate::studies::store::get_study(&app.db.pool, &study)
        .await?
        .title;
    let withdrawn: Vec<&str> = [
        (
            scope.no_contact,
            "No further contact from the research team.",
        ),
        (
            scope.no_collection,
            "No further information to be collected about you.",
        ),
        (
            scope.remove_identifiable,
            "Your identifiable information that has not yet been analysed to be removed.",
        ),
    ]
    .into_iter()
    .filter_map(|(asked, what)| asked.then_some(what))
    .collect();
    let confirmation = json!({ "study_title": study_title, "withdrawn": withdrawn, "withdrawal_policy": policy,
                               "erasure": erasure, "erasure_refusal_reason": refusal });
    Ok(confirmation)
}

/// A participant changes their optional choices (C5): a new online record on
/// the current version of the form of their latest record, through the one
/// path, superseding it. Mandatory clauses stay agreed (to drop one, withdraw);
/// if the form has a newer version than the one they agreed to, they re-consent instead.
pub async fn change_choices(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    answers: &BTreeMap<String, Submitted>,
    typed_name: &str,
) -> Result<String> {
    let p = crate::consent::choices::service::own_participant(app, actor, study).await?;
    let Some((_, version_id)) = store::latest_record(&app.db.pool, &p.id).await? else {
        return Err(AppError::Conflict(
            "You have not given consent in this study yet.".into(),
        ));
    };
    let form = crate::consent::forms::service::get_version(app, &version_id).await?;
    let mut answers = answers.clone();
    for clause in form.form.clauses.iter().filter(|c| c.mandatory) {
        answers.entry(clause.key.clone()).or_insert(Submitted::Yes);
    }
    let consent = Consent {
        participant: &p,
        form: &form,
        method: ConsentMethod::Online,
        answers: &answers,
        signature: Some(typed_name),
        verbal_record: None,
        scan: None,
        witness: None,
        consultee: None,
        send_copy: false,
    };
    record(app, consent, None).await
}

/// A participant's consent records, newest first, for researchers at their site.
pub async fn history(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &str,
) -> Result<Vec<store::RecordSummary>> {
    let p = crate::participants::service::get(app, actor, study, participant_id).await?;
    crate::studies::service::require(actor, Permission::TakeConsent, study)?;
    Ok(store::records_of(&app.db.pool, &p.id).await?)
}

/// The study's published consent forms, for those who take or review consent.
pub async fn published_forms(
    app: &App,
    actor: &Actor,
    study: &StudyId,
) -> Result<Vec<ConsentFormVersion>> {
    crate::studies::service::require(actor, Permission::ViewConsentRegister, study)?;
    crate::consent::forms::service::list_for_study(app, study).await
}

/// A record's PDF, for researchers at the participant's site and reviewers.
pub async fn pdf(app: &App, actor: &Actor, study: &StudyId, record_id: &str) -> Result<Vec<u8>> {
    crate::studies::service::require(actor, Permission::ViewConsentRegister, study)?;
    let (pdf, participant) = store::pdf(&app.db.pool, study.as_str(), record_id).await?;
    let p = crate::participants::store::get(&app.db.pool, study, &participant).await?;
    let site = SiteId::from_db(p.site_id);
    if !crate::auth::policy::permits(
        actor,
        Permission::ViewConsentRegister,
        crate::auth::policy::Scope::Site(study, &site),
    ) {
        return Err(AppError::NotFound);
    }
    Ok(pdf)
}
