//! SQL for the audit chain. The head row is the point of serialisation: on
//! PostgreSQL it is locked with FOR UPDATE (READ COMMITTED, so the locked read
//! sees the newest head); on SQLite the transaction already holds the write lock.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::model::{Checkpoint, Entry};
use crate::db::{Backend, Tx};

pub async fn lock_head(tx: &mut Tx, backend: Backend) -> sqlx::Result<(i64, String)> {
    let sql = match backend {
        Backend::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
        Backend::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
    };
    let row = sqlx::query(sql).fetch_one(&mut **tx).await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

pub async fn insert(tx: &mut Tx, e: &Entry) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, role, action, entity_type, entity_id, study_id, reason, details, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(e.seq)
    .bind(e.at)
    .bind(&e.actor)
    .bind(&e.role)
    .bind(&e.action)
    .bind(&e.entity_type)
    .bind(&e.entity_id)
    .bind(&e.study_id)
    .bind(&e.reason)
    .bind(&e.details)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(e.seq)
        .bind(&e.hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn entry(row: &AnyRow) -> sqlx::Result<Entry> {
    Ok(Entry {
        seq: row.try_get(0)?,
        at: row.try_get(1)?,
        actor: row.try_get(2)?,
        role: row.try_get(3)?,
        action: row.try_get(4)?,
        entity_type: row.try_get(5)?,
        entity_id: row.try_get(6)?,
        study_id: row.try_get(7)?,
        reason: row.try_get(8)?,
        details: row.try_get(9)?,
        prev_hash: row.try_get(10)?,
        hash: row.try_get(11)?,
    })
}

/// Entries with seq above `after`, oldest first, at most `limit`.
pub async fn page(pool: &AnyPool, after: i64, limit: i64) -> sqlx::Result<Vec<Entry>> {
    sqlx::query(
        "SELECT seq, at, actor, role, action, entity_type, entity_id, study_id, reason, details, prev_hash, hash
         FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(entry)
    .collect()
}

/// The newest entries about one study (or about the instance when `study` is None), newest first.
pub async fn recent(pool: &AnyPool, study: Option<&str>, limit: i64) -> sqlx::Result<Vec<Entry>> {
    let rows = match study {
        Some(s) => {
            sqlx::query(
                "SELECT seq, at, actor, role, action, entity_type, entity_id, study_id, reason, details, prev_hash, hash
                 FROM audit_log WHERE study_id = $1 ORDER BY seq DESC LIMIT $2",
            )
            .bind(s)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT seq, at, actor, role, action, entity_type, entity_id, study_id, reason, details, prev_hash, hash
                 FROM audit_log ORDER BY seq DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(entry).collect()
}

/// A study's entries whose action starts with `action_prefix` and whose entity
/// is either of two (type, id) pairs, oldest first.
pub async fn about_either(
    pool: &AnyPool,
    study: &str,
    action_prefix: &str,
    first: (&str, &str),
    second: (&str, &str),
) -> sqlx::Result<Vec<Entry>> {
    sqlx::query(
        "SELECT seq, at, actor, role, action, entity_type, entity_id, study_id, reason, details, prev_hash, hash
         FROM audit_log WHERE study_id = $1 AND action LIKE $2
           AND ((entity_type = $3 AND entity_id = $4) OR (entity_type = $5 AND entity_id = $6))
         ORDER BY seq",
    )
    .bind(study)
    .bind(format!("{action_prefix}%"))
    .bind(first.0)
    .bind(first.1)
    .bind(second.0)
    .bind(second.1)
    .fetch_all(pool)
    .await?
    .iter()
    .map(entry)
    .collect()
}

pub async fn insert_checkpoint(pool: &AnyPool, cp: &Checkpoint) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_checkpoints (size, root, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (size) DO NOTHING",
    )
    .bind(cp.size)
    .bind(&cp.root)
    .bind(cp.at)
    .bind(&cp.key_id)
    .bind(&cp.signature)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn checkpoints(pool: &AnyPool) -> sqlx::Result<Vec<Checkpoint>> {
    sqlx::query("SELECT size, root, at, key_id, signature FROM audit_checkpoints ORDER BY size")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Checkpoint {
                size: r.try_get(0)?,
                root: r.try_get(1)?,
                at: r.try_get(2)?,
                key_id: r.try_get(3)?,
                signature: r.try_get(4)?,
            })
        })
        .collect()
}

pub async fn head_seq(pool: &AnyPool) -> sqlx::Result<i64> {
    sqlx::query("SELECT seq FROM audit_head WHERE id = 1")
        .fetch_one(pool)
        .await?
        .try_get(0)
}
