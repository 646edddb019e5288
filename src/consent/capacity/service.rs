//! Capacity use cases (C7), for researchers at the participant's site. Each
//! locks the participant and decides on what it reads after the lock. An
//! assessment clears the "capacity changed" flag; a consultee's advice to take
//! part is a consent record through the kernel, stored with the advice in one
//! transaction; an objection withdraws at once through the kernel and is
//! stored in the same transaction as the withdrawal.

use std::collections::BTreeMap;

use super::model::{
    parse_day, parse_decision, parse_text, Advice, AdviceEffect, ConsulteeKind, Outcome,
};
use super::store::{self, AdviceSummary, AssessmentSummary, ObjectionSummary};
use crate::app::App;
use crate::audit::{self, Action, Entity, NewEntry};
use crate::auth::model::{Actor, Permission};
use crate::auth::policy::require_site;
use crate::consent::forms::model::ConsentFormVersion;
use crate::consent::kernel::model::{ConsentMethod, Submitted, WithdrawalBasis, WithdrawalScope};
use crate::consent::kernel::{self, Consent, Withdrawal};
use crate::consent::records::service::participant_for_consent;
use crate::db::Tx;
use crate::error::{AppError, Result};
use crate::ids::{
    AdviceId, AssessmentId, ConsentRecordId, FormVersionId, ObjectionId, ParticipantId, StudyId,
};
use crate::participants::model::{Participant, ParticipantStatus};
use crate::studies::model::Study;

/// An assessment of capacity to make one decision, by the acting researcher.
pub struct Assessment<'a> {
    /// `take_part` or a data use key.
    pub decision: &'a str,
    /// YYYY-MM-DD.
    pub assessed_on: &'a str,
    pub outcome: Outcome,
    /// Kept encrypted.
    pub notes: &'a str,
}

/// Records an assessment; it clears the "capacity changed" flag. Returns its id.
pub async fn assess(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &ParticipantId,
    a: Assessment<'_>,
) -> Result<AssessmentId> {
    participant_for_consent(app, actor, study, participant_id).await?;
    let now = app.now();
    let today = chrono::DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .date_naive();
    let (decision, assessed_on, notes) = match (
        parse_decision(a.decision),
        parse_day("assessed_on", a.assessed_on, today),
        parse_text("notes", a.notes),
    ) {
        (Ok(d), Ok(on), Ok(n)) => (d, on, n),
        (d, on, n) => {
            // Every problem at once, each naming its field.
            let problems = [d.err(), on.err(), n.err()]
                .into_iter()
                .flatten()
                .flat_map(|e| match e {
                    AppError::Invalid(p) => p,
                    _ => Vec::new(),
                })
                .collect();
            return Err(AppError::Invalid(problems));
        }
    };
    let id = AssessmentId::new();
    let notes_sealed = notes.as_deref().map(|n| {
        app.vault
            .seal("capacity_assessments", "notes", id.as_str(), n)
    });
    let mut tx = app.db.begin().await?;
    let locked = kernel::lock(&mut tx, participant_id).await?;
    let p = &locked.participant;
    let row = store::NewAssessment {
        id: &id,
        study_id: study,
        participant_id: &p.id,
        decision: decision.as_str(),
        assessed_on: &assessed_on.format("%Y-%m-%d").to_string(),
        outcome: a.outcome.as_str(),
        assessor_account: &actor.account_id,
        notes_sealed: notes_sealed.as_deref(),
    };
    store::insert_assessment(&mut tx, &row, now).await?;
    crate::participants::store::set_capacity_flag(&mut tx, &p.id, false, now).await?;
    let action = Action::CapacityAssess {
        study_code: p.study_code.clone(),
        decision,
        assessed_on: assessed_on.into(),
        outcome: a.outcome.as_str(),
        notes_given: notes.is_some(),
        flag_cleared: p.capacity_flag,
    };
    let entry = NewEntry::by_in_study(actor, study, action, Entity::Participant(p.id.clone()));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(id)
}

/// Their capacity may have changed: flags them for a new assessment and, if
/// they lack capacity, the consultee process.
pub async fn capacity_changed(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &ParticipantId,
) -> Result<()> {
    participant_for_consent(app, actor, study, participant_id).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let locked = kernel::lock(&mut tx, participant_id).await?;
    let p = &locked.participant;
    crate::participants::store::set_capacity_flag(&mut tx, &p.id, true, now).await?;
    let action = Action::CapacityChanged {
        study_code: p.study_code.clone(),
    };
    let entry = NewEntry::by_in_study(actor, study, action, Entity::Participant(p.id.clone()));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// A consultee's advice as submitted.
pub struct AdviceInput<'a> {
    pub kind: ConsulteeKind,
    pub advice: Advice,
    /// Kept encrypted.
    pub consultee_name: &'a str,
    /// The form the consultee answered (advice to take part).
    pub form_version_id: Option<&'a FormVersionId>,
    /// The consultee's answers, clause key to answer (advice to take part).
    pub answers: BTreeMap<String, Submitted>,
}

