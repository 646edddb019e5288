//! Use cases for the register. Each needs ViewConsentRegister in the study;
//! researchers limited to some sites see only their sites' participants. The
//! register is read with one query per table and filtered in Rust: a record's
//! status depends on the participant's other records, and a study holds
//! hundreds of records, not millions.

use std::collections::BTreeMap;

use serde_json::json;

use super::model::{csv, with_status, CapacityRow, Filter, RegisterRow, WithdrawalRow, Withdrawn};
use super::store;
use crate::app::App;
use crate::audit::{self, Entry, NewEntry, VerifyReport};
use crate::auth::model::{Actor, Permission};
use crate::auth::policy::{permits, Scope};
use crate::error::{AppError, Result};
use crate::ids::{SiteId, StudyId};

/// The register of a study as one reader may see it.
pub struct Register {
    /// Every clause key of the study's forms, in form and clause order.
    pub clause_keys: Vec<String>,
    pub rows: Vec<RegisterRow>,
    pub withdrawals: Vec<WithdrawalRow>,
    /// Capacity assessments, consultees' advice and objections (not filtered).
    pub capacity: Vec<CapacityRow>,
}

/// The page route of a record's PDF copy.
pub fn pdf_path(study: &StudyId, record_id: &str) -> String {
    format!("/studies/{study}/consent-records/{record_id}/pdf")
}

/// Every record and withdrawal at the sites the actor may see, unfiltered.
async fn whole(app: &App, actor: &Actor, study: &StudyId) -> Result<Register> {
    crate::studies::service::require(actor, Permission::ViewConsentRegister, study)?;
    let at_site = |site: String| {
        permits(
            actor,
            Permission::ViewConsentRegister,
            Scope::Site(study, &SiteId::from_db(site)),
        )
    };
    let pool = &app.db.pool;
    let forms = crate::consent::forms::service::list_for_study(app, study).await?;
    let mut clause_keys: Vec<String> = Vec::new();
    let mut current_versions: BTreeMap<String, i32> = BTreeMap::new();
    for f in &forms {
        for c in &f.form.clauses {
            if !clause_keys.contains(&c.key) {
                clause_keys.push(c.key.clone());
            }
        }
        let newest = current_versions.entry(f.form.form_id.clone()).or_default();
        *newest = (*newest).max(f.form.version);
    }
    let mut withdrawn: BTreeMap<String, Withdrawn> = BTreeMap::new();
    let mut withdrawals = Vec::new();
    for (participant, site, at, row) in store::withdrawals(pool, study.as_str()).await? {
        if !at_site(site) {
            continue;
        }
        let w = withdrawn.entry(participant).or_default();
        w.scope = w.scope.union(row.scope);
        if row.scope.no_collection && w.collection_stopped_at.is_none() {
            w.collection_stopped_at = Some(at);
        }
        withdrawals.push(row);
    }
    let records = store::records(pool, study.as_str())
        .await?
        .into_iter()
        .filter_map(|(record, site)| at_site(site).then_some(record))
        .collect();
    let answers = store::answers(pool, study.as_str()).await?;
    let capacity = store::capacity(pool, study.as_str())
        .await?
        .into_iter()
        .filter_map(|(site, row)| at_site(site).then_some(row))
        .collect();
    Ok(Register {
        clause_keys,
        rows: with_status(records, answers, &current_versions, &withdrawn),
        withdrawals,
        capacity,
    })
}

/// The register, its records filtered.
pub async fn register(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    filter: &Filter,
) -> Result<Register> {
    let mut r = whole(app, actor, study).await?;
    r.rows.retain(|row| filter.keeps(row));
    Ok(r)
}

/// The filtered register as CSV. Every export is audited with its filter
/// and row count, nothing else.
pub async fn export_csv(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    filter: &Filter,
) -> Result<String> {
    let r = register(app, actor, study, filter).await?;
    let text = csv(&r.rows, &r.clause_keys, |id| pdf_path(study, id));
    let mut tx = app.db.begin().await?;
    let entry = NewEntry::by_in_study(
        actor,
        study,
        "consent.register_export",
        "study",
        study.as_str(),
    )
    .details(json!({ "filter": filter, "rows": r.rows.len() }));
    audit::append(&mut tx, &app.db, app.now(), entry).await?;
    tx.commit().await?;
    Ok(text)
}

/// One record as the register shows it, with the consent entries of the
/// audit trail about it or its participant, oldest first.
pub async fn record(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    record_id: &str,
) -> Result<(RegisterRow, Vec<Entry>)> {
    let row = whole(app, actor, study)
        .await?
        .rows
        .into_iter()
        .find(|r| r.record_id == record_id)
        .ok_or(AppError::NotFound)?;
    let entries = crate::audit::store::about_either(
        &app.db.pool,
        study.as_str(),
        "consent.",
        ("consent_record", &row.record_id),
        ("participant", &row.participant_id),
    )
    .await?;
    Ok((row, entries))
}

/// The whole audit chain checked against every checkpoint, for the register's readers.
pub async fn chain(app: &App, actor: &Actor, study: &StudyId) -> Result<VerifyReport> {
    crate::studies::service::require(actor, Permission::ViewConsentRegister, study)?;
    audit::verify_database(&app.db, &app.keys.verifying_key(), &app.storage.audit_dir())
        .await
        .map_err(AppError::internal)
}
