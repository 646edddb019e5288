//! Use cases for re-consent and for participants acting on their own records.
//! Researchers see only participants at their sites; a participant sees only
//! the participant row linked to their own account, and nothing else. Every
//! change goes through the consent kernel after locking the participant.

use std::collections::BTreeMap;

use crate::app::App;
use crate::auth::model::{Actor, Permission};
use crate::auth::policy::{require_study, site_scope};
use crate::consent::forms::model::ConsentFormVersion;
use crate::consent::kernel::model::{
    ConsentMethod, EffectiveConsent, Submitted, WithdrawalBasis, WithdrawalScope,
};
use crate::consent::kernel::pdf::{withdrawal_document, WithdrawalCopy};
use crate::consent::kernel::store::WithdrawalEntry;
use crate::consent::kernel::{self, Consent, Withdrawal, Withdrawn};
use crate::consent::records::store::{self as records_store, RecordSummary};
use crate::db::list::{Page, PageRequest};
use crate::error::{AppError, Result};
use crate::ids::{ConsentRecordId, ParticipantId, StudyId, WithdrawalId};
use crate::participants::model::Participant;

use super::store::{self, Due};

/// A page of those at the actor's sites due for re-consent (C5): their
/// current record is on an older version of a form, and they have not
/// withdrawn from contact or from the study.
pub async fn reconsent_due(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    page: &PageRequest<ParticipantId>,
) -> Result<Page<Due, ParticipantId>> {
    require_study(actor, Permission::TakeConsent, study)?;
    let sites = site_scope(actor, Permission::TakeConsent, study);
    Ok(store::due(&app.db.pool, study, &sites, None, page).await?)
}

/// A re-consent link made for one participant.
pub struct Invited {
    pub participant_id: ParticipantId,
    pub study_code: crate::ids::StudyCode,
    /// The link made, or why none was (they withdrew since the list was read).
    pub outcome: std::result::Result<crate::consent::records::service::SentInvitation, String>,
}

/// Invites those due (all of them, or the chosen ones) to re-consent on the
/// current version of their form, each through the ordinary invitation,
/// which checks again, after locking them, that they may be invited.
pub async fn invite_due(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    chosen: Option<&[ParticipantId]>,
) -> Result<Vec<Invited>> {
    require_study(actor, Permission::TakeConsent, study)?;
    let sites = site_scope(actor, Permission::TakeConsent, study);
    let mut due = Vec::new();
    match chosen {
        Some([]) => {
            return Err(AppError::invalid(
                "participant_ids",
                "Choose at least one participant to invite.",
            ))
        }
        Some(ids) => {
            let mut page = PageRequest::first();
            page.limit = ids.len() as i64;
            due = store::due(&app.db.pool, study, &sites, Some(ids), &page)
                .await?
                .items;
            if let Some(id) = ids
                .iter()
                .find(|id| !due.iter().any(|d| &d.participant.id == *id))
            {
                return Err(AppError::invalid(
                    "participant_ids",
                    format!("Participant {id} is not due for re-consent."),
                ));
            }
        }
        None => {
            let mut page = PageRequest::<ParticipantId>::first();
            loop {
                let found = store::due(&app.db.pool, study, &sites, None, &page).await?;
                due.extend(found.items);
                match found.next {
                    Some(next) => page.after = Some(next),
                    None => break,
                }
            }
        }
    }
    // Each invitation is its own transaction; one refused by a rule (they
    // withdrew since the list was read) is reported, and the rest go on, so
    // the links already made are never lost from the answer.
    let mut invited = Vec::new();
    for d in due {
        let outcome = match crate::consent::records::service::invite(
            app,
            actor,
            study,
            &d.participant.id,
            &d.form_id,
        )
        .await
        {
            Ok(sent) => Ok(sent),
            Err(AppError::Conflict(why)) => Err(why),
            Err(e) => return Err(e),
        };
        invited.push(Invited {
            participant_id: d.participant.id,
            study_code: d.participant.study_code,
            outcome,
        });
    }
    Ok(invited)
}

/// A participant's own part in a study, as they see it.
pub struct Own {
    pub participant: Participant,
    pub study_title: String,
    pub records: Vec<RecordSummary>,
    /// Their consent as it stands (after withdrawals).
    pub effective: Option<EffectiveConsent>,
    pub withdrawn: WithdrawalScope,
    /// The form version of their current record, if it is still the current
    /// one and they have not withdrawn from collection: the form on which
    /// they can change their optional choices.
    pub choices_form: Option<ConsentFormVersion>,
    /// Their withdrawals, oldest first.
    pub withdrawals: Vec<WithdrawalEntry>,
}