/// Stores the advice (with the consultee's name as checked), what it did and
/// its audit entry in the caller's transaction.
async fn store_advice(
    tx: &mut Tx,
    app: &App,
    actor: &Actor,
    p: &Participant,
    input: &AdviceInput<'_>,
    form: Option<&FormVersionId>,
    effect: AdviceEffect,
) -> Result<()> {
    let id = AdviceId::new();
    let sealed = app.vault.seal(
        "consultee_advice",
        "consultee_name",
        id.as_str(),
        input.consultee_name,
    );
    let row = store::NewAdvice {
        id: &id,
        study_id: &p.study_id,
        participant_id: &p.id,
        consultee_kind: input.kind.as_str(),
        advice: input.advice.as_str(),
        consultee_name_sealed: &sealed,
        recorded_by: &actor.account_id,
        form_version_id: form,
        effect,
    };
    let now = app.now();
    store::insert_advice(tx, &row, now).await?;
    let action = Action::ConsulteeAdvice {
        study_code: p.study_code.clone(),
        consultee_kind: input.kind.as_str(),
        advice: input.advice.as_str(),
        form_version_id: form.cloned(),
        effect: effect.as_str(),
    };
    let entry = NewEntry::by_in_study(
        actor,
        &p.study_id,
        action,
        Entity::Participant(p.id.clone()),
    );
    audit::append(tx, now, entry).await?;
    Ok(())
}

/// The form a consultee advising "take part" answered: a published form of this study.
async fn advised_form(
    app: &App,
    study: &StudyId,
    input: &AdviceInput<'_>,
) -> Result<Option<ConsentFormVersion>> {
    if input.advice != Advice::TakePart {
        return Ok(None);
    }
    let unknown = || {
        AppError::invalid(
            "form_version_id",
            "Choose the published form of this study that the consultee answered.",
        )
    };
    let version = input.form_version_id.ok_or_else(unknown)?;
    crate::consent::forms::service::version_of(&app.db, study, version)
        .await
        .map(Some)
        .map_err(|_| unknown())
}

/// A withdrawal from further data collection on a consultee's advice
/// against taking part (s.32(5)): no reason of the participant's, nothing
/// erased, no email to someone who lacks capacity and did not ask.
fn on_advice_against<'a>() -> Withdrawal<'a> {
    Withdrawal {
        scope: WithdrawalScope {
            no_collection: true,
            ..WithdrawalScope::default()
        },
        reason: None,
        erasure_refused_because: None,
        basis: WithdrawalBasis::ConsulteeAdvice,
        email_asked: false,
    }
}

/// Records a consultee's advice (s.32), only in a study approved under the
/// Act and only for someone whose latest assessment about taking part found
/// they lack capacity, both read after locking them. Advice to take part,
/// with the consultee's answers, is recorded as their consent in the same
/// transaction: returns that record's id. Advice against (s.32(5)) withdraws
/// them from further data collection through the one withdrawal path, in the
/// same transaction: someone not yet consented can then never be enrolled
/// into collection and their open invitations are cancelled; someone taking
/// part stops at once.
pub async fn advise(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &ParticipantId,
    input: AdviceInput<'_>,
) -> Result<Option<ConsentRecordId>> {
    participant_for_consent(app, actor, study, participant_id).await?;
    let name = crate::auth::model::parse_display_name(input.consultee_name)
        .map_err(|_| AppError::invalid("consultee_name", "Enter the consultee's name."))?;
    let input = AdviceInput {
        consultee_name: &name,
        ..input
    };
    let form = advised_form(app, study, &input).await?;
    let prepared = form
        .as_ref()
        .map(|form| {
            kernel::prepare(
                app,
                Consent {
                    form,
                    method: ConsentMethod::ConsulteeAdvice,
                    answers: &input.answers,
                    signature: Some(&name),
                    verbal_record: None,
                    scan: None,
                    witness: Some(actor),
                    by_consultee: true,
                    send_copy: false,
                },
            )
        })
        .transpose()?;
    let mut tx = app.db.begin().await?;
    let locked = kernel::lock(&mut tx, participant_id).await?;
    if !crate::studies::store::get_study(tx.conn(), study)
        .await?
        .mca_approved
    {
        return Err(AppError::Conflict(
            "This study is not approved under the Mental Capacity Act, so a consultee's advice cannot be recorded in it.".into(),
        ));
    }
    if !locked.lacks_capacity {
        return Err(AppError::Conflict(format!(
            "{} has not been assessed as lacking capacity to decide about taking part: a consultee is consulted only for someone who lacks it. Record the assessment first.",
            locked.participant.study_code
        )));
    }
    let effect = match input.advice {
        Advice::TakePart => AdviceEffect::ConsentRecorded,
        Advice::NotTakePart if locked.stopped_collection() => AdviceEffect::AlreadyWithdrawn,
        Advice::NotTakePart if locked.latest.is_some() => AdviceEffect::Withdrawn,
        Advice::NotTakePart => AdviceEffect::KeptFromTakingPart,
    };
    let form_id = form.as_ref().map(|f| &f.id);
    store_advice(
        &mut tx,
        app,
        actor,
        &locked.participant,
        &input,
        form_id,
        effect,
    )
    .await?;
    let record = match (prepared, effect) {
        (Some(prepared), _) => Some(kernel::record(&mut tx, app, &locked, prepared).await?.id),
        (None, AdviceEffect::Withdrawn | AdviceEffect::KeptFromTakingPart) => {
            kernel::withdraw(&mut tx, app, &locked, actor, &on_advice_against()).await?;
            None
        }
        (None, _) => None,
    };
    tx.commit().await?;
    Ok(record)
}

