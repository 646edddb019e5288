//! SQL for participants and their per-study code counter.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::model::{Participant, ParticipantStatus, StakeholderGroup};
use crate::db::{flag, Tx};
use crate::ids::{AccountId, SiteId, StudyId};

/// Takes the next participant number of a study, atomically (the counter row
/// stays locked until the enrolment commits).
pub async fn next_number(tx: &mut Tx, study: &StudyId) -> sqlx::Result<i64> {
    sqlx::query(
        "INSERT INTO participant_code_counters (study_id, next_number) VALUES ($1, 2)
         ON CONFLICT (study_id) DO UPDATE SET next_number = participant_code_counters.next_number + 1
         RETURNING next_number - 1",
    )
    .bind(study.as_str())
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)
}

pub async fn code_prefix(pool: &AnyPool, study: &StudyId) -> sqlx::Result<String> {
    sqlx::query("SELECT code_prefix FROM studies WHERE id = $1")
        .bind(study.as_str())
        .fetch_one(pool)
        .await?
        .try_get(0)
}

pub struct NewParticipant<'a> {
    pub id: &'a str,
    pub study: &'a StudyId,
    pub code: &'a str,
    pub site: &'a SiteId,
    pub group: StakeholderGroup,
    pub account: Option<&'a AccountId>,
}

pub async fn insert(tx: &mut Tx, p: &NewParticipant<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO participants (id, study_id, study_code, site_id, stakeholder_group, status, account_id, capacity_flag, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'invited', $6, 0, $7, $7)",
    )
    .bind(p.id)
    .bind(p.study.as_str())
    .bind(p.code)
    .bind(p.site.as_str())
    .bind(p.group.as_str())
    .bind(p.account.map(AccountId::as_str))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn participant(r: &AnyRow) -> sqlx::Result<Participant> {
    let group: String = r.try_get(4)?;
    let status: String = r.try_get(5)?;
    Ok(Participant {
        id: r.try_get(0)?,
        study_id: r.try_get(1)?,
        study_code: r.try_get(2)?,
        site_id: r.try_get(3)?,
        stakeholder_group: StakeholderGroup::parse(&group)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown group {group}").into()))?,
        status: ParticipantStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status}").into()))?,
        has_account: r.try_get::<Option<String>, _>(6)?.is_some(),
        capacity_flag: flag(r.try_get(7)?),
        created_at: r.try_get(8)?,
        updated_at: r.try_get(9)?,
    })
}

pub async fn get(pool: &AnyPool, study: &StudyId, id: &str) -> sqlx::Result<Participant> {
    participant(
        &sqlx::query(
            "SELECT id, study_id, study_code, site_id, stakeholder_group, status, account_id, capacity_flag, created_at, updated_at
             FROM participants WHERE study_id = $1 AND id = $2",
        )
        .bind(study.as_str())
        .bind(id)
        .fetch_one(pool)
        .await?,
    )
}

pub async fn list(pool: &AnyPool, study: &StudyId) -> sqlx::Result<Vec<Participant>> {
    sqlx::query(
        "SELECT id, study_id, study_code, site_id, stakeholder_group, status, account_id, capacity_flag, created_at, updated_at
         FROM participants WHERE study_id = $1 ORDER BY created_at, id",
    )
    .bind(study.as_str())
    .fetch_all(pool)
    .await?
    .iter()
    .map(participant)
    .collect()
}

/// The participant row linked to an account in a study, if any.
pub async fn of_account(
    pool: &AnyPool,
    study: &StudyId,
    account: &AccountId,
) -> sqlx::Result<Option<Participant>> {
    sqlx::query(
        "SELECT id, study_id, study_code, site_id, stakeholder_group, status, account_id, capacity_flag, created_at, updated_at
         FROM participants WHERE study_id = $1 AND account_id = $2",
    )
    .bind(study.as_str())
    .bind(account.as_str())
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(participant)
    .transpose()
}
