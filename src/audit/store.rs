//! SQL for the audit chain. The head row is the point of serialisation: on
//! PostgreSQL it is locked with FOR UPDATE (READ COMMITTED, so the locked read
//! sees the newest head); on SQLite the transaction already holds the write lock.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::model::{Checkpoint, Consistency, Entry, Frontier, VerifyReport};
use crate::db::list::{ListQuery, Order, Page, PageRequest};
use crate::db::Tx;
use crate::ids::StudyId;

pub async fn lock_head(tx: &mut Tx) -> sqlx::Result<(i64, String)> {
    let sql = crate::for_update!(tx, "SELECT seq, hash FROM audit_head WHERE id = 1");
    let row = sqlx::query(sql).fetch_one(tx.conn()).await?;
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
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(e.seq)
        .bind(&e.hash)
        .execute(tx.conn())
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
    let q = ListQuery::new(
        "SELECT seq, at, actor, role, action, entity_type, entity_id, study_id, reason, details, prev_hash, hash
         FROM audit_log WHERE 1 = 1",
    );
    let request = PageRequest {
        after: Some(after),
        limit,
    };
    Ok(
        q.page(pool, "seq", Order::Ascending, &request, entry, |e| e.seq)
            .await?
            .items,
    )
}

/// A study's entries, newest first, a page at a time.
pub async fn of_study(
    pool: &AnyPool,
    study: &StudyId,
    request: &PageRequest<i64>,
) -> sqlx::Result<Page<Entry, i64>> {
    let mut q = ListQuery::new(
        "SELECT seq, at, actor, role, action, entity_type, entity_id, study_id, reason, details, prev_hash, hash
         FROM audit_log WHERE study_id = ",
    );
    q.bind(study.as_str());
    q.page(pool, "seq", Order::Descending, request, entry, |e| e.seq)
        .await
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

pub async fn insert_checkpoint(conn: &mut AnyConnection, cp: &Checkpoint) -> sqlx::Result<()> {
    let consistency = cp
        .consistency
        .as_ref()
        .map(|c| serde_json::to_string(c).expect("a proof serialises"));
    sqlx::query(
        "INSERT INTO audit_checkpoints (size, root, at, key_id, signature, consistency) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (size) DO NOTHING",
    )
    .bind(cp.size)
    .bind(&cp.root)
    .bind(cp.at)
    .bind(&cp.key_id)
    .bind(&cp.signature)
    .bind(consistency)
    .execute(conn)
    .await?;
    Ok(())
}

/// The size of the newest checkpoint in the database, if there is one.
pub async fn newest_checkpoint_size<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT MAX(size) FROM audit_checkpoints")
        .fetch_one(db)
        .await
}

/// The database's checkpoints of at least `from` entries, smallest first.
pub async fn checkpoints_from(pool: &AnyPool, from: i64) -> sqlx::Result<Vec<Checkpoint>> {
    sqlx::query(
        "SELECT size, root, at, key_id, signature, consistency FROM audit_checkpoints WHERE size >= $1 ORDER BY size",
    )
    .bind(from)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        let consistency: Option<String> = r.try_get(5)?;
        Ok(Checkpoint {
            size: r.try_get(0)?,
            root: r.try_get(1)?,
            at: r.try_get(2)?,
            key_id: r.try_get(3)?,
            signature: r.try_get(4)?,
            consistency: consistency
                .map(|c| serde_json::from_str::<Consistency>(&c))
                .transpose()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
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

/// Keeps the tree's right edge before a checkpoint's last entry, to resume
/// verifications from (see `model::Resume`). Only verified walks keep one,
/// so a kept edge replaces one that was found wrong.
pub async fn keep_frontier<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    size: i64,
    prefix: &Frontier,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_frontiers (size, prefix) VALUES ($1, $2)
         ON CONFLICT (size) DO UPDATE SET prefix = excluded.prefix",
    )
    .bind(size)
    .bind(serde_json::to_string(prefix).expect("a frontier serialises"))
    .execute(db)
    .await?;
    Ok(())
}

/// The newest signed checkpoint's size with its kept right edge, if the
/// edge is one: well formed and one entry short of the checkpoint. None
/// sends a verification back to the first entry.
pub async fn newest_frontier(pool: &AnyPool) -> sqlx::Result<Option<(i64, Frontier)>> {
    let row = sqlx::query(
        "SELECT f.size, f.prefix FROM audit_frontiers f JOIN audit_checkpoints c ON c.size = f.size
         ORDER BY f.size DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let size: i64 = row.try_get(0)?;
    let text: String = row.try_get(1)?;
    Ok(serde_json::from_str::<Frontier>(&text)
        .ok()
        .filter(|f| f.is_well_formed() && f.size() + 1 == size)
        .map(|f| (size, f)))
}

/// How a verification was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum VerificationKind {
    /// Every entry from the first, every checkpoint.
    Full,
    /// Before signing a checkpoint.
    Checkpoint,
}

impl VerificationKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Checkpoint => "checkpoint",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Full, Self::Checkpoint]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A verification as recorded: when, how, and what it found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, poem_openapi::Object)]
pub struct Verification {
    pub kind: VerificationKind,
    /// UTC Unix milliseconds.
    pub at: i64,
    pub report: VerifyReport,
}

pub async fn record_verification(pool: &AnyPool, v: &Verification) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_verifications (id, at, kind, from_seq, entries, checkpoints_checked, valid, problem)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(v.at)
    .bind(v.kind.as_str())
    .bind(v.report.from)
    .bind(v.report.entries)
    .bind(v.report.checkpoints_checked)
    .bind(v.report.valid as i16)
    .bind(&v.report.problem)
    .execute(pool)
    .await?;
    Ok(())
}

/// The newest recorded verification of a kind.
pub async fn latest_verification(
    pool: &AnyPool,
    kind: VerificationKind,
) -> sqlx::Result<Option<Verification>> {
    sqlx::query(
        "SELECT kind, at, from_seq, entries, checkpoints_checked, valid, problem FROM audit_verifications
         WHERE kind = $1 ORDER BY at DESC, id DESC LIMIT 1",
    )
    .bind(kind.as_str())
    .fetch_optional(pool)
    .await?
    .map(|r| {
        let kind: String = r.try_get(0)?;
        Ok(Verification {
            kind: VerificationKind::parse(&kind)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown kind {kind}").into()))?,
            at: r.try_get(1)?,
            report: VerifyReport {
                from: r.try_get(2)?,
                entries: r.try_get(3)?,
                checkpoints_checked: r.try_get(4)?,
                valid: crate::db::flag(r.try_get(5)?),
                problem: r.try_get(6)?,
            },
        })
    })
    .transpose()
}
