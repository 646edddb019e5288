//! SQL for instrument versions and responses.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Executor, Row};

use super::definition::{self, RaterRole, Subject};
use super::model::{InstrumentVersion, Response, Status};
use super::scoring::Score;
use crate::db::list::{ListQuery, Order, Page, PageRequest, SiteScope};
use crate::db::Tx;
use crate::ids::{AccountId, InstrumentVersionId, ResponseId, SiteId, StudyId};

/// What identifies a stored version and whether it may change.
pub struct StoredVersion {
    pub id: InstrumentVersionId,
    pub content_hash: String,
    pub study_id: Option<StudyId>,
}

pub async fn version_by_key<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    instrument_id: &str,
    version: u32,
) -> sqlx::Result<Option<StoredVersion>> {
    sqlx::query(
        "SELECT id, content_hash, study_id FROM instrument_versions WHERE instrument_id = $1 AND version = $2",
    )
    .bind(instrument_id)
    .bind(i64::from(version))
    .fetch_optional(db)
    .await?
    .map(|r| {
        Ok(StoredVersion {
            id: r.try_get(0)?,
            content_hash: r.try_get(1)?,
            study_id: r.try_get(2)?,
        })
    })
    .transpose()
}

pub async fn has_responses<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    version: &InstrumentVersionId,
) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM instrument_responses WHERE instrument_version_id = $1 LIMIT 1")
            .bind(version)
            .fetch_optional(db)
            .await?
            .is_some(),
    )
}

/// A version to store: its definition, the text it was read from, where
/// that came from.
pub struct NewVersion<'a> {
    pub definition: &'a definition::Definition,
    pub text: &'a str,
    pub source: &'a str,
    pub content_hash: &'a str,
    pub study: Option<&'a StudyId>,
}

pub async fn insert_version(
    tx: &mut Tx,
    v: &NewVersion<'_>,
    now: i64,
) -> sqlx::Result<InstrumentVersionId> {
    let id = InstrumentVersionId::new();
    sqlx::query(
        "INSERT INTO instrument_versions (id, instrument_id, version, title, subject, definition, content_hash, source, study_id, loaded_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&id)
    .bind(&v.definition.id)
    .bind(i64::from(v.definition.version))
    .bind(&v.definition.title)
    .bind(v.definition.subject.as_str())
    .bind(v.text)
    .bind(v.content_hash)
    .bind(v.source)
    .bind(v.study.map(StudyId::as_str))
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// Locks a version for the rest of the transaction and reads its content
/// hash after the lock: a response begun and a file replacing an unused
/// version take this lock, so one waits for the other.
pub async fn lock_version(tx: &mut Tx, id: &InstrumentVersionId) -> sqlx::Result<Option<String>> {
    let sql = crate::for_update!(
        tx,
        "SELECT content_hash FROM instrument_versions WHERE id = $1"
    );
    sqlx::query(sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .map(|r| r.try_get(0))
        .transpose()
}

/// Replaces the definition of a version; the caller holds its lock and has
/// found it without responses.
pub async fn update_version(
    tx: &mut Tx,
    id: &InstrumentVersionId,
    v: &NewVersion<'_>,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE instrument_versions SET title = $2, subject = $3, definition = $4, content_hash = $5, source = $6, updated_at = $7
         WHERE id = $1",
    )
    .bind(id)
    .bind(&v.definition.title)
    .bind(v.definition.subject.as_str())
    .bind(v.text)
    .bind(v.content_hash)
    .bind(v.source)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

fn version_row(r: &AnyRow) -> sqlx::Result<InstrumentVersion> {
    let text: String = r.try_get(1)?;
    let source: String = r.try_get(3)?;
    // Stored definitions were checked when they were loaded; one that no
    // longer parses means the database was edited by hand.
    let definition = definition::parse(&source, &text, None).map_err(|problems| {
        let first = problems
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        sqlx::Error::Decode(format!("stored instrument definition: {first}").into())
    })?;
    Ok(InstrumentVersion {
        id: r.try_get(0)?,
        definition,
        content_hash: r.try_get(2)?,
        source,
        study_id: r.try_get(4)?,
    })
}

const VERSION_COLUMNS: &str =
    "SELECT id, definition, content_hash, source, study_id FROM instrument_versions";

/// Every version a study may use: the files' and its own imports.
pub async fn versions_for_study(
    pool: &AnyPool,
    study: &StudyId,
) -> sqlx::Result<Vec<InstrumentVersion>> {
    sqlx::query(&format!(
        "{VERSION_COLUMNS} WHERE study_id IS NULL OR study_id = $1 ORDER BY title, instrument_id, version"
    ))
    .bind(study)
    .fetch_all(pool)
    .await?
    .iter()
    .map(version_row)
    .collect()
}

/// One version, if the study may use it.
pub async fn version<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    study: &StudyId,
    id: &InstrumentVersionId,
) -> sqlx::Result<Option<InstrumentVersion>> {
    sqlx::query(&format!(
        "{VERSION_COLUMNS} WHERE id = $1 AND (study_id IS NULL OR study_id = $2)"
    ))
    .bind(id)
    .bind(study)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(version_row)
    .transpose()
}

/// A response to begin.
pub struct NewResponse<'a> {
    pub id: &'a ResponseId,
    pub study: &'a StudyId,
    pub version: &'a InstrumentVersion,
    pub subject_kind: Subject,
    pub subject_id: &'a str,
    pub site: &'a SiteId,
    pub entered_by: &'a AccountId,
    pub rater_role: RaterRole,
    pub rater_code: Option<&'a str>,
    pub time_point: &'a str,
}

pub async fn insert_response(tx: &mut Tx, r: &NewResponse<'_>, now: i64) -> sqlx::Result<()> {
    let rater_key = match r.rater_code {
        Some(code) => format!("code:{code}"),
        None => r.entered_by.to_string(),
    };
    sqlx::query(
        "INSERT INTO instrument_responses (id, study_id, instrument_version_id, instrument_id, subject_kind, subject_id,
           entered_by, rater_role, rater_code, rater_key, time_point, status, answers, created_at, updated_at, site_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'draft', '{}', $12, $12, $13)",
    )
    .bind(r.id)
    .bind(r.study)
    .bind(&r.version.id)
    .bind(&r.version.definition.id)
    .bind(r.subject_kind.as_str())
    .bind(r.subject_id)
    .bind(r.entered_by)
    .bind(r.rater_role.as_str())
    .bind(r.rater_code)
    .bind(rater_key)
    .bind(r.time_point)
    .bind(now)
    .bind(r.site)
    .execute(tx.conn())
    .await?;
    Ok(())
}

