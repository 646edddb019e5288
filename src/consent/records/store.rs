//! SQL for online consent invitations and for reading records back (the
//! kernel writes records and withdrawals).

use sqlx::{AnyPool, Row};

use crate::db::Tx;
use crate::ids::{AccountId, ConsentRecordId, FormVersionId, ParticipantId, StudyId};

// Online invitations

pub async fn insert_invitation(
    tx: &mut Tx,
    hash: &str,
    participant: &ParticipantId,
    form_version: &FormVersionId,
    by: &AccountId,
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
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Notes the record a used invitation made, in the same transaction.
pub async fn note_record(tx: &mut Tx, hash: &str, record: &ConsentRecordId) -> sqlx::Result<()> {
    sqlx::query("UPDATE consent_invitations SET record_id = $1 WHERE token_hash = $2")
        .bind(record)
        .bind(hash)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// An invitation as it stands, whether or not it can still be used.
pub struct InvitationRow {
    pub participant_id: ParticipantId,
    pub form_version_id: FormVersionId,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    /// The record its use made.
    pub record_id: Option<ConsentRecordId>,
}

pub async fn invitation(pool: &AnyPool, hash: &str) -> sqlx::Result<Option<InvitationRow>> {
    sqlx::query(
        "SELECT participant_id, form_version_id, expires_at, used_at, cancelled_at, record_id
         FROM consent_invitations WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(pool)
    .await?
    .map(|r| {
        Ok(InvitationRow {
            participant_id: r.try_get(0)?,
            form_version_id: r.try_get(1)?,
            expires_at: r.try_get(2)?,
            used_at: r.try_get(3)?,
            cancelled_at: r.try_get(4)?,
            record_id: r.try_get(5)?,
        })
    })
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
    .execute(tx.conn())
    .await?
    .rows_affected()
        == 1)
}

/// A record's PDF copy, with what names its file.
pub struct Copy {
    pub pdf: Vec<u8>,
    pub participant_id: ParticipantId,
    /// `<participant code>-<form>-v<version>-<date>.pdf`, the date the record's (UK).
    pub file_name: String,
}

pub async fn pdf(pool: &AnyPool, study: &StudyId, record: &ConsentRecordId) -> sqlx::Result<Copy> {
    let r = sqlx::query(
        "SELECT r.pdf, r.participant_id, p.study_code, f.form_id, f.version, r.created_at
         FROM consent_records r JOIN participants p ON p.id = r.participant_id
         JOIN consent_form_versions f ON f.id = r.form_version_id
         WHERE r.study_id = $1 AND r.id = $2",
    )
    .bind(study)
    .bind(record)
    .fetch_one(pool)
    .await?;
    let (code, form): (String, String) = (r.try_get(2)?, r.try_get(3)?);
    Ok(Copy {
        pdf: r.try_get(0)?,
        participant_id: r.try_get(1)?,
        file_name: crate::consent::kernel::pdf::file_name(
            &code,
            &form,
            r.try_get(4)?,
            r.try_get(5)?,
        ),
    })
}

/// One answer as the participant read and gave it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ShownAnswer {
    pub key: String,
    /// The statement's words as shown (in the language read).
    pub text: String,
    pub mandatory: bool,
    pub agreed: bool,
    pub left_blank: bool,
}

/// A record's answers in the order its form put the statements.
pub async fn shown_answers(
    pool: &AnyPool,
    record: &ConsentRecordId,
) -> sqlx::Result<Vec<ShownAnswer>> {
    let rows = sqlx::query(
        "SELECT a.clause_key, a.clause_text, a.mandatory, a.agreed, a.left_blank, v.clauses
         FROM consent_answers a JOIN consent_records r ON r.id = a.record_id
         JOIN consent_form_versions v ON v.id = r.form_version_id
         WHERE a.record_id = $1",
    )
    .bind(record)
    .fetch_all(pool)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let clauses: Vec<crate::consent::forms::model::Clause> =
        serde_json::from_str(&first.try_get::<String, _>(5)?)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let mut answers = rows
        .iter()
        .map(|r| {
            Ok(ShownAnswer {
                key: r.try_get(0)?,
                text: r.try_get(1)?,
                mandatory: crate::db::flag(r.try_get(2)?),
                agreed: crate::db::flag(r.try_get(3)?),
                left_blank: crate::db::flag(r.try_get(4)?),
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    answers.sort_by_key(|a| clauses.iter().position(|c| c.key == a.key));
    Ok(answers)
}

/// The records a record replaced and was replaced by: (supersedes, superseded by).
pub async fn neighbours(
    pool: &AnyPool,
    record: &ConsentRecordId,
) -> sqlx::Result<(Option<ConsentRecordId>, Option<ConsentRecordId>)> {
    let r = sqlx::query(
        "SELECT r.supersedes_id, (SELECT n.id FROM consent_records n WHERE n.supersedes_id = r.id)
         FROM consent_records r WHERE r.id = $1",
    )
    .bind(record)
    .fetch_one(pool)
    .await?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}

/// A record as listed in a participant's history.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordSummary {
    pub id: ConsentRecordId,
    pub form_id: String,
    pub form_title: String,
    pub form_version: i32,
    pub method: String,
    pub created_at: i64,
    pub supersedes_id: Option<ConsentRecordId>,
}

/// A participant's records, newest first.
pub async fn records_of(
    pool: &AnyPool,
    participant: &ParticipantId,
) -> sqlx::Result<Vec<RecordSummary>> {
    sqlx::query(
        "SELECT r.id, f.form_id, f.version, r.method, r.created_at, r.supersedes_id, f.title
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
            form_title: r.try_get(6)?,
            form_version: r.try_get(2)?,
            method: r.try_get(3)?,
            created_at: r.try_get(4)?,
            supersedes_id: r.try_get(5)?,
        })
    })
    .collect()
}