pub async fn own(app: &App, actor: &Actor, study: &StudyId) -> Result<Own> {
    let participant = crate::participants::service::own(app, actor, study).await?;
    let study_title = crate::studies::store::get_study(&app.db.pool, study)
        .await?
        .title;
    let records = records_store::records_of(&app.db.pool, &participant.id).await?;
    let mut conn = app.db.pool.acquire().await?;
    let standing = kernel::standing(&mut conn, &participant.id).await?;
    let withdrawals = kernel::store::withdrawals_of(&mut conn, &participant.id).await?;
    drop(conn);
    let withdrawn = standing.withdrawn;
    let choices_form = match standing.latest {
        Some((_, version_id)) if !withdrawn.no_collection => {
            let form = crate::consent::forms::store::get(&app.db.pool, &version_id).await?;
            crate::consent::forms::service::current_version(&app.db, study, &form.form.form_id)
                .await?
                .filter(|current| current.id == form.id)
        }
        _ => None,
    };
    let effective = standing.effective;
    Ok(Own {
        participant,
        study_title,
        records,
        effective,
        withdrawn,
        choices_form,
        withdrawals,
    })
}

/// A participant changes their optional choices (C5): a new online record on
/// the form version of their current record, superseding it. Mandatory
/// clauses stay agreed (to drop one, withdraw); if the form has a newer
/// version than the one they agreed to, they re-consent instead. Their
/// current record is read after locking them, so two changes at once make a
/// chain of two, never a fork.
pub async fn change_choices(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    answers: &BTreeMap<String, Submitted>,
    typed_name: &str,
) -> Result<ConsentRecordId> {
    let participant = crate::participants::service::own(app, actor, study).await?;
    let mut tx = app.db.begin().await?;
    let locked = kernel::lock(&mut tx, &participant.id).await?;
    let Some((_, version_id)) = &locked.latest else {
        return Err(AppError::Conflict(
            "You have not given consent in this study yet.".into(),
        ));
    };
    let form = crate::consent::forms::store::get(tx.conn(), version_id).await?;
    let mut answers = answers.clone();
    for clause in form.form.clauses.iter().filter(|c| c.mandatory) {
        answers.entry(clause.key.clone()).or_insert(Submitted::Yes);
    }
    let prepared = kernel::prepare(
        app,
        Consent {
            form: &form,
            method: ConsentMethod::Online,
            answers: &answers,
            signature: Some(typed_name),
            verbal_record: None,
            scan: None,
            witness: None,
            by_consultee: false,
            send_copy: false,
        },
    )?;
    let id = kernel::record(&mut tx, app, &locked, prepared).await?.id;
    tx.commit().await?;
    Ok(id)
}

/// A participant withdraws, themselves (C6): the kernel's withdrawal with the
/// participant's account as the one recording it, and no refusal of erasure
/// (only the study team can refuse it). After "no further contact" the
/// confirmation is emailed only when they asked for it (`email_asked`).
pub async fn withdraw_own(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    scope: WithdrawalScope,
    reason: Option<&str>,
    email_asked: bool,
) -> Result<Withdrawn> {
    let participant = crate::participants::service::own(app, actor, study).await?;
    let w = Withdrawal {
        scope,
        reason,
        erasure_refused_because: None,
        basis: WithdrawalBasis::Request,
        email_asked,
    };
    w.check()?;
    let mut tx = app.db.begin().await?;
    let locked = kernel::lock(&mut tx, &participant.id).await?;
    let done = kernel::withdraw(&mut tx, app, &locked, actor, &w).await?;
    tx.commit().await?;
    app.mailer.wake();
    Ok(done)
}

/// The PDF copy of one of the participant's own records; anyone else's is "not found".
pub async fn own_pdf(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    record: &ConsentRecordId,
) -> Result<records_store::Copy> {
    let p = crate::participants::service::own(app, actor, study).await?;
    let copy = records_store::pdf(&app.db.pool, study, record).await?;
    if copy.participant_id != p.id {
        return Err(AppError::NotFound);
    }
    Ok(copy)
}

/// The participant's record of one of their own withdrawals, as a PDF made
/// from the withdrawal as kept; anyone else's is "not found".
pub async fn own_withdrawal_pdf(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    withdrawal: &WithdrawalId,
) -> Result<Vec<u8>> {
    let p = crate::participants::service::own(app, actor, study).await?;
    let mut conn = app.db.pool.acquire().await?;
    let w = kernel::store::withdrawal(&mut conn, study, withdrawal)
        .await?
        .filter(|w| w.participant_id == p.id)
        .ok_or(AppError::NotFound)?;
    let study = crate::studies::store::get_study(&mut *conn, study).await?;
    // The form they had consented on when they withdrew, not a later one.
    let version = kernel::store::version_current_at(&mut conn, &p.id, w.recorded_at).await?;
    let policy = kernel::withdrawal_policy(&mut conn, version.as_ref()).await?;
    let copy = WithdrawalCopy {
        study: &study,
        study_code: p.study_code.as_str(),
        withdrawal: &w,
        policy: policy.as_deref(),
    };
    withdrawal_document(&copy)
        .render()
        .map_err(AppError::internal)
}