const RESPONSE_COLUMNS: &str = "SELECT r.id, r.study_id, r.instrument_version_id, r.instrument_id, v.version, r.subject_kind, r.subject_id,
    COALESCE(p.study_code, t.name, s.name, ''), r.rater_role, r.rater_code, r.entered_by, r.time_point, r.status, r.answers,
    r.scores, r.engine_version, r.created_at, r.updated_at, r.submitted_at, r.site_id
  FROM instrument_responses r
  JOIN instrument_versions v ON v.id = r.instrument_version_id
  LEFT JOIN participants p ON r.subject_kind = 'participant' AND p.id = r.subject_id
  LEFT JOIN teams t ON r.subject_kind = 'team' AND t.id = r.subject_id
  LEFT JOIN sites s ON r.subject_kind = 'site' AND s.id = r.subject_id
  WHERE r.study_id = ";

fn decode<T>(what: &str, raw: &str, parsed: Option<T>) -> sqlx::Result<T> {
    parsed.ok_or_else(|| sqlx::Error::Decode(format!("unknown {what} {raw}").into()))
}

fn response_row(r: &AnyRow) -> sqlx::Result<Response> {
    let kind: String = r.try_get(5)?;
    let role: String = r.try_get(8)?;
    let status: String = r.try_get(12)?;
    let answers: String = r.try_get(13)?;
    let scores: Option<String> = r.try_get(14)?;
    let json = |e: serde_json::Error| sqlx::Error::Decode(e.into());
    Ok(Response {
        id: r.try_get(0)?,
        study_id: r.try_get(1)?,
        instrument_version_id: r.try_get(2)?,
        instrument_id: r.try_get(3)?,
        version: u32::try_from(r.try_get::<i64, _>(4)?).unwrap_or(0),
        subject_kind: decode("subject", &kind, Subject::parse(&kind))?,
        subject_id: r.try_get(6)?,
        subject_label: r.try_get(7)?,
        rater_role: decode("rater role", &role, RaterRole::parse(&role))?,
        rater_code: r.try_get(9)?,
        entered_by: r.try_get(10)?,
        time_point: r.try_get(11)?,
        status: decode("status", &status, Status::parse(&status))?,
        answers: serde_json::from_str(&answers).map_err(json)?,
        scores: match scores {
            Some(s) => serde_json::from_str::<Vec<Score>>(&s).map_err(json)?,
            None => Vec::new(),
        },
        engine_version: r
            .try_get::<Option<i64>, _>(15)?
            .and_then(|v| u32::try_from(v).ok()),
        created_at: r.try_get(16)?,
        updated_at: r.try_get(17)?,
        submitted_at: r.try_get(18)?,
        site_id: r.try_get(19)?,
    })
}

