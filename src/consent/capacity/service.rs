//! Capacity use cases (C7), for researchers at the participant's site. An
//! assessment clears the "capacity changed" flag; a consultee's advice to take
//! part is a consent record through the one recording path; an objection
//! withdraws at once through the one withdrawal path.

use std::collections::BTreeMap;

use serde_json::json;

use super::model::{parse_day, parse_decision, parse_text, Advice, ConsulteeKind, Outcome};
use super::store::{self, AdviceSummary, AssessmentSummary, ObjectionSummary};
use crate::app::App;
use crate::audit::{self, NewEntry};
use crate::auth::model::{Actor, Permission};
use crate::consent::records::model::{Submitted, WithdrawalScope};
use crate::consent::records::service::{consent_by_consultee, record_withdrawal, Withdrawal};
use crate::db::Tx;
use crate::error::{AppError, Result};
use crate::ids::StudyId;
use crate::participants::model::Participant;

/// The participant, if the actor may take consent at their site (everything
/// here needs that; handlers call it before reading their input).
pub async fn participant(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &str,
) -> Result<Participant> {
    let p = crate::participants::service::get(app, actor, study, participant_id).await?;
    crate::studies::service::require(actor, Permission::TakeConsent, study)?;
    Ok(p)
}

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
    participant_id: &str,
    a: Assessment<'_>,
) -> Result<String> {
    let p = participant(app, actor, study, participant_id).await?;
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
    let id = uuid::Uuid::now_v7().to_string();
    let notes_sealed = notes
        .as_deref()
        .map(|n| app.vault.seal("capacity_assessments", "notes", &id, n));
    let mut tx = app.db.begin().await?;
    let row = store::NewAssessment {
        id: &id,
        study_id: study.as_str(),
        participant_id: &p.id,
        decision: &decision,
        assessed_on: &assessed_on,
        outcome: a.outcome.as_str(),
        assessor_account: actor.account_id.as_str(),
        notes_sealed: notes_sealed.as_deref(),
    };
    store::insert_assessment(&mut tx, &row, now).await?;
    store::set_capacity_flag(&mut tx, &p.id, false, now).await?;
    let details = json!({
        "study_code": p.study_code, "decision": decision, "assessed_on": assessed_on,
        "outcome": a.outcome.as_str(), "notes_given": notes.is_some(), "flag_cleared": p.capacity_flag,
    });
    let entry = NewEntry::by_in_study(actor, study, "capacity.assess", "participant", &p.id)
        .details(details);
    audit::append(&mut tx, &app.db, now, entry).await?;
    tx.commit().await?;
    Ok(id)
}

/// Their capacity may have changed: flags them for a new assessment and, if
/// they lack capacity, the consultee process.
pub async fn capacity_changed(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &str,
) -> Result<()> {
    let p = participant(app, actor, study, participant_id).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::set_capacity_flag(&mut tx, &p.id, true, now).await?;
    let entry = NewEntry::by_in_study(actor, study, "capacity.changed", "participant", &p.id)
        .details(json!({ "study_code": p.study_code }));
    audit::append(&mut tx, &app.db, now, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// A consultee's advice, checked and ready to store (the name already sealed).
pub struct ConsulteeAdvice<'a> {
    id: String,
    participant: &'a Participant,
    actor: &'a Actor,
    kind: ConsulteeKind,
    advice: Advice,
    /// The consultee's name as typed: they sign the consent on the participant's behalf.
    pub(crate) consultee_name: &'a str,
    name_sealed: String,
    form_version_id: Option<&'a str>,
}

/// Stores the advice and its audit entry in the caller's transaction.
pub(crate) async fn store_advice(
    tx: &mut Tx,
    app: &App,
    a: &ConsulteeAdvice<'_>,
    now: i64,
) -> Result<()> {
    let p = a.participant;
    let row = store::NewAdvice {
        id: &a.id,
        study_id: &p.study_id,
        participant_id: &p.id,
        consultee_kind: a.kind.as_str(),
        advice: a.advice.as_str(),
        consultee_name_sealed: &a.name_sealed,
        recorded_by: a.actor.account_id.as_str(),
        form_version_id: a.form_version_id,
    };
    store::insert_advice(tx, &row, now).await?;
    let study = StudyId::from_db(p.study_id.clone());
    let details = json!({
        "study_code": p.study_code, "consultee_kind": a.kind.as_str(), "advice": a.advice.as_str(),
        "form_version_id": a.form_version_id,
    });
    let entry = NewEntry::by_in_study(a.actor, &study, "consultee.advice", "participant", &p.id)
        .details(details);
    audit::append(tx, &app.db, now, entry).await?;
    Ok(())
}

/// A consultee's advice as submitted.
pub struct AdviceInput<'a> {
    pub kind: ConsulteeKind,
    pub advice: Advice,
    /// Kept encrypted.
    pub consultee_name: &'a str,
    /// The form the consultee answered (advice to take part).
    pub form_version_id: Option<&'a str>,
    /// The consultee's answers, clause key to answer (advice to take part).
    pub answers: BTreeMap<String, Submitted>,
}

