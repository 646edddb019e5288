//! Use cases for the register. Each needs ViewConsentRegister in the study;
//! researchers limited to some sites see only their sites' participants. The
//! study, the reader's sites and the filters are conditions in SQL, and the
//! lists come a page at a time.

use super::model::{csv, CapacityRow, Filter, FilterInput, RegisterRow, WithdrawalRow};
use super::store;
use crate::app::App;
use crate::audit::service::{last_full_verification, verify_since_checkpoint};
use crate::audit::store::Verification;
use crate::audit::{self, Action, Entity, Entry, NewEntry, VerifyReport};
use crate::auth::model::{Actor, Permission};
use crate::auth::policy::{require_study, site_scope};
use crate::consent::records::store::ShownAnswer;
use crate::db::list::{Page, PageRequest, SiteScope, MAX_LIMIT};
use crate::error::{AppError, Result};
use crate::ids::{ConsentRecordId, StudyId, WithdrawalId};

/// A page of the register as one reader may see it.
pub struct Register {
    /// Every clause key of the study's forms, in form and clause order.
    pub clause_keys: Vec<String>,
    pub rows: Page<RegisterRow, ConsentRecordId>,
}

/// The page route of a record's PDF copy.
pub fn pdf_path(study: &StudyId, record: &ConsentRecordId) -> String {
    format!("/studies/{study}/consent-records/{record}/pdf")
}

/// The reader's sites, after checking they may read the register at all.
fn readable(actor: &Actor, study: &StudyId) -> Result<SiteScope> {
    require_study(actor, Permission::ViewConsentRegister, study)?;
    Ok(site_scope(actor, Permission::ViewConsentRegister, study))
}

/// The filters, checked after access is: someone outside the study is told
/// "not found", not what is wrong with their filter.
pub fn filter(actor: &Actor, study: &StudyId, input: &FilterInput) -> Result<Filter> {
    readable(actor, study)?;
    input.parse()
}

async fn clause_keys(app: &App, study: &StudyId) -> Result<Vec<String>> {
    let mut keys: Vec<String> = Vec::new();
    for f in crate::consent::forms::service::list_for_study(&app.db, study).await? {
        for c in f.form.clauses {
            if !keys.contains(&c.key) {
                keys.push(c.key);
            }
        }
    }
    Ok(keys)
}

/// A page of the register's records, filtered.
pub async fn register(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    filter: &Filter,
    page: &PageRequest<ConsentRecordId>,
) -> Result<Register> {
    let sites = readable(actor, study)?;
    Ok(Register {
        clause_keys: clause_keys(app, study).await?,
        rows: store::records(&app.db.pool, study, &sites, filter, page).await?,
    })
}

/// A page of the study's withdrawals (what was withdrawn and when, and what
/// happened to identifiable data; never the reasons).
pub async fn withdrawals(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    page: &PageRequest<WithdrawalId>,
) -> Result<Page<WithdrawalRow, WithdrawalId>> {
    let sites = readable(actor, study)?;
    Ok(store::withdrawals(&app.db.pool, study, &sites, page).await?)
}

/// A page of the study's capacity assessments, consultees' advice and
/// objections: never a consultee's name, notes or descriptions.
pub async fn capacity(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    page: &PageRequest<String>,
) -> Result<Page<CapacityRow, String>> {
    let sites = readable(actor, study)?;
    Ok(store::capacity(&app.db.pool, study, &sites, page).await?)
}

/// The filtered register as CSV, read a page at a time. Every export is
/// audited with its filter and row count, nothing else.
pub async fn export_csv(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    filter: &Filter,
) -> Result<String> {
    let sites = readable(actor, study)?;
    let keys = clause_keys(app, study).await?;
    let mut rows = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: MAX_LIMIT,
    };
    loop {
        let found = store::records(&app.db.pool, study, &sites, filter, &page).await?;
        rows.extend(found.items);
        match found.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let text = csv(&rows, &keys, |id| pdf_path(study, id));
    let mut tx = app.db.begin().await?;
    let action = Action::RegisterExport {
        filter: filter.audited(),
        rows: rows.len(),
    };
    let entry = NewEntry::by_in_study(actor, study, action, Entity::Study(study.clone()));
    audit::append(&mut tx, app.now(), entry).await?;
    tx.commit().await?;
    Ok(text)
}

/// One record as the register shows it, with the consent entries of the
/// audit trail about it or its participant, oldest first.
/// One record as its page shows it.
pub struct RecordView {
    pub row: RegisterRow,
    /// In the form's order, with the words read.
    pub answers: Vec<ShownAnswer>,
    /// The record this one replaced, and the one that replaced it.
    pub supersedes: Option<ConsentRecordId>,
    pub superseded_by: Option<ConsentRecordId>,
    pub entries: Vec<Entry>,
    /// Who each entry's actor is, in words: staff by name, a participant
    /// never by name.
    pub actors: Vec<String>,
}

pub async fn record(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    record: &ConsentRecordId,
) -> Result<RecordView> {
    let sites = readable(actor, study)?;
    let row = store::record(&app.db.pool, study, &sites, record)
        .await?
        .ok_or(AppError::NotFound)?;
    let participant = row
        .participant_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let entries = crate::audit::store::about_either(
        &app.db.pool,
        study.as_str(),
        "consent.",
        ("consent_record", row.record_id.as_str()),
        ("participant", &participant),
    )
    .await?;
    let pool = &app.db.pool;
    let answers = crate::consent::records::store::shown_answers(pool, record).await?;
    let (supersedes, superseded_by) =
        crate::consent::records::store::neighbours(pool, record).await?;
    let actors = audit::service::who_acted(pool, &entries).await?;
    Ok(RecordView {
        row,
        answers,
        supersedes,
        superseded_by,
        entries,
        actors,
    })
}

/// What the register says about the audit chain: checked just now from the
/// newest signed checkpoint, and the last full verification.
pub struct Chain {
    pub since_checkpoint: VerifyReport,
    pub last_full: Option<Verification>,
}

/// The audit chain as the register's readers see it. A page load never reads
/// the whole chain: it verifies from the newest checkpoint onwards and shows
/// the last full verification (daily, and on demand) with its time.
pub async fn chain(app: &App, actor: &Actor, study: &StudyId) -> Result<Chain> {
    require_study(actor, Permission::ViewConsentRegister, study)?;
    let key = app.keys.verifying_key();
    let since_checkpoint = verify_since_checkpoint(&app.db, &key)
        .await
        .map_err(AppError::internal)?;
    Ok(Chain {
        since_checkpoint,
        last_full: last_full_verification(&app.db)
            .await
            .map_err(AppError::internal)?,
    })
}
