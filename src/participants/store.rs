//! SQL for participants and their per-study code counter.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Executor, Row};

use super::model::{
    Participant, ParticipantFilter, ParticipantStatus, StakeholderGroup, StudyCode,
};
use crate::db::list::{ListQuery, Order, Page, PageRequest, SiteScope};
use crate::db::{flag, Tx};
use crate::ids::{AccountId, ParticipantId, SiteId, StudyId};

/// Takes the next participant number of a study, atomically (the counter row
/// stays locked until the enrolment commits).
pub async fn next_number(tx: &mut Tx, study: &StudyId) -> sqlx::Result<i64> {
    sqlx::query(
        "INSERT INTO participant_code_counters (study_id, next_number) VALUES ($1, 2)
         ON CONFLICT (study_id) DO UPDATE SET next_number = participant_code_counters.next_number + 1
         RETURNING next_number - 1",
    )
    .bind(study)
    .fetch_one(tx.conn())
    .await?
    .try_get(0)
}

pub struct NewParticipant<'a> {
    pub id: &'a ParticipantId,
    pub study: &'a StudyId,
    pub code: &'a StudyCode,
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
    .bind(p.study)
    .bind(p.code.as_str())
    .bind(p.site)
    .bind(p.group.as_str())
    .bind(p.account)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A participant from a row whose first ten columns are id, study_id,
/// study_code, site_id, stakeholder_group, status, account_id, capacity_flag,
/// created_at, updated_at (written out in each query: `for_update!` and
/// `ListQuery` take the SQL as one literal).
pub fn participant(r: &AnyRow) -> sqlx::Result<Participant> {
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

pub async fn get<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    study: &StudyId,
    id: &ParticipantId,
) -> sqlx::Result<Participant> {
    participant(
        &sqlx::query(
            "SELECT id, study_id, study_code, site_id, stakeholder_group, status, account_id, capacity_flag, created_at, updated_at
             FROM participants WHERE study_id = $1 AND id = $2",
        )
        .bind(study)
        .bind(id)
        .fetch_one(db)
        .await?,
    )
}

/// The participant of this study with this study code.
pub async fn by_code(
    conn: &mut sqlx::AnyConnection,
    study: &StudyId,
    code: &str,
) -> sqlx::Result<Option<Participant>> {
    sqlx::query(
        "SELECT id, study_id, study_code, site_id, stakeholder_group, status, account_id, capacity_flag, created_at, updated_at
         FROM participants WHERE study_id = $1 AND study_code = $2",
    )
    .bind(study)
    .bind(code)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(participant)
    .transpose()
}

/// A participant, their row locked until the transaction ends: every write
/// that decides on a participant's consent, withdrawal or capacity takes
/// this lock first and reads what it decides on after it.
pub async fn lock(tx: &mut Tx, id: &ParticipantId) -> sqlx::Result<Participant> {
    let sql = crate::for_update!(
        tx,
        "SELECT id, study_id, study_code, site_id, stakeholder_group, status, account_id, capacity_flag, created_at, updated_at
         FROM participants WHERE id = $1"
    );
    participant(&sqlx::query(sql).bind(id).fetch_one(tx.conn()).await?)
}

/// A page of a study's participants at the given sites, oldest first, filtered.
pub async fn list(
    pool: &AnyPool,
    study: &StudyId,
    sites: &SiteScope,
    filter: &ParticipantFilter,
    page: &PageRequest<ParticipantId>,
) -> sqlx::Result<Page<Participant, ParticipantId>> {
    let mut q = ListQuery::new(
        "SELECT id, study_id, study_code, site_id, stakeholder_group, status, account_id, capacity_flag, created_at, updated_at
         FROM participants WHERE study_id = ",
    );
    q.bind(study.as_str())
        .sites("site_id", sites)
        .eq("status", filter.status.map(ParticipantStatus::as_str))
        .eq(
            "stakeholder_group",
            filter.stakeholder_group.map(StakeholderGroup::as_str),
        )
        .eq("site_id", filter.site_id.as_ref().map(SiteId::as_str));
    q.page(pool, "id", Order::Ascending, page, participant, |p| {
        p.id.clone()
    })
    .await
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
    .bind(study)
    .bind(account)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(participant)
    .transpose()
}

pub async fn set_status(
    tx: &mut Tx,
    participant: &ParticipantId,
    status: ParticipantStatus,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE participants SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now)
        .bind(participant)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn set_capacity_flag(
    tx: &mut Tx,
    participant: &ParticipantId,
    flagged: bool,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE participants SET capacity_flag = $1, updated_at = $2 WHERE id = $3")
        .bind(flagged as i16)
        .bind(now)
        .bind(participant)
        .execute(tx.conn())
        .await?;
    Ok(())
}