/// Records a consultee's advice (s.32), only in a study approved under the
/// Act and only for someone whose latest assessment about taking part found
/// they lack capacity. Advice to take part, with the consultee's answers, is
/// recorded as their consent: returns that record's id.
pub async fn advise(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &str,
    input: AdviceInput<'_>,
) -> Result<Option<String>> {
    let p = participant(app, actor, study, participant_id).await?;
    if !crate::studies::store::get_study(&app.db.pool, study)
        .await?
        .mca_approved
    {
        return Err(AppError::Conflict(
            "This study is not approved under the Mental Capacity Act, so a consultee's advice cannot be recorded in it.".into(),
        ));
    }
    if !store::lacks_capacity(&app.db.pool, &p.id).await? {
        return Err(AppError::Conflict(format!(
            "{} has not been assessed as lacking capacity to decide about taking part: a consultee is consulted only for someone who lacks it. Record the assessment first.",
            p.study_code
        )));
    }
    let name = crate::auth::model::parse_display_name(input.consultee_name)
        .map_err(|_| AppError::invalid("consultee_name", "Enter the consultee's name."))?;
    let id = uuid::Uuid::now_v7().to_string();
    let name_sealed = app
        .vault
        .seal("consultee_advice", "consultee_name", &id, &name);
    let mut advice = ConsulteeAdvice {
        id,
        participant: &p,
        actor,
        kind: input.kind,
        advice: input.advice,
        consultee_name: &name,
        name_sealed,
        form_version_id: None,
    };
    match input.advice {
        Advice::TakePart => {
            let unknown = || {
                AppError::invalid(
                    "form_version_id",
                    "Choose the published form of this study that the consultee answered.",
                )
            };
            let version = input
                .form_version_id
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(unknown)?;
            let form = crate::consent::forms::service::get_version(app, version)
                .await
                .map_err(|_| unknown())?;
            if form.study_id != *study {
                return Err(unknown());
            }
            advice.form_version_id = Some(&form.id);
            consent_by_consultee(app, actor, &p, &form, &input.answers, &advice)
                .await
                .map(Some)
        }
        Advice::NotTakePart => {
            let mut tx = app.db.begin().await?;
            store_advice(&mut tx, app, &advice, app.now()).await?;
            tx.commit().await?;
            Ok(None)
        }
    }
}

/// Records a sign of objection (s.33): they are withdrawn from further data
/// collection at once, through the one withdrawal path, then the objection is
/// kept (its description sealed) and audited.
pub async fn object(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &str,
    description: &str,
) -> Result<()> {
    let p = participant(app, actor, study, participant_id).await?;
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
    };
    record_withdrawal(app, actor, &p, withdrawal).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let sealed = app
        .vault
        .seal("objections", "description", &id, &description);
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::insert_objection(
        &mut tx,
        &id,
        study.as_str(),
        &p.id,
        &sealed,
        actor.account_id.as_str(),
        now,
    )
    .await?;
    let entry = NewEntry::by_in_study(actor, study, "consent.objection", "participant", &p.id)
        .details(
            json!({ "study_code": p.study_code, "withdrawn_from": "further data collection" }),
        );
    audit::append(&mut tx, &app.db, now, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// A participant's capacity records, newest first, without sealed values.
pub struct Overview {
    /// Their capacity may have changed since the last assessment.
    pub capacity_flag: bool,
    pub assessments: Vec<AssessmentSummary>,
    pub advice: Vec<AdviceSummary>,
    pub objections: Vec<ObjectionSummary>,
}

pub async fn overview(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant_id: &str,
) -> Result<Overview> {
    let p = participant(app, actor, study, participant_id).await?;
    Ok(Overview {
        capacity_flag: p.capacity_flag,
        assessments: store::assessments_of(&app.db.pool, &p.id).await?,
        advice: store::advice_of(&app.db.pool, &p.id).await?,
        objections: store::objections_of(&app.db.pool, &p.id).await?,
    })
}
