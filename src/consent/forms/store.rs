//! SQL for published consent form versions. Rows are only ever inserted:
//! the database refuses updates and deletes (see the migration).

use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Executor, Row};

use super::model::{Clause, ConsentForm, ConsentFormVersion};
use crate::db::{flag, Tx};
use crate::ids::{FormTranslationId, FormVersionId, StudyId};

const DATE: &str = "%Y-%m-%d";

const SELECT: &str = "SELECT v.id, v.study_id, s.slug, v.form_id, v.version, v.language, v.title,
    v.information_sheet_version, v.information_sheet_date, v.rec_reference, v.rec_approval_date,
    v.easy_read, v.withdrawal_policy, v.body_markdown, v.clauses, v.content_hash, v.source_path,
    v.loaded_at, CAST(NULL AS TEXT), v.staff_note, v.contact, v.information_sheet_url
    FROM consent_form_versions v JOIN studies s ON s.id = v.study_id";

/// A translation, read in the shape of its version (whose id it keeps).
const TRANSLATION: &str =
    "SELECT v.id, v.study_id, s.slug, v.form_id, v.version, t.language, t.title,
    t.information_sheet_version, t.information_sheet_date, t.rec_reference, t.rec_approval_date,
    t.easy_read, t.withdrawal_policy, t.body_markdown, t.clauses, t.content_hash, t.source_path,
    t.loaded_at, t.translated_from, t.staff_note, t.contact, t.information_sheet_url
    FROM consent_form_translations t JOIN consent_form_versions v ON v.id = t.form_version_id
    JOIN studies s ON s.id = v.study_id";

fn decode_error(e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

fn date(r: &AnyRow, i: usize) -> sqlx::Result<NaiveDate> {
    NaiveDate::parse_from_str(&r.try_get::<String, _>(i)?, DATE).map_err(decode_error)
}

fn version(r: &AnyRow) -> sqlx::Result<ConsentFormVersion> {
    let clauses: Vec<Clause> =
        serde_json::from_str(&r.try_get::<String, _>(14)?).map_err(decode_error)?;
    Ok(ConsentFormVersion {
        id: r.try_get(0)?,
        study_id: r.try_get(1)?,
        form: ConsentForm {
            study_slug: r.try_get(2)?,
            form_id: r.try_get(3)?,
            version: r.try_get(4)?,
            language: r.try_get(5)?,
            title: r.try_get(6)?,
            information_sheet_version: r.try_get(7)?,
            information_sheet_date: date(r, 8)?,
            rec_reference: r.try_get(9)?,
            rec_approval_date: date(r, 10)?,
            easy_read: flag(r.try_get(11)?),
            withdrawal_policy: r.try_get(12)?,
            body_markdown: r.try_get(13)?,
            clauses,
            content_hash: r.try_get(15)?,
            translated_from: r.try_get(18)?,
            staff_note: r.try_get(19)?,
            contact: r.try_get(20)?,
            information_sheet_url: r.try_get(21)?,
        },
        source_path: r.try_get(16)?,
        loaded_at: r.try_get(17)?,
    })
}

/// The study with this short name, if there is one.
pub async fn study_by_slug(tx: &mut Tx, slug: &str) -> sqlx::Result<Option<StudyId>> {
    Ok(sqlx::query("SELECT id FROM studies WHERE slug = $1")
        .bind(slug)
        .fetch_optional(tx.conn())
        .await?
        .map(|r| StudyId::from_db(r.get(0))))
}

/// The columns every published form text has, in the order `bind_text` binds them.
const TEXT_COLUMNS: &str = "title, information_sheet_version, information_sheet_date,
    rec_reference, rec_approval_date, easy_read, withdrawal_policy, body_markdown, clauses,
    content_hash, source_path, staff_note, contact, information_sheet_url, loaded_at";

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds what `TEXT_COLUMNS` names, after whatever the query bound already.
fn bind_text<'q>(
    q: AnyQuery<'q>,
    form: &'q ConsentForm,
    source_path: &'q str,
    now: i64,
) -> sqlx::Result<AnyQuery<'q>> {
    let clauses =
        serde_json::to_string(&form.clauses).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    Ok(q.bind(&form.title)
        .bind(&form.information_sheet_version)
        .bind(form.information_sheet_date.format(DATE).to_string())
        .bind(&form.rec_reference)
        .bind(form.rec_approval_date.format(DATE).to_string())
        .bind(i16::from(form.easy_read))
        .bind(&form.withdrawal_policy)
        .bind(&form.body_markdown)
        .bind(clauses)
        .bind(&form.content_hash)
        .bind(source_path)
        .bind(&form.staff_note)
        .bind(&form.contact)
        .bind(&form.information_sheet_url)
        .bind(now))
}

/// Publishes a version unless that version of the form is already there;
/// says whether it was inserted. (Two instances starting together on
/// PostgreSQL meet here: the second waits for the first and inserts nothing.)
pub async fn insert_if_new(
    tx: &mut Tx,
    id: &FormVersionId,
    study: &StudyId,
    form: &ConsentForm,
    source_path: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let sql = format!(
        "INSERT INTO consent_form_versions (id, study_id, form_id, version, language, {TEXT_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
         ON CONFLICT (study_id, form_id, version) DO NOTHING"
    );
    let q = sqlx::query(&sql)
        .bind(id)
        .bind(study.as_str())
        .bind(&form.form_id)
        .bind(form.version)
        .bind(&form.language);
    let inserted = bind_text(q, form, source_path, now)?
        .execute(tx.conn())
        .await?
        .rows_affected();
    Ok(inserted == 1)
}

