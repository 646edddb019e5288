//! SQL for the outbox. Claiming is the one per-engine statement: PostgreSQL
//! uses FOR UPDATE SKIP LOCKED so instances never take the same row; SQLite
//! runs one writer at a time under the write lock.

use sqlx::Row;

use crate::db::{Backend, Db, Tx};
use crate::ids::MessageId;

pub struct NewMessage<'a> {
    pub id: &'a MessageId,
    pub template: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    pub attachment: Option<&'a super::Attachment>,
}

pub async fn insert(tx: &mut Tx, m: &NewMessage<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, template, to_addr, subject, body_text, body_html, attachment_name, attachment_type,
             attachment, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10)",
    )
    .bind(m.id.as_str())
    .bind(m.template)
    .bind(m.to)
    .bind(m.subject)
    .bind(m.text)
    .bind(m.html)
    .bind(m.attachment.map(|a| a.name.as_str()))
    .bind(m.attachment.map(|a| a.content_type.as_str()))
    .bind(m.attachment.map(|a| a.bytes.as_slice()))
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub struct Claimed {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attempts: i32,
    pub attachment: Option<super::Attachment>,
}

pub async fn claim(db: &Db, now: i64, until: i64, limit: i64) -> sqlx::Result<Vec<Claimed>> {
    let sql = match db.backend {
        Backend::Postgres => {
            "UPDATE outbox SET claimed_until = $1 WHERE id IN (
                 SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2
                 AND (claimed_until IS NULL OR claimed_until < $2)
                 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, to_addr, subject, body_text, body_html, attempts,
                 attachment_name, attachment_type, attachment"
        }
        Backend::Sqlite => {
            "UPDATE outbox SET claimed_until = $1 WHERE id IN (
                 SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2
                 AND (claimed_until IS NULL OR claimed_until < $2)
                 ORDER BY next_attempt_at LIMIT $3)
             RETURNING id, to_addr, subject, body_text, body_html, attempts,
                 attachment_name, attachment_type, attachment"
        }
    };
    let mut tx = db.begin().await?;
    let rows = sqlx::query(sql)
        .bind(until)
        .bind(now)
        .bind(limit)
        .fetch_all(tx.conn())
        .await?;
    tx.commit().await?;
    rows.iter()
        .map(|r| {
            let attachment = match (r.try_get(6)?, r.try_get(7)?, r.try_get(8)?) {
                (Some(name), Some(content_type), Some(bytes)) => Some(super::Attachment {
                    name,
                    content_type,
                    bytes,
                }),
                _ => None,
            };
            Ok(Claimed {
                id: r.try_get(0)?,
                to: r.try_get(1)?,
                subject: r.try_get(2)?,
                text: r.try_get(3)?,
                html: r.try_get(4)?,
                attempts: r.try_get(5)?,
                attachment,
            })
        })
        .collect()
}

pub async fn mark_sent(
    pool: &sqlx::AnyPool,
    id: &str,
    attempts: i32,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = $2, claimed_until = NULL,
         to_addr = NULL, body_text = NULL, body_html = NULL, attachment_name = NULL, attachment_type = NULL,
         attachment = NULL, last_error = NULL WHERE id = $3",
    )
    .bind(now)
    .bind(attempts)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn mark_failed(
    pool: &sqlx::AnyPool,
    id: &str,
    attempts: i32,
    next_attempt_at: i64,
    reason: &str,
    give_up: bool,
) -> sqlx::Result<()> {
    if give_up {
        sqlx::query(
            "UPDATE outbox SET status = 'failed', attempts = $1, claimed_until = NULL, last_error = $2,
             to_addr = NULL, body_text = NULL, body_html = NULL, attachment_name = NULL,
             attachment_type = NULL, attachment = NULL WHERE id = $3",
        )
        .bind(attempts)
        .bind(reason)
        .bind(id)
        .execute(pool)
        .await?;
    } else {
        sqlx::query(
            "UPDATE outbox SET attempts = $1, next_attempt_at = $2, claimed_until = NULL, last_error = $3 WHERE id = $4",
        )
        .bind(attempts)
        .bind(next_attempt_at)
        .bind(reason)
        .bind(id)
        .execute(pool)
        .await?;
    }
    Ok(())
}
