//! SQL for consent records, their answers, online invitations and withdrawals.

use std::collections::BTreeSet;

use sqlx::{AnyPool, Row};

use super::model::{ClauseAnswer, ConsentMethod, WithdrawalScope};
use crate::db::{flag, Tx};

pub struct NewRecord<'a> {
    pub id: &'a str,
    pub study_id: &'a str,
    pub participant_id: &'a str,
    pub form_version_id: &'a str,
    pub method: ConsentMethod,
    pub supersedes_id: Option<&'a str>,
    pub signature_sealed: Option<&'a str>,
    pub participant_signed_at: i64,
    pub taken_by: Option<&'a str>,
    pub countersigned_at: Option<i64>,
    pub verbal_record: Option<&'a str>,
    pub scan_sha256: Option<&'a str>,
    pub scan_sealed: Option<&'a str>,
    pub record_hash: &'a str,
    pub pdf: &'a [u8],
    pub pdf_sha256: &'a str,
}

pub async fn insert_record(
    tx: &mut Tx,
    r: &NewRecord<'_>,
    answers: &[ClauseAnswer],
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO consent_records (id, study_id, participant_id, form_version_id, method, supersedes_id, signature_sealed,
             participant_signed_at, taken_by, countersigned_at, verbal_record, scan_sha256, scan_sealed, record_hash, pdf, pdf_sha256, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(r.id)
    .bind(r.study_id)
    .bind(r.participant_id)
    .bind(r.form_version_id)
    .bind(r.method.as_str())
    .bind(r.supersedes_id)
    .bind(r.signature_sealed)
    .bind(r.participant_signed_at)
    .bind(r.taken_by)
    .bind(r.countersigned_at)
    .bind(r.verbal_record)
    .bind(r.scan_sha256)
    .bind(r.scan_sealed)
    .bind(r.record_hash)
    .bind(r.pdf.to_vec())
    .bind(r.pdf_sha256)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    for a in answers {
        sqlx::query(
            "INSERT INTO consent_answers (record_id, clause_key, clause_text, clause_text_sha256, governs, mandatory, agreed, left_blank)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(r.id)
        .bind(&a.key)
        .bind(&a.text)
        .bind(&a.text_sha256)
        .bind(&a.governs)
        .bind(a.mandatory as i16)
        .bind(a.agreed as i16)
        .bind(a.left_blank as i16)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The participant's newest record: (id, form version id).
pub async fn latest_record(
    pool: &AnyPool,
    participant: &str,
) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query("SELECT id, form_version_id FROM consent_records WHERE participant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1")
        .bind(participant)
        .fetch_optional(pool)
        .await?
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .transpose()
}

/// The uses a record agreed to.
pub async fn agreed_uses(pool: &AnyPool, record: &str) -> sqlx::Result<BTreeSet<String>> {
    sqlx::query("SELECT governs FROM consent_answers WHERE record_id = $1 AND agreed = 1")
        .bind(record)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect()
}

/// Everything withdrawn so far, as one scope.
pub async fn withdrawn(pool: &AnyPool, participant: &str) -> sqlx::Result<WithdrawalScope> {
    let rows = sqlx::query("SELECT no_contact, no_collection, remove_identifiable FROM withdrawals WHERE participant_id = $1")
        .bind(participant)
        .fetch_all(pool)
        .await?;
    rows.iter().try_fold(WithdrawalScope::default(), |acc, r| {
        Ok(acc.union(WithdrawalScope {
            no_contact: flag(r.try_get(0)?),
            no_collection: flag(r.try_get(1)?),
            remove_identifiable: flag(r.try_get(2)?),
        }))
    })
}

pub struct NewWithdrawal<'a> {
    pub id: &'a str,
    pub study_id: &'a str,
    pub participant_id: &'a str,
    pub scope: WithdrawalScope,
    pub reason_sealed: Option<&'a str>,
    pub recorded_by: Option<&'a str>,
    pub erasure: &'a str,
    pub erasure_refusal_reason: Option<&'a str>,
}

pub async fn insert_withdrawal(tx: &mut Tx, w: &NewWithdrawal<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO withdrawals (id, study_id, participant_id, no_contact, no_collection, remove_identifiable, reason_sealed,
             recorded_by, recorded_at, erasure, erasure_refusal_reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(w.id)
    .bind(w.study_id)
    .bind(w.participant_id)
    .bind(w.scope.no_contact as i16)
    .bind(w.scope.no_collection as i16)
    .bind(w.scope.remove_identifiable as i16)
    .bind(w.reason_sealed)
    .bind(w.recorded_by)
    .bind(now)
    .bind(w.erasure)
    .bind(w.erasure_refusal_reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_participant_status(
    tx: &mut Tx,
    participant: &str,
    status: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE participants SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now)
        .bind(participant)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

// Online invitations

pub async fn insert_invitation(
    tx: &mut Tx,
    hash: &str,
    participant: &str,
    form_version: &str,
    by: &str,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO consent_invitations (token_hash, participant_id, form_version_id, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash)
    .bind(participant)
    .bind(form_version)
    .bind(by)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An invitation still usable: (participant id, form version id).
pub async fn usable_invitation(
    pool: &AnyPool,
    hash: &str,
    now: i64,
) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query(
        "SELECT participant_id, form_version_id FROM consent_invitations
         WHERE token_hash = $1 AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > $2",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(pool)
    .await?
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .transpose()
}

/// Uses an invitation up, atomically: a second submission finds nothing.
pub async fn use_invitation(tx: &mut Tx, hash: &str, now: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE consent_invitations SET used_at = $1
         WHERE token_hash = $2 AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(hash)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

pub async fn cancel_invitations(tx: &mut Tx, participant: &str, now: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("UPDATE consent_invitations SET cancelled_at = $1 WHERE participant_id = $2 AND used_at IS NULL AND cancelled_at IS NULL")
        .bind(now)
        .bind(participant)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// A record's PDF and its participant: (pdf bytes, participant id).
pub async fn pdf(pool: &AnyPool, study: &str, record: &str) -> sqlx::Result<(Vec<u8>, String)> {
    let r = sqlx::query(
        "SELECT pdf, participant_id FROM consent_records WHERE study_id = $1 AND id = $2",
    )
    .bind(study)
    .bind(record)
    .fetch_one(pool)
    .await?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}

/// A record as listed in a participant's history.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordSummary {
    pub id: String,
    pub form_id: String,
    pub form_version: i32,
    pub method: String,
    pub created_at: i64,
    pub supersedes_id: Option<String>,
}

/// A participant's records, newest first.
pub async fn records_of(pool: &AnyPool, participant: &str) -> sqlx::Result<Vec<RecordSummary>> {
    sqlx::query(
        "SELECT r.id, f.form_id, f.version, r.method, r.created_at, r.supersedes_id
         FROM consent_records r JOIN consent_form_versions f ON f.id = r.form_version_id
         WHERE r.participant_id = $1 ORDER BY r.created_at DESC, r.id DESC",
    )
    .bind(participant)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(RecordSummary {
            id: r.try_get(0)?,
            form_id: r.try_get(1)?,
            form_version: r.try_get(2)?,
            method: r.try_get(3)?,
            created_at: r.try_get(4)?,
            supersedes_id: r.try_get(5)?,
        })
    })
    .collect()
}
