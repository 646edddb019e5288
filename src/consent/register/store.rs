//! SQL for the register. A record's status is worked out in SQL from the
//! chain (superseded when another record supersedes it), the participant's
//! withdrawals and the form's newest version, so filters, the reader's sites
//! and paging are all conditions of one query.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::model::{
    day_start, Answer, CapacityRow, Filter, RegisterRow, RegisterStatus, WithdrawalNote,
    WithdrawalRow,
};
use crate::clock::{rfc3339, DAY};
use crate::consent::capacity::model::AdviceEffect;
use crate::consent::kernel::model::{ConsentMethod, WithdrawalScope};
use crate::db::flag;
use crate::db::list::{ListQuery, Order, Page, PageRequest, SiteScope};
use crate::ids::{ConsentRecordId, StudyId, WithdrawalId};

/// The records of a study with their statuses, as one derived table `x`.
const RECORDS: &str = "SELECT id, participant_id, study_code, form_id, version, method, signed_at, status,
        no_contact, no_collection, remove_identifiable, stopped_at, language
 FROM (SELECT r.id, r.participant_id, p.study_code, p.site_id, f.form_id, f.version, r.method,
              COALESCE(r.language, f.language) AS language,
              r.participant_signed_at AS signed_at, r.study_id,
              CASE WHEN EXISTS (SELECT 1 FROM consent_records n WHERE n.supersedes_id = r.id) THEN 'superseded'
                   WHEN EXISTS (SELECT 1 FROM withdrawals w WHERE w.participant_id = r.participant_id AND w.no_collection = 1)
                        THEN 'withdrawn'
                   WHEN f.version < (SELECT MAX(v.version) FROM consent_form_versions v
                                     WHERE v.study_id = f.study_id AND v.form_id = f.form_id) THEN 'reconsent_due'
                   ELSE 'current' END AS status,
              (SELECT MAX(w.no_contact) FROM withdrawals w WHERE w.participant_id = r.participant_id) AS no_contact,
              (SELECT MAX(w.no_collection) FROM withdrawals w WHERE w.participant_id = r.participant_id) AS no_collection,
              (SELECT MAX(w.remove_identifiable) FROM withdrawals w WHERE w.participant_id = r.participant_id)
                  AS remove_identifiable,
              (SELECT MIN(w.recorded_at) FROM withdrawals w WHERE w.participant_id = r.participant_id
                  AND w.no_collection = 1) AS stopped_at
       FROM consent_records r
       JOIN consent_form_versions f ON f.id = r.form_version_id
       JOIN participants p ON p.id = r.participant_id) x
 WHERE study_id = ";

fn record_row(r: &AnyRow) -> sqlx::Result<RegisterRow> {
    let method: String = r.try_get(5)?;
    let status: String = r.try_get(7)?;
    let status = RegisterStatus::parse(&status)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status}").into()))?;
    let scope = WithdrawalScope {
        no_contact: r.try_get::<Option<i16>, _>(8)?.is_some_and(flag),
        no_collection: r.try_get::<Option<i16>, _>(9)?.is_some_and(flag),
        remove_identifiable: r.try_get::<Option<i16>, _>(10)?.is_some_and(flag),
    };
    let stopped_at: Option<i64> = r.try_get(11)?;
    let withdrawal = match (status, stopped_at) {
        (RegisterStatus::Withdrawn, Some(at)) => Some(WithdrawalNote {
            scope,
            withdrawn_at: rfc3339(at),
        }),
        _ => None,
    };
    Ok(RegisterRow {
        record_id: r.try_get(0)?,
        participant_id: Some(r.try_get(1)?),
        study_code: r.try_get(2)?,
        form_id: r.try_get(3)?,
        form_version: r.try_get(4)?,
        language: r.try_get(12)?,
        method: ConsentMethod::parse(&method).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown consent method {method}").into())
        })?,
        consented_at: rfc3339(r.try_get(6)?),
        answers: BTreeMap::new(),
        status,
        withdrawal,
    })
}

fn records_query(study: &StudyId, sites: &SiteScope, filter: &Filter) -> ListQuery {
    let mut q = ListQuery::new(RECORDS);
    q.bind(study.as_str())
        .sites("site_id", sites)
        .eq("status", filter.status.map(RegisterStatus::as_str))
        .eq("form_id", filter.form_id.as_ref().map(|k| k.as_str()))
        .eq("method", filter.method.map(ConsentMethod::as_str));
    if let Some(from) = filter.from {
        q.push(" AND signed_at >= ").bind(day_start(from));
    }
    if let Some(to) = filter.to {
        q.push(" AND signed_at < ").bind(day_start(to) + DAY);
    }
    q
}

/// A page of a study's records at the given sites, oldest first, filtered,
/// with their answers.
pub async fn records(
    pool: &AnyPool,
    study: &StudyId,
    sites: &SiteScope,
    filter: &Filter,
    page: &PageRequest<ConsentRecordId>,
) -> sqlx::Result<Page<RegisterRow, ConsentRecordId>> {
    let mut found = records_query(study, sites, filter)
        .page(pool, "id", Order::Ascending, page, record_row, |r| {
            r.record_id.clone()
        })
        .await?;
    let mut answers = answers(pool, found.items.iter().map(|r| &r.record_id)).await?;
    for row in &mut found.items {
        row.answers = answers.remove(&row.record_id).unwrap_or_default();
    }
    Ok(found)
}

/// One record of a study at the given sites, as the register shows it.
pub async fn record(
    pool: &AnyPool,
    study: &StudyId,
    sites: &SiteScope,
    id: &ConsentRecordId,
) -> sqlx::Result<Option<RegisterRow>> {
    let mut q = records_query(study, sites, &Filter::default());
    q.eq("id", Some(id.as_str()));
    let Some(mut row) = q.fetch_all(pool, record_row).await?.pop() else {
        return Ok(None);
    };
    row.answers = answers(pool, [id]).await?.remove(id).unwrap_or_default();
    Ok(Some(row))
}

