//! SQL the kernel decides and writes with: consent records and their answers,
//! withdrawals, the invitations a withdrawal cancels, and the reads a
//! decision rests on. Reads take a connection, so a decision reads inside its
//! transaction and a page reads from the pool with the same statement.

use std::collections::BTreeSet;

use sqlx::{AnyConnection, Row};

use super::model::{ClauseAnswer, ConsentMethod, WithdrawalBasis, WithdrawalScope};
use crate::db::{flag, Tx};
use crate::ids::{
    AccountId, ConsentRecordId, FormVersionId, MediaObjectId, ParticipantId, StudyId, WithdrawalId,
};

pub struct NewRecord<'a> {
    pub id: &'a ConsentRecordId,
    pub study_id: &'a StudyId,
    pub participant_id: &'a ParticipantId,
    pub form_version_id: &'a FormVersionId,
    /// The language the form was read in.
    pub language: &'a str,
    pub method: ConsentMethod,
    pub supersedes_id: Option<&'a ConsentRecordId>,
    pub signature_sealed: Option<&'a str>,
    pub participant_signed_at: i64,
    pub taken_by: Option<&'a AccountId>,
    pub countersigned_at: Option<i64>,
    pub verbal_record: Option<&'a str>,
    pub scan_sha256: Option<&'a str>,
    pub scan_object: Option<&'a MediaObjectId>,
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
             participant_signed_at, taken_by, countersigned_at, verbal_record, scan_sha256, scan_object_id, record_hash, pdf, pdf_sha256, created_at,
             language)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
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
    .bind(r.scan_object)
    .bind(r.record_hash)
    .bind(r.pdf.to_vec())
    .bind(r.pdf_sha256)
    .bind(now)
    .bind(r.language)
    .execute(tx.conn())
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
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// The participant's current record: the one no other record supersedes
/// (the database keeps the chain linear, so there is at most one).
pub async fn latest_record(
    conn: &mut AnyConnection,
    participant: &ParticipantId,
) -> sqlx::Result<Option<(ConsentRecordId, FormVersionId)>> {
    sqlx::query(
        "SELECT r.id, r.form_version_id FROM consent_records r
         WHERE r.participant_id = $1
           AND NOT EXISTS (SELECT 1 FROM consent_records n WHERE n.supersedes_id = r.id)
         ORDER BY r.created_at DESC, r.id DESC LIMIT 1",
    )
    .bind(participant)
    .fetch_optional(conn)
    .await?
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .transpose()
}

/// The form version of the record that was their current one at `at` (ms):
/// created by then and not yet superseded by then.
pub async fn version_current_at(
    conn: &mut AnyConnection,
    participant: &ParticipantId,
    at: i64,
) -> sqlx::Result<Option<FormVersionId>> {
    sqlx::query_scalar(
        "SELECT r.form_version_id FROM consent_records r
         WHERE r.participant_id = $1 AND r.created_at <= $2
           AND NOT EXISTS (SELECT 1 FROM consent_records n WHERE n.supersedes_id = r.id AND n.created_at <= $2)
         ORDER BY r.created_at DESC, r.id DESC LIMIT 1",
    )
    .bind(participant)
    .bind(at)
    .fetch_optional(conn)
    .await
}

/// The uses a record agreed to.
pub async fn agreed_uses(
    conn: &mut AnyConnection,
    record: &ConsentRecordId,
) -> sqlx::Result<BTreeSet<String>> {
    sqlx::query("SELECT governs FROM consent_answers WHERE record_id = $1 AND agreed = 1")
        .bind(record)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect()
}

/// Everything withdrawn so far, as one scope.
pub async fn withdrawn(
    conn: &mut AnyConnection,
    participant: &ParticipantId,
) -> sqlx::Result<WithdrawalScope> {
    let rows = sqlx::query(
        "SELECT no_contact, no_collection, remove_identifiable FROM withdrawals WHERE participant_id = $1",
    )
    .bind(participant)
    .fetch_all(conn)
    .await?;
    rows.iter().try_fold(WithdrawalScope::default(), |acc, r| {
        Ok(acc.union(WithdrawalScope {
            no_contact: flag(r.try_get(0)?),
            no_collection: flag(r.try_get(1)?),
            remove_identifiable: flag(r.try_get(2)?),
        }))
    })
}

/// Does the latest assessment of their capacity to decide about taking part
/// find that they lack it? (The latest by date assessed, then by recording.)
pub async fn lacks_capacity(
    conn: &mut AnyConnection,
    participant: &ParticipantId,
) -> sqlx::Result<bool> {
    let outcome: Option<String> = sqlx::query_scalar(
        "SELECT outcome FROM capacity_assessments WHERE participant_id = $1 AND decision = 'take_part'
         ORDER BY assessed_on DESC, created_at DESC, id DESC LIMIT 1",
    )
    .bind(participant)
    .fetch_optional(conn)
    .await?;
    Ok(outcome.as_deref() == Some("lacks_capacity"))
}

pub struct NewWithdrawal<'a> {
    pub id: &'a WithdrawalId,
    pub study_id: &'a StudyId,
    pub participant_id: &'a ParticipantId,
    pub scope: WithdrawalScope,
    pub reason_sealed: Option<&'a str>,
    pub recorded_by: &'a AccountId,
    pub erasure: &'a str,
    pub erasure_refusal_reason: Option<&'a str>,
    pub basis: WithdrawalBasis,
    pub confirmation_emailed: bool,
}

