//! SQL for the identities table. Values arrive here sealed and leave sealed.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::model::SealedIdentity;
use crate::db::Tx;
use crate::ids::{ParticipantId, SiteId, StudyId};

/// A stored identity and when it was erased, if it was.
pub struct IdentityRow {
    pub sealed: SealedIdentity,
    pub erased_at: Option<i64>,
}

/// Reads key_version and the five sealed columns starting at column `at`.
fn sealed(r: &AnyRow, at: usize) -> sqlx::Result<SealedIdentity> {
    let version: i32 = r.try_get(at)?;
    let key_version = u16::try_from(version).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(SealedIdentity {
        key_version,
        values: [
            r.try_get(at + 1)?,
            r.try_get(at + 2)?,
            r.try_get(at + 3)?,
            r.try_get(at + 4)?,
            r.try_get(at + 5)?,
        ],
    })
}

/// Inserts the identity, or replaces every sealed value of an existing one
/// (which is then no longer erased).
pub async fn upsert(
    tx: &mut Tx,
    participant_id: &ParticipantId,
    s: &SealedIdentity,
    email_index: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    let [name, email, phone, date_of_birth, notes] = &s.values;
    sqlx::query(
        "INSERT INTO identities (participant_id, key_version, name_ct, email_ct, phone_ct, date_of_birth_ct,
             notes_ct, email_index, created_at, updated_at, erased_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, NULL)
         ON CONFLICT (participant_id) DO UPDATE SET key_version = excluded.key_version,
             name_ct = excluded.name_ct, email_ct = excluded.email_ct, phone_ct = excluded.phone_ct,
             date_of_birth_ct = excluded.date_of_birth_ct, notes_ct = excluded.notes_ct,
             email_index = excluded.email_index, updated_at = excluded.updated_at, erased_at = NULL",
    )
    .bind(participant_id)
    .bind(i32::from(s.key_version))
    .bind(name)
    .bind(email)
    .bind(phone)
    .bind(date_of_birth)
    .bind(notes)
    .bind(email_index)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The identity of a participant of this study at this site; None for anyone
/// else. The participant's row is locked first, as a withdrawal locks it
/// before erasing: a reveal waits for an erasure under way and then sees it.
pub async fn in_site(
    tx: &mut Tx,
    participant_id: &ParticipantId,
    study: &StudyId,
    site: &SiteId,
) -> sqlx::Result<Option<IdentityRow>> {
    let sql = crate::for_update!(
        tx,
        "SELECT id FROM participants WHERE id = $1 AND study_id = $2 AND site_id = $3"
    );
    let here = sqlx::query(sql)
        .bind(participant_id)
        .bind(study)
        .bind(site)
        .fetch_optional(tx.conn())
        .await?;
    match here {
        Some(_) => of(tx, participant_id).await,
        None => Ok(None),
    }
}

pub async fn of(tx: &mut Tx, participant_id: &ParticipantId) -> sqlx::Result<Option<IdentityRow>> {
    let row = sqlx::query(
        "SELECT key_version, name_ct, email_ct, phone_ct, date_of_birth_ct, notes_ct, erased_at
         FROM identities WHERE participant_id = $1",
    )
    .bind(participant_id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(|r| {
        Ok(IdentityRow {
            sealed: sealed(&r, 0)?,
            erased_at: r.try_get(6)?,
        })
    })
    .transpose()
}

/// Participants of the study whose email has this blind index.
pub async fn by_email_index(
    pool: &AnyPool,
    study: &StudyId,
    email_index: &str,
) -> sqlx::Result<Vec<ParticipantId>> {
    sqlx::query_scalar(
        "SELECT i.participant_id FROM identities i JOIN participants p ON p.id = i.participant_id
         WHERE i.email_index = $1 AND p.study_id = $2 ORDER BY i.participant_id",
    )
    .bind(email_index)
    .bind(study.as_str())
    .fetch_all(pool)
    .await
}

/// Forgets every sealed value and the index; keeps the first erasure time.
pub async fn erase(tx: &mut Tx, participant_id: &ParticipantId, now: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE identities SET name_ct = NULL, email_ct = NULL, phone_ct = NULL, date_of_birth_ct = NULL,
             notes_ct = NULL, email_index = NULL, erased_at = COALESCE(erased_at, $2), updated_at = $2
         WHERE participant_id = $1",
    )
    .bind(participant_id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

/// Up to `limit` identities (not erased) sealed with a key older than `version`.
/// The sealed identities of a study's participants (not erased).
pub async fn in_study(
    tx: &mut Tx,
    study: &StudyId,
) -> sqlx::Result<Vec<(ParticipantId, SealedIdentity)>> {
    let rows = sqlx::query(
        "SELECT i.participant_id, i.key_version, i.name_ct, i.email_ct, i.phone_ct, i.date_of_birth_ct, i.notes_ct
         FROM identities i JOIN participants p ON p.id = i.participant_id
         WHERE p.study_id = $1 AND i.name_ct IS NOT NULL ORDER BY i.participant_id",
    )
    .bind(study)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, sealed(r, 1)?)))
        .collect()
}

pub async fn sealed_before(
    tx: &mut Tx,
    version: u16,
    limit: i64,
) -> sqlx::Result<Vec<(ParticipantId, SealedIdentity)>> {
    let rows = sqlx::query(
        "SELECT participant_id, key_version, name_ct, email_ct, phone_ct, date_of_birth_ct, notes_ct
         FROM identities WHERE key_version < $1 AND name_ct IS NOT NULL
         ORDER BY participant_id LIMIT $2",
    )
    .bind(i32::from(version))
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, sealed(r, 1)?)))
        .collect()
}

/// Replaces `old` by `new` unless the row changed since `old` was read (every
/// write seals the name afresh, so an unchanged name means an unchanged row).
/// The identity itself is unchanged, so updated_at stays.
pub async fn reseal(
    tx: &mut Tx,
    participant_id: &ParticipantId,
    old: &SealedIdentity,
    new: &SealedIdentity,
) -> sqlx::Result<bool> {
    let [name, email, phone, date_of_birth, notes] = &new.values;
    let done = sqlx::query(
        "UPDATE identities SET key_version = $2, name_ct = $3, email_ct = $4, phone_ct = $5,
             date_of_birth_ct = $6, notes_ct = $7
         WHERE participant_id = $1 AND key_version = $8 AND name_ct = $9",
    )
    .bind(participant_id)
    .bind(i32::from(new.key_version))
    .bind(name)
    .bind(email)
    .bind(phone)
    .bind(date_of_birth)
    .bind(notes)
    .bind(i32::from(old.key_version))
    .bind(&old.values[0])
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}