/// The answers of some records: record id to clause key to answer.
async fn answers<'a>(
    pool: &AnyPool,
    records: impl IntoIterator<Item = &'a ConsentRecordId>,
) -> sqlx::Result<BTreeMap<ConsentRecordId, BTreeMap<String, Answer>>> {
    let mut q = ListQuery::new(
        "SELECT record_id, clause_key, agreed, left_blank FROM consent_answers WHERE 1 = 1",
    );
    q.any_of(
        "record_id",
        records.into_iter().map(ConsentRecordId::as_str),
    );
    let rows = q
        .fetch_all(pool, |r| {
            Ok((
                r.try_get::<ConsentRecordId, _>(0)?,
                r.try_get::<String, _>(1)?,
                Answer::of(flag(r.try_get(2)?), flag(r.try_get(3)?)),
            ))
        })
        .await?;
    let mut out: BTreeMap<ConsentRecordId, BTreeMap<String, Answer>> = BTreeMap::new();
    for (record, key, answer) in rows {
        out.entry(record).or_default().insert(key, answer);
    }
    Ok(out)
}

/// A page of a study's withdrawals at the given sites, oldest first.
pub async fn withdrawals(
    pool: &AnyPool,
    study: &StudyId,
    sites: &SiteScope,
    page: &PageRequest<WithdrawalId>,
) -> sqlx::Result<Page<WithdrawalRow, WithdrawalId>> {
    let mut q = ListQuery::new(
        "SELECT w.id, p.study_code, w.no_contact, w.no_collection, w.remove_identifiable, w.recorded_at, w.erasure,
                w.basis, w.confirmation_emailed
         FROM withdrawals w JOIN participants p ON p.id = w.participant_id
         WHERE w.study_id = ",
    );
    q.bind(study.as_str()).sites("p.site_id", sites);
    q.page(
        pool,
        "w.id",
        Order::Ascending,
        page,
        |r| {
            Ok(WithdrawalRow {
                id: Some(r.try_get(0)?),
                study_code: r.try_get(1)?,
                scope: WithdrawalScope {
                    no_contact: flag(r.try_get(2)?),
                    no_collection: flag(r.try_get(3)?),
                    remove_identifiable: flag(r.try_get(4)?),
                },
                recorded_at: rfc3339(r.try_get(5)?),
                erasure: r.try_get(6)?,
                basis: crate::consent::kernel::store::basis_of(&r.try_get::<String, _>(7)?)?,
                confirmation_emailed: r.try_get::<Option<i16>, _>(8)?.map(flag),
            })
        },
        |w| w.id.clone().expect("read with its id"),
    )
    .await
}

/// A page of a study's capacity assessments, consultees' advice and
/// objections at the given sites, in the order they were recorded.
pub async fn capacity(
    pool: &AnyPool,
    study: &StudyId,
    sites: &SiteScope,
    page: &PageRequest<String>,
) -> sqlx::Result<Page<CapacityRow, String>> {
    let mut q = ListQuery::new(
        "SELECT id, study_code, kind, day, at, a, b, effect FROM (
             SELECT c.id, c.study_id, p.site_id, p.study_code, 'assessment' AS kind, c.assessed_on AS day,
                    NULL AS at, c.decision AS a, c.outcome AS b, NULL AS effect
             FROM capacity_assessments c JOIN participants p ON p.id = c.participant_id
             UNION ALL
             SELECT c.id, c.study_id, p.site_id, p.study_code, 'consultee_advice', NULL, c.recorded_at,
                    c.consultee_kind, c.advice, c.effect
             FROM consultee_advice c JOIN participants p ON p.id = c.participant_id
             UNION ALL
             SELECT o.id, o.study_id, p.site_id, p.study_code, 'objection', NULL, o.recorded_at, NULL, NULL, NULL
             FROM objections o JOIN participants p ON p.id = o.participant_id) x
         WHERE study_id = ",
    );
    q.bind(study.as_str()).sites("site_id", sites);
    q.page(
        pool,
        "id",
        Order::Ascending,
        page,
        |r| {
            let kind: String = r.try_get(2)?;
            let (a, b): (Option<String>, Option<String>) = (r.try_get(5)?, r.try_get(6)?);
            let words = |s: Option<String>| s.unwrap_or_default().replace('_', " ");
            let (date, detail) = match kind.as_str() {
                "assessment" => (
                    r.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
                    format!("{}: {}", a.unwrap_or_default(), words(b)),
                ),
                "consultee_advice" => {
                    let effect: Option<String> = r.try_get(7)?;
                    let effect = effect.as_deref().and_then(AdviceEffect::parse);
                    (
                        rfc3339(r.try_get::<Option<i64>, _>(4)?.unwrap_or_default()),
                        match effect {
                            Some(e) => format!(
                                "{} consultee: {}; {}",
                                a.unwrap_or_default(),
                                words(b),
                                e.label()
                            ),
                            None => format!("{} consultee: {}", a.unwrap_or_default(), words(b)),
                        },
                    )
                }
                _ => (
                    rfc3339(r.try_get::<Option<i64>, _>(4)?.unwrap_or_default()),
                    "withdrawn from further data collection".into(),
                ),
            };
            Ok(CapacityRow {
                key: Some(r.try_get(0)?),
                study_code: r.try_get(1)?,
                kind,
                date,
                detail,
            })
        },
        |c| c.key.clone().expect("read with its key"),
    )
    .await
}