pub async fn insert_withdrawal(tx: &mut Tx, w: &NewWithdrawal<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO withdrawals (id, study_id, participant_id, no_contact, no_collection, remove_identifiable, reason_sealed,
             recorded_by, recorded_at, erasure, erasure_refusal_reason, basis, confirmation_emailed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
    .bind(w.basis.as_str())
    .bind(w.confirmation_emailed as i16)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn cancel_invitations(
    tx: &mut Tx,
    participant: &ParticipantId,
    now: i64,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE consent_invitations SET cancelled_at = $1
         WHERE participant_id = $2 AND used_at IS NULL AND cancelled_at IS NULL",
    )
    .bind(now)
    .bind(participant)
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Erases the sealed typed-name signatures and paper scans of a participant's
/// records ("remove identifiable data"); the records keep their hashes. A
/// scan in the media store is erased there (`scans_of`); its record is dated
/// here.
/// Returns how many records had one.
pub async fn erase_signatures(
    tx: &mut Tx,
    participant: &ParticipantId,
    now: i64,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE consent_records SET signature_sealed = NULL, scan_sealed = NULL, signature_erased_at = $1
         WHERE participant_id = $2 AND (signature_sealed IS NOT NULL OR scan_sealed IS NOT NULL
               OR (scan_object_id IS NOT NULL AND signature_erased_at IS NULL))",
    )
    .bind(now)
    .bind(participant)
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// The media objects holding a participant's paper consent scans.
pub async fn scans_of(
    tx: &mut Tx,
    participant: &ParticipantId,
) -> sqlx::Result<Vec<MediaObjectId>> {
    let rows = sqlx::query(
        "SELECT scan_object_id FROM consent_records WHERE participant_id = $1 AND scan_object_id IS NOT NULL",
    )
    .bind(participant)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| Ok(MediaObjectId::from_db(r.try_get(0)?)))
        .collect()
}

/// A participant's withdrawal as kept, for their own page and its PDF record.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WithdrawalEntry {
    pub id: WithdrawalId,
    pub participant_id: ParticipantId,
    pub scope: WithdrawalScope,
    pub basis: WithdrawalBasis,
    pub recorded_at: i64,
    /// Who recorded it, by display name; None if the account is gone.
    pub recorded_by: Option<String>,
    /// The participant recorded it themselves.
    pub by_participant: bool,
    /// not_asked, erased or refused.
    pub erasure: String,
    pub erasure_refusal_reason: Option<String>,
    /// None for withdrawals recorded before this was kept.
    pub confirmation_emailed: Option<bool>,
}

impl WithdrawalEntry {
    /// What became of their identifiable information, addressed to them.
    pub fn erasure_in_words(&self) -> String {
        match self.erasure.as_str() {
            "erased" => {
                "Your identifiable information that had not been analysed has been removed.".into()
            }
            "refused" => format!(
                "Your identifiable information could not be removed: {}",
                self.erasure_refusal_reason
                    .as_deref()
                    .unwrap_or("no reason was recorded.")
            ),
            _ => "You did not ask for your identifiable information to be removed.".into(),
        }
    }
}

/// A withdrawal's basis as stored.
pub fn basis_of(raw: &str) -> sqlx::Result<WithdrawalBasis> {
    WithdrawalBasis::parse(raw)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown withdrawal basis {raw}").into()))
}

const WITHDRAWAL_ENTRY: &str =
    "SELECT w.id, w.participant_id, w.no_contact, w.no_collection, w.remove_identifiable, w.basis, w.recorded_at,
            a.display_name, w.recorded_by, p.account_id, w.erasure,
            w.erasure_refusal_reason, w.confirmation_emailed
     FROM withdrawals w JOIN participants p ON p.id = w.participant_id
     LEFT JOIN accounts a ON a.id = w.recorded_by";

fn withdrawal_entry(r: &sqlx::any::AnyRow) -> sqlx::Result<WithdrawalEntry> {
    let basis: String = r.try_get(5)?;
    Ok(WithdrawalEntry {
        id: r.try_get(0)?,
        participant_id: r.try_get(1)?,
        scope: WithdrawalScope {
            no_contact: flag(r.try_get(2)?),
            no_collection: flag(r.try_get(3)?),
            remove_identifiable: flag(r.try_get(4)?),
        },
        basis: basis_of(&basis)?,
        recorded_at: r.try_get(6)?,
        recorded_by: r.try_get(7)?,
        by_participant: {
            let (by, own): (Option<String>, Option<String>) = (r.try_get(8)?, r.try_get(9)?);
            by.is_some() && by == own
        },
        erasure: r.try_get(10)?,
        erasure_refusal_reason: r.try_get(11)?,
        confirmation_emailed: r.try_get::<Option<i16>, _>(12)?.map(flag),
    })
}

/// A participant's withdrawals, oldest first.
pub async fn withdrawals_of(
    conn: &mut AnyConnection,
    participant: &ParticipantId,
) -> sqlx::Result<Vec<WithdrawalEntry>> {
    sqlx::query(&format!(
        "{WITHDRAWAL_ENTRY} WHERE w.participant_id = $1 ORDER BY w.recorded_at, w.id"
    ))
    .bind(participant)
    .fetch_all(conn)
    .await?
    .iter()
    .map(withdrawal_entry)
    .collect()
}

/// One withdrawal in a study, if there is one with that id.
pub async fn withdrawal(
    conn: &mut AnyConnection,
    study: &StudyId,
    id: &WithdrawalId,
) -> sqlx::Result<Option<WithdrawalEntry>> {
    sqlx::query(&format!(
        "{WITHDRAWAL_ENTRY} WHERE w.id = $1 AND w.study_id = $2"
    ))
    .bind(id)
    .bind(study)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(withdrawal_entry)
    .transpose()
}
