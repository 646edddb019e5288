//! SQL for capacity assessments, consultees' advice, objections and the
//! participant's capacity flag.

use sqlx::{AnyPool, Row};

use super::model::TAKE_PART;
use crate::db::Tx;

pub struct NewAssessment<'a> {
    pub id: &'a str,
    pub study_id: &'a str,
    pub participant_id: &'a str,
    pub decision: &'a str,
    pub assessed_on: &'a str,
    pub outcome: &'a str,
    pub assessor_account: &'a str,
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Does the latest assessment of their capacity to decide about taking part
/// find that they lack it? (The latest by date assessed, then by recording.)
pub async fn lacks_capacity(pool: &AnyPool, participant: &str) -> sqlx::Result<bool> {
    let outcome: Option<String> = sqlx::query(
        "SELECT outcome FROM capacity_assessments WHERE participant_id = $1 AND decision = $2
         ORDER BY assessed_on DESC, created_at DESC, id DESC LIMIT 1",
    )
    .bind(participant)
    .bind(TAKE_PART)
    .fetch_optional(pool)
    .await?
    .map(|r| r.try_get(0))
    .transpose()?;
    Ok(outcome.as_deref() == Some("lacks_capacity"))
}

pub async fn set_capacity_flag(
    tx: &mut Tx,
    participant: &str,
    flagged: bool,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE participants SET capacity_flag = $1, updated_at = $2 WHERE id = $3")
        .bind(flagged as i16)
        .bind(now)
        .bind(participant)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub struct NewAdvice<'a> {
    pub id: &'a str,
    pub study_id: &'a str,
    pub participant_id: &'a str,
    pub consultee_kind: &'a str,
    pub advice: &'a str,
    pub consultee_name_sealed: &'a str,
    pub recorded_by: &'a str,
    pub form_version_id: Option<&'a str>,
}

pub async fn insert_advice(tx: &mut Tx, a: &NewAdvice<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO consultee_advice (id, study_id, participant_id, consultee_kind, advice, consultee_name_sealed, recorded_by, recorded_at, form_version_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn insert_objection(
    tx: &mut Tx,
    id: &str,
    study: &str,
    participant: &str,
    description_sealed: &str,
    by: &str,
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An assessment as listed: no sealed notes.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct AssessmentSummary {
    pub id: String,
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
    pub id: String,
    pub consultee_kind: String,
    pub advice: String,
    /// The form the consultee answered, if they advised taking part.
    pub form_version_id: Option<String>,
    pub recorded_by: String,
    pub recorded_at: i64,
}

/// An objection as listed: no description.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct ObjectionSummary {
    pub id: String,
    pub recorded_by: String,
    pub recorded_at: i64,
}

/// A participant's assessments, newest first.
pub async fn assessments_of(
    pool: &AnyPool,
    participant: &str,
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
pub async fn advice_of(pool: &AnyPool, participant: &str) -> sqlx::Result<Vec<AdviceSummary>> {
    sqlx::query(
        "SELECT c.id, c.consultee_kind, c.advice, c.form_version_id, a.display_name, c.recorded_at
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
            recorded_by: r.try_get(4)?,
            recorded_at: r.try_get(5)?,
        })
    })
    .collect()
}

/// A participant's objections, newest first.
pub async fn objections_of(
    pool: &AnyPool,
    participant: &str,
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
