//! SQL for capacity assessments, consultees' advice, objections and the
//! participant's capacity flag.

use sqlx::{AnyPool, Row};

use super::model::AdviceEffect;
use crate::db::Tx;
use crate::ids::{
    AccountId, AdviceId, AssessmentId, FormVersionId, ObjectionId, ParticipantId, StudyId,
};

pub struct NewAssessment<'a> {
    pub id: &'a AssessmentId,
    pub study_id: &'a StudyId,
    pub participant_id: &'a ParticipantId,
    pub decision: &'a str,
    pub assessed_on: &'a str,
    pub outcome: &'a str,
    pub assessor_account: &'a AccountId,
    pub notes_sealed: Option<&'a str>,
}

pub async fn insert_assessment(tx: &mut Tx, a: &NewAssessment<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO capacity_assessments (id, study_id, participant_id, decision, assessed_on, outcome, assessor_account, notes_sealed, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.id)
    .bind(a.study_id)
    .bind(a.participant_id)
    .bind(a.decision)
    .bind(a.assessed_on)
    .bind(a.outcome)
    .bind(a.assessor_account)
    .bind(a.notes_sealed)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub struct NewAdvice<'a> {
    pub id: &'a AdviceId,
    pub study_id: &'a StudyId,
    pub participant_id: &'a ParticipantId,
    pub consultee_kind: &'a str,
    pub advice: &'a str,
    pub consultee_name_sealed: &'a str,
    pub recorded_by: &'a AccountId,
    pub form_version_id: Option<&'a FormVersionId>,
    pub effect: AdviceEffect,
}

pub async fn insert_advice(tx: &mut Tx, a: &NewAdvice<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO consultee_advice (id, study_id, participant_id, consultee_kind, advice, consultee_name_sealed, recorded_by, recorded_at, form_version_id, effect)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(a.id)
    .bind(a.study_id)
    .bind(a.participant_id)
    .bind(a.consultee_kind)
    .bind(a.advice)
    .bind(a.consultee_name_sealed)
    .bind(a.recorded_by)
    .bind(now)
    .bind(a.form_version_id)
    .bind(a.effect.as_str())
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn insert_objection(
    tx: &mut Tx,
    id: &ObjectionId,
    study: &StudyId,
    participant: &ParticipantId,
    description_sealed: &str,
    by: &AccountId,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO objections (id, participant_id, study_id, description_sealed, recorded_by, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(participant)
    .bind(study)
    .bind(description_sealed)
    .bind(by)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// An assessment as listed: no sealed notes.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct AssessmentSummary {
    pub id: AssessmentId,
    pub decision: String,
    pub assessed_on: String,
    pub outcome: String,
    /// The assessor's name.
    pub assessor: String,
    pub notes_given: bool,
    pub created_at: i64,
}

/// A consultee's advice as listed: no name.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct AdviceSummary {
    pub id: AdviceId,
    pub consultee_kind: String,
    pub advice: String,
    /// The form the consultee answered, if they advised taking part.
    #[oai(nullable)]
    pub form_version_id: Option<FormVersionId>,
    /// What the advice did; absent for advice recorded before this was kept.
    #[oai(nullable)]
    pub effect: Option<AdviceEffect>,
    pub recorded_by: String,
    pub recorded_at: i64,
}

/// An objection as listed: no description.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct ObjectionSummary {
    pub id: ObjectionId,
    pub recorded_by: String,
    pub recorded_at: i64,
}

/// A participant's assessments, newest first.
pub async fn assessments_of(
    pool: &AnyPool,
    participant: &ParticipantId,
) -> sqlx::Result<Vec<AssessmentSummary>> {
    sqlx::query(
        "SELECT c.id, c.decision, c.assessed_on, c.outcome, a.display_name, c.notes_sealed, c.created_at
         FROM capacity_assessments c JOIN accounts a ON a.id = c.assessor_account
         WHERE c.participant_id = $1 ORDER BY c.assessed_on DESC, c.created_at DESC, c.id DESC",
    )
    .bind(participant)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(AssessmentSummary {
            id: r.try_get(0)?,
            decision: r.try_get(1)?,
            assessed_on: r.try_get(2)?,
            outcome: r.try_get(3)?,
            assessor: r.try_get(4)?,
            notes_given: r.try_get::<Option<String>, _>(5)?.is_some(),
            created_at: r.try_get(6)?,
        })
    })
    .collect()
}

/// A participant's consultees' advice, newest first.
pub async fn advice_of(
    pool: &AnyPool,
    participant: &ParticipantId,
) -> sqlx::Result<Vec<AdviceSummary>> {
    sqlx::query(
        "SELECT c.id, c.consultee_kind, c.advice, c.form_version_id, a.display_name, c.recorded_at, c.effect
         FROM consultee_advice c JOIN accounts a ON a.id = c.recorded_by
         WHERE c.participant_id = $1 ORDER BY c.recorded_at DESC, c.id DESC",
    )
    .bind(participant)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(AdviceSummary {
            id: r.try_get(0)?,
            consultee_kind: r.try_get(1)?,
            advice: r.try_get(2)?,
            form_version_id: r.try_get(3)?,
            effect: r
                .try_get::<Option<String>, _>(6)?
                .as_deref()
                .and_then(AdviceEffect::parse),
            recorded_by: r.try_get(4)?,
            recorded_at: r.try_get(5)?,
        })
    })
    .collect()
}

/// A participant's objections, newest first.
pub async fn objections_of(
    pool: &AnyPool,
    participant: &ParticipantId,
) -> sqlx::Result<Vec<ObjectionSummary>> {
    sqlx::query(
        "SELECT o.id, a.display_name, o.recorded_at
         FROM objections o JOIN accounts a ON a.id = o.recorded_by
         WHERE o.participant_id = $1 ORDER BY o.recorded_at DESC, o.id DESC",
    )
    .bind(participant)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(ObjectionSummary {
            id: r.try_get(0)?,
            recorded_by: r.try_get(1)?,
            recorded_at: r.try_get(2)?,
        })
    })
    .collect()
}