/// Records a sign of objection (s.33): in one transaction they are withdrawn
/// from further data collection through the kernel, and the objection (its
/// description sealed) is stored and audited.
pub async fn object(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &ParticipantId,
    description: &str,
) -> Result<()> {
    participant_for_consent(app, actor, study, participant_id).await?;
    let description = parse_text("description", description)?.ok_or_else(|| {
        AppError::invalid(
            "description",
            "Say what they said or did that showed objection.",
        )
    })?;
    let withdrawal = Withdrawal {
        scope: WithdrawalScope {
            no_collection: true,
            ..WithdrawalScope::default()
        },
        reason: None,
        erasure_refused_because: None,
        basis: WithdrawalBasis::Objection,
        email_asked: false,
    };
    let id = ObjectionId::new();
    let sealed = app
        .vault
        .seal("objections", "description", id.as_str(), &description);
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let locked = kernel::lock(&mut tx, participant_id).await?;
    kernel::withdraw(&mut tx, app, &locked, actor, &withdrawal).await?;
    let p = &locked.participant;
    store::insert_objection(&mut tx, &id, study, &p.id, &sealed, &actor.account_id, now).await?;
    let action = Action::Objection {
        study_code: p.study_code.clone(),
        withdrawn_from: "further data collection",
    };
    let entry = NewEntry::by_in_study(actor, study, action, Entity::Participant(p.id.clone()));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    app.mailer.wake();
    Ok(())
}

/// A participant's capacity records, newest first, without sealed values,
/// and what the capacity section of their page offers.
pub struct CapacitySummary {
    /// Their capacity may have changed since the last assessment.
    pub capacity_flag: bool,
    pub assessments: Vec<AssessmentSummary>,
    pub advice: Vec<AdviceSummary>,
    pub objections: Vec<ObjectionSummary>,
    pub mca_approved: bool,
    pub lacks_capacity: bool,
    /// Withdrawn from further data collection (by anyone, or on advice).
    pub withdrawn: bool,
}

impl CapacitySummary {
    /// Whether a consultee may be asked now (MCA s.32): in a study approved
    /// under the Act, for someone assessed as lacking capacity to take part
    /// who has not been withdrawn (after which no advice can bring them in).
    pub fn consultee_may_advise(&self) -> bool {
        self.mca_approved && self.lacks_capacity && !self.withdrawn
    }
}

/// The participant's capacity records, for the API.
pub async fn summary_of(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant: &ParticipantId,
) -> Result<CapacitySummary> {
    let p = participant_for_consent(app, actor, study, participant).await?;
    let s = crate::studies::store::get_study(&app.db.pool, study).await?;
    summary(app, actor, &p, &s).await
}

/// For the participant page, which has loaded the participant and study.
pub async fn summary(
    app: &App,
    actor: &Actor,
    p: &Participant,
    study: &Study,
) -> Result<CapacitySummary> {
    require_site(actor, Permission::TakeConsent, &p.study_id, &p.site_id)?;
    let pool = &app.db.pool;
    Ok(CapacitySummary {
        capacity_flag: p.capacity_flag,
        assessments: store::assessments_of(pool, &p.id).await?,
        advice: store::advice_of(pool, &p.id).await?,
        objections: store::objections_of(pool, &p.id).await?,
        mca_approved: study.mca_approved,
        lacks_capacity: kernel::store::lacks_capacity(&mut *pool.acquire().await?, &p.id).await?,
        withdrawn: p.status == ParticipantStatus::Withdrawn,
    })
}
