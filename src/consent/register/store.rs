//! SQL for the register: a study's records, answers and withdrawals, each read
//! with one fixed query; filtering happens in Rust (see service.rs).

use std::collections::BTreeMap;

use sqlx::{AnyPool, Row};

use super::model::{Answer, CapacityRow, ListedRecord, WithdrawalRow};
use crate::clock::rfc3339;
use crate::consent::records::model::{ConsentMethod, WithdrawalScope};
use crate::db::flag;

/// Every consent record of a study, oldest first, with the participant's site id.
pub async fn records(pool: &AnyPool, study: &str) -> sqlx::Result<Vec<(ListedRecord, String)>> {
    sqlx::query(
        "SELECT r.id, r.participant_id, p.study_code, p.site_id, f.form_id, f.version, r.method, r.participant_signed_at
         FROM consent_records r
         JOIN consent_form_versions f ON f.id = r.form_version_id
         JOIN participants p ON p.id = r.participant_id
         WHERE r.study_id = $1 ORDER BY r.created_at, r.id",
    )
    .bind(study)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        let method: String = r.try_get(6)?;
        let listed = ListedRecord {
            id: r.try_get(0)?,
            participant_id: r.try_get(1)?,
            study_code: r.try_get(2)?,
            form_id: r.try_get(4)?,
            form_version: r.try_get(5)?,
            method: ConsentMethod::parse(&method)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown consent method {method}").into()))?,
            signed_at: r.try_get(7)?,
        };
        Ok((listed, r.try_get(3)?))
    })
    .collect()
}

/// Every answer in a study's records: record id to clause key to answer.
pub async fn answers(
    pool: &AnyPool,
    study: &str,
) -> sqlx::Result<BTreeMap<String, BTreeMap<String, Answer>>> {
    let rows = sqlx::query(
        "SELECT a.record_id, a.clause_key, a.agreed, a.left_blank
         FROM consent_answers a JOIN consent_records r ON r.id = a.record_id
         WHERE r.study_id = $1",
    )
    .bind(study)
    .fetch_all(pool)
    .await?;
    let mut out: BTreeMap<String, BTreeMap<String, Answer>> = BTreeMap::new();
    for r in &rows {
        out.entry(r.try_get(0)?).or_default().insert(
            r.try_get(1)?,
            Answer::of(flag(r.try_get(2)?), flag(r.try_get(3)?)),
        );
    }
    Ok(out)
}

/// A study's withdrawals, oldest first: (participant id, site id, when, the row).
pub async fn withdrawals(
    pool: &AnyPool,
    study: &str,
) -> sqlx::Result<Vec<(String, String, i64, WithdrawalRow)>> {
    sqlx::query(
        "SELECT w.participant_id, p.site_id, p.study_code, w.no_contact, w.no_collection, w.remove_identifiable, w.recorded_at, w.erasure
         FROM withdrawals w JOIN participants p ON p.id = w.participant_id
         WHERE w.study_id = $1 ORDER BY w.recorded_at, w.id",
    )
    .bind(study)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        let at: i64 = r.try_get(6)?;
        let row = WithdrawalRow {
            study_code: r.try_get(2)?,
            scope: WithdrawalScope {
                no_contact: flag(r.try_get(3)?),
                no_collection: flag(r.try_get(4)?),
                remove_identifiable: flag(r.try_get(5)?),
            },
            recorded_at: rfc3339(at),
            erasure: r.try_get(7)?,
        };
        Ok((r.try_get(0)?, r.try_get(1)?, at, row))
    })
    .collect()
}

/// The study's capacity assessments, consultees' advice and objections, each
/// with the participant's site: (site id, row), in date order.
pub async fn capacity(pool: &AnyPool, study: &str) -> sqlx::Result<Vec<(String, CapacityRow)>> {
    let mut rows = Vec::new();
    for r in sqlx::query(
        "SELECT p.site_id, p.study_code, c.assessed_on, c.decision, c.outcome
         FROM capacity_assessments c JOIN participants p ON p.id = c.participant_id
         WHERE c.study_id = $1 ORDER BY c.assessed_on, c.created_at",
    )
    .bind(study)
    .fetch_all(pool)
    .await?
    {
        let (decision, outcome): (String, String) = (r.try_get(3)?, r.try_get(4)?);
        let row = CapacityRow {
            study_code: r.try_get(1)?,
            kind: "assessment".into(),
            date: r.try_get(2)?,
            detail: format!("{decision}: {}", outcome.replace('_', " ")),
        };
        rows.push((r.try_get(0)?, row));
    }
    for r in sqlx::query(
        "SELECT p.site_id, p.study_code, c.recorded_at, c.consultee_kind, c.advice
         FROM consultee_advice c JOIN participants p ON p.id = c.participant_id
         WHERE c.study_id = $1 ORDER BY c.recorded_at",
    )
    .bind(study)
    .fetch_all(pool)
    .await?
    {
        let (kind, advice): (String, String) = (r.try_get(3)?, r.try_get(4)?);
        let row = CapacityRow {
            study_code: r.try_get(1)?,
            kind: "consultee_advice".into(),
            date: rfc3339(r.try_get(2)?),
            detail: format!("{kind} consultee: {}", advice.replace('_', " ")),
        };
        rows.push((r.try_get(0)?, row));
    }
    for r in sqlx::query(
        "SELECT p.site_id, p.study_code, o.recorded_at FROM objections o JOIN participants p ON p.id = o.participant_id
         WHERE o.study_id = $1 ORDER BY o.recorded_at",
    )
    .bind(study)
    .fetch_all(pool)
    .await?
    {
        let row = CapacityRow { study_code: r.try_get(1)?, kind: "objection".into(), date: rfc3339(r.try_get(2)?), detail: String::new() };
        rows.push((r.try_get(0)?, row));
    }
    Ok(rows)
}