pub async fn response<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    study: &StudyId,
    id: &ResponseId,
) -> sqlx::Result<Option<Response>> {
    sqlx::query(&format!("{RESPONSE_COLUMNS}$1 AND r.id = $2"))
        .bind(study)
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(response_row)
        .transpose()
}

/// Locks a response for a change and reads it after the lock.
pub async fn lock_response(
    tx: &mut Tx,
    study: &StudyId,
    id: &ResponseId,
) -> sqlx::Result<Option<Response>> {
    if crate::db::lock_in_study(tx, "instrument_responses", study, id.as_str()).await? {
        response(tx.conn(), study, id).await
    } else {
        Ok(None)
    }
}

pub async fn save_answers(
    tx: &mut Tx,
    id: &ResponseId,
    answers: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE instrument_responses SET answers = $2, updated_at = $3 WHERE id = $1 AND status = 'draft'",
    )
    .bind(id)
    .bind(answers)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Submits a draft: answers and scores together, or nothing (0 rows when
/// it was no longer a draft).
pub async fn submit(
    tx: &mut Tx,
    id: &ResponseId,
    answers: &str,
    scores: &str,
    engine_version: u32,
    now: i64,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE instrument_responses SET answers = $2, scores = $3, engine_version = $4, status = 'submitted',
           submitted_at = $5, updated_at = $5
         WHERE id = $1 AND status = 'draft'",
    )
    .bind(id)
    .bind(answers)
    .bind(scores)
    .bind(i64::from(engine_version))
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected())
}

pub async fn replace_scores(
    tx: &mut Tx,
    id: &ResponseId,
    scores: &str,
    engine_version: u32,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE instrument_responses SET scores = $2, engine_version = $3 WHERE id = $1 AND status = 'submitted'",
    )
    .bind(id)
    .bind(scores)
    .bind(i64::from(engine_version))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Which responses a list holds.
#[derive(Clone, Debug, Default)]
pub struct ResponseFilter<'a> {
    pub version: Option<&'a InstrumentVersionId>,
    pub status: Option<Status>,
    pub time_point: Option<&'a str>,
    /// Only those this account entered.
    pub entered_by: Option<&'a AccountId>,
}

pub async fn list_responses(
    pool: &AnyPool,
    study: &StudyId,
    sites: &SiteScope,
    filter: &ResponseFilter<'_>,
    page: &PageRequest<ResponseId>,
) -> sqlx::Result<Page<Response, ResponseId>> {
    let mut q = ListQuery::new(RESPONSE_COLUMNS);
    q.bind(study.as_str())
        .sites("r.site_id", sites)
        .eq(
            "r.instrument_version_id",
            filter.version.map(InstrumentVersionId::as_str),
        )
        .eq("r.status", filter.status.map(Status::as_str))
        .eq("r.time_point", filter.time_point)
        .eq("r.entered_by", filter.entered_by.map(AccountId::as_str));
    q.page(pool, "r.id", Order::Descending, page, response_row, |r| {
        r.id.clone()
    })
    .await
}

/// Every submitted response to a version, oldest first: what results,
/// outcomes, agreement and rescoring read.
pub async fn submitted(
    pool: &AnyPool,
    study: &StudyId,
    sites: &SiteScope,
    version: &InstrumentVersionId,
) -> sqlx::Result<Vec<Response>> {
    let mut q = ListQuery::new(RESPONSE_COLUMNS);
    q.bind(study.as_str())
        .sites("r.site_id", sites)
        .push(" AND r.status = 'submitted' AND r.instrument_version_id = ")
        .bind(version.as_str())
        .push(" ORDER BY r.id");
    q.fetch_all(pool, response_row).await
}

/// The site a subject belongs to, if it is in the study: a participant's
/// site, a team's site, or the site itself.
pub async fn subject_site<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    study: &StudyId,
    kind: Subject,
    id: &str,
) -> sqlx::Result<Option<SiteId>> {
    let sql = match kind {
        Subject::Participant => "SELECT site_id FROM participants WHERE id = $1 AND study_id = $2",
        Subject::Team => {
            "SELECT t.site_id FROM teams t JOIN sites s ON s.id = t.site_id WHERE t.id = $1 AND s.study_id = $2"
        }
        Subject::Site => "SELECT id FROM sites WHERE id = $1 AND study_id = $2",
    };
    sqlx::query(sql)
        .bind(id)
        .bind(study)
        .fetch_optional(db)
        .await?
        .map(|r| r.try_get(0))
        .transpose()
}