/// The id of a published version of a form.
pub async fn version_id(
    tx: &mut Tx,
    study: &StudyId,
    form_id: &str,
    version: i32,
) -> sqlx::Result<Option<FormVersionId>> {
    Ok(sqlx::query(
        "SELECT id FROM consent_form_versions WHERE study_id = $1 AND form_id = $2 AND version = $3",
    )
    .bind(study.as_str())
    .bind(form_id)
    .bind(version)
    .fetch_optional(tx.conn())
    .await?
    .map(|r| FormVersionId::from_db(r.get(0))))
}

/// Publishes a translation of a version unless that language is already
/// there; says whether it was inserted.
pub async fn insert_translation_if_new(
    tx: &mut Tx,
    version: &FormVersionId,
    form: &ConsentForm,
    source_path: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let sql = format!(
        "INSERT INTO consent_form_translations (id, form_version_id, language, translated_from,
         {TEXT_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
         ON CONFLICT (form_version_id, language) DO NOTHING"
    );
    let q = sqlx::query(&sql)
        .bind(FormTranslationId::new())
        .bind(version)
        .bind(&form.language)
        .bind(&form.translated_from);
    let inserted = bind_text(q, form, source_path, now)?
        .execute(tx.conn())
        .await?
        .rows_affected();
    Ok(inserted == 1)
}

/// The content hash a translation was published with.
pub async fn published_translation_hash(
    tx: &mut Tx,
    version: &FormVersionId,
    language: &str,
) -> sqlx::Result<String> {
    Ok(sqlx::query(
        "SELECT content_hash FROM consent_form_translations
         WHERE form_version_id = $1 AND language = $2",
    )
    .bind(version)
    .bind(language)
    .fetch_one(tx.conn())
    .await?
    .get(0))
}

/// A version in one of its translations' languages, if it has one.
pub async fn translation<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    version_id: &FormVersionId,
    language: &str,
) -> sqlx::Result<Option<ConsentFormVersion>> {
    sqlx::query(&format!(
        "{TRANSLATION} WHERE t.form_version_id = $1 AND t.language = $2"
    ))
    .bind(version_id)
    .bind(language)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(version)
    .transpose()
}

/// The languages a version has translations into, by language.
pub async fn translated_languages<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    version_id: &FormVersionId,
) -> sqlx::Result<Vec<String>> {
    Ok(sqlx::query(
        "SELECT language FROM consent_form_translations WHERE form_version_id = $1 ORDER BY language",
    )
    .bind(version_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// The content hash a version of a form was published with.
pub async fn published_hash(
    tx: &mut Tx,
    study: &StudyId,
    form_id: &str,
    version: i32,
) -> sqlx::Result<String> {
    Ok(sqlx::query(
        "SELECT content_hash FROM consent_form_versions
         WHERE study_id = $1 AND form_id = $2 AND version = $3",
    )
    .bind(study.as_str())
    .bind(form_id)
    .bind(version)
    .fetch_one(tx.conn())
    .await?
    .get(0))
}

pub async fn current<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    study: &StudyId,
    form_id: &str,
) -> sqlx::Result<Option<ConsentFormVersion>> {
    sqlx::query(&format!(
        "{SELECT} WHERE v.study_id = $1 AND v.form_id = $2 ORDER BY v.version DESC LIMIT 1"
    ))
    .bind(study.as_str())
    .bind(form_id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(version)
    .transpose()
}

pub async fn get<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    id: &FormVersionId,
) -> sqlx::Result<ConsentFormVersion> {
    version(
        &sqlx::query(&format!("{SELECT} WHERE v.id = $1"))
            .bind(id)
            .fetch_one(db)
            .await?,
    )
}

/// The newest version of each of a study's forms, by form id.
pub async fn current_of_each(
    pool: &AnyPool,
    study: &StudyId,
) -> sqlx::Result<Vec<ConsentFormVersion>> {
    of_study(
        pool,
        study,
        "AND v.version = (SELECT MAX(n.version) FROM consent_form_versions n
           WHERE n.study_id = v.study_id AND n.form_id = v.form_id)",
    )
    .await
}

/// Every published version of every form of a study, by form and version.
pub async fn for_study(pool: &AnyPool, study: &StudyId) -> sqlx::Result<Vec<ConsentFormVersion>> {
    of_study(pool, study, "").await
}

async fn of_study(
    pool: &AnyPool,
    study: &StudyId,
    condition: &'static str,
) -> sqlx::Result<Vec<ConsentFormVersion>> {
    sqlx::query(&format!(
        "{SELECT} WHERE v.study_id = $1 {condition} ORDER BY v.form_id, v.version"
    ))
    .bind(study.as_str())
    .fetch_all(pool)
    .await?
    .iter()
    .map(version)
    .collect()
}
