//! SQL for media objects and what erasure decided about them. Values that
//! could identify someone (a file's name, a location on the team's storage,
//! the data key) arrive sealed and leave sealed.

use sqlx::{AnyConnection, Row};

use super::kind::MediaKind;
use crate::db::Tx;
use crate::ids::{AccountId, MediaObjectId, ParticipantId, StudyId};

/// What a stored file is for; each capability that keeps media names its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Recording,
    TranscriptOriginal,
    ConsentScan,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::TranscriptOriginal => "transcript_original",
            Self::ConsentScan => "consent_scan",
        }
    }
}

/// Where the bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// In the media folder, encrypted under this (sealed) data key.
    Stored { data_key_sealed: String },
    /// On the team's own storage, at this (sealed) path or URI.
    External { reference_sealed: String },
}

pub struct NewObject<'a> {
    pub id: &'a MediaObjectId,
    pub study_id: &'a StudyId,
    pub purpose: Purpose,
    pub kind: MediaKind,
    pub media_type: &'a str,
    pub size_bytes: u64,
    pub sha256: Option<&'a str>,
    pub location: &'a Location,
    pub original_name_sealed: Option<&'a str>,
    pub created_by: &'a AccountId,
}

pub async fn insert(tx: &mut Tx, o: &NewObject<'_>, now: i64) -> sqlx::Result<()> {
    let (storage, key, reference) = match o.location {
        Location::Stored { data_key_sealed } => ("stored", Some(data_key_sealed.as_str()), None),
        Location::External { reference_sealed } => {
            ("external", None, Some(reference_sealed.as_str()))
        }
    };
    sqlx::query(
        "INSERT INTO media_objects (id, study_id, purpose, kind, media_type, size_bytes, sha256, storage,
             data_key_sealed, external_ref_sealed, original_name_sealed, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(o.id)
    .bind(o.study_id)
    .bind(o.purpose.as_str())
    .bind(o.kind.as_str())
    .bind(o.media_type)
    .bind(i64::try_from(o.size_bytes).unwrap_or(i64::MAX))
    .bind(o.sha256)
    .bind(storage)
    .bind(key)
    .bind(reference)
    .bind(o.original_name_sealed)
    .bind(o.created_by)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A media object as stored.
#[derive(Clone, Debug)]
pub struct ObjectRow {
    pub id: MediaObjectId,
    pub study_id: StudyId,
    pub kind: MediaKind,
    pub media_type: String,
    pub size_bytes: u64,
    pub sha256: Option<String>,
    /// None once erased: nothing is left to open.
    pub location: Option<Location>,
    pub original_name_sealed: Option<String>,
    pub erased_at: Option<i64>,
}

pub async fn get(conn: &mut AnyConnection, id: &MediaObjectId) -> sqlx::Result<Option<ObjectRow>> {
    let row = sqlx::query(
        "SELECT id, study_id, kind, media_type, size_bytes, sha256, storage, data_key_sealed,
                external_ref_sealed, original_name_sealed, erased_at
         FROM media_objects WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let erased_at: Option<i64> = r.try_get("erased_at")?;
        let storage: String = r.try_get("storage")?;
        let key: Option<String> = r.try_get("data_key_sealed")?;
        let reference: Option<String> = r.try_get("external_ref_sealed")?;
        let location = match (erased_at, storage.as_str()) {
            (Some(_), _) => None,
            (None, "stored") => key.map(|data_key_sealed| Location::Stored { data_key_sealed }),
            (None, _) => reference.map(|reference_sealed| Location::External { reference_sealed }),
        };
        let kind: String = r.try_get("kind")?;
        Ok(ObjectRow {
            id: MediaObjectId::from_db(r.try_get("id")?),
            study_id: StudyId::from_db(r.try_get("study_id")?),
            kind: MediaKind::parse(&kind).unwrap_or(MediaKind::Document),
            media_type: r.try_get("media_type")?,
            size_bytes: u64::try_from(r.try_get::<i64, _>("size_bytes")?).unwrap_or(0),
            sha256: r.try_get("sha256")?,
            location,
            original_name_sealed: r.try_get("original_name_sealed")?,
            erased_at,
        })
    })
    .transpose()
}

/// Drops what opens or finds the object: its data key, its external
/// reference and its name. True when it was not erased already.
pub async fn erase(tx: &mut Tx, id: &MediaObjectId, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE media_objects SET data_key_sealed = NULL, external_ref_sealed = NULL,
             original_name_sealed = NULL, erased_at = $1
         WHERE id = $2 AND erased_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() > 0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    Withdrawal,
    Retention,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Self::Withdrawal => "withdrawal",
            Self::Retention => "retention",
        }
    }
}

/// Records what was decided about one object: removed, or kept and why.
pub async fn record_decision(
    tx: &mut Tx,
    object: &MediaObjectId,
    participant: Option<&ParticipantId>,
    cause: Cause,
    kept_because: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO media_erasures (id, media_object_id, participant_id, cause, outcome, reason, decided_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(object)
    .bind(participant)
    .bind(cause.as_str())
    .bind(if kept_because.is_some() { "kept" } else { "removed" })
    .bind(kept_because.unwrap_or("Removed: the data key was destroyed and the file deleted."))
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Objects whose study's retention period (counted from when they were
/// stored) has run out, oldest first.
pub async fn past_retention(
    conn: &mut AnyConnection,
    now: i64,
    limit: i64,
) -> sqlx::Result<Vec<MediaObjectId>> {
    const YEAR_MS: i64 = 365 * 24 * 3600 * 1000 + 6 * 3600 * 1000;
    let rows = sqlx::query(
        "SELECT o.id FROM media_objects o JOIN studies s ON s.id = o.study_id
         WHERE o.erased_at IS NULL AND o.created_at + s.retention_years * $1 < $2
         ORDER BY o.created_at LIMIT $3",
    )
    .bind(YEAR_MS)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("id").map(MediaObjectId::from_db))
        .collect()
}

/// Which of these ids name a stored object that is not erased: the files
/// that must stay. One query per 500 ids.
pub async fn live_among(
    pool: &sqlx::AnyPool,
    ids: &[String],
) -> sqlx::Result<std::collections::HashSet<String>> {
    let mut live = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let mut q = crate::db::list::ListQuery::new(
            "SELECT id FROM media_objects WHERE erased_at IS NULL AND storage = 'stored'",
        );
        q.any_of("id", chunk.iter().map(String::as_str));
        live.extend(q.fetch_all(pool, |r| r.try_get::<String, _>("id")).await?);
    }
    Ok(live)
}

/// Sealed data keys not sealed with `version`, for a key rotation.
pub async fn keys_sealed_before(
    conn: &mut AnyConnection,
    version: u16,
    limit: i64,
) -> sqlx::Result<Vec<(MediaObjectId, String)>> {
    let rows = sqlx::query(
        "SELECT id, data_key_sealed FROM media_objects
         WHERE data_key_sealed IS NOT NULL AND data_key_sealed NOT LIKE $1
         ORDER BY id LIMIT $2",
    )
    .bind(format!("v{version}:%"))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                MediaObjectId::from_db(r.try_get("id")?),
                r.try_get("data_key_sealed")?,
            ))
        })
        .collect()
}

/// Replaces a sealed data key, only if it is still the one read.
pub async fn reseal_key(
    tx: &mut Tx,
    id: &MediaObjectId,
    old: &str,
    new: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE media_objects SET data_key_sealed = $1 WHERE id = $2 AND data_key_sealed = $3",
    )
    .bind(new)
    .bind(id)
    .bind(old)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() > 0)
}
