//! Register pages: the register with its filters and the audit chain's
//! verification at the top, its CSV download, and one record with its PDF
//! link and audit entries.

use poem::web::{Path, Query};
use poem::{handler, Request, Response};
use serde_json::{json, Value};

use super::model::{bad_request, scope_words, FilterInput, RegisterRow, RegisterStatus};
use super::service;
use crate::consent::records::model::ConsentMethod;
use crate::error::AppError;
use crate::http::page::Page;
use crate::http::viewer::{app_of, Viewer};
use crate::ids::StudyId;

type PageResult = poem::Result<Response>;

fn study_id(raw: &str) -> Result<StudyId, AppError> {
    StudyId::parse(raw).ok_or(AppError::NotFound)
}

fn row_ctx(r: &RegisterRow, clause_keys: &[String]) -> Value {
    let answers: Vec<_> = clause_keys
        .iter()
        .map(|k| json!({ "key": k, "answer": r.answers.get(k) }))
        .collect();
    json!({
        "record_id": r.record_id, "study_code": r.study_code, "form_id": r.form_id, "form_version": r.form_version,
        "method": r.method.label(), "consented_at": r.consented_at, "status": r.status.label(),
        "withdrawal": r.withdrawal.as_ref().map(|w| json!({ "scope": scope_words(&w.scope), "at": w.withdrawn_at })),
        "answers": answers,
    })
}

#[handler]
pub async fn register(
    req: &Request,
    viewer: Viewer,
    Path(sid): Path<String>,
    Query(input): Query<FilterInput>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let study = study_id(&sid)?;
    let details = crate::studies::service::get_study(app, actor, &study).await?;
    let chain = service::chain(app, actor, &study).await?;
    let forms = crate::consent::records::service::published_forms(app, actor, &study).await?;
    let mut form_ids: Vec<&str> = forms.iter().map(|f| f.form.form_id.as_str()).collect();
    form_ids.dedup();
    let statuses: Vec<_> = RegisterStatus::ALL
        .iter()
        .map(|s| json!({ "value": s.as_str(), "label": s.label() }))
        .collect();
    let methods: Vec<_> = [
        ConsentMethod::Online,
        ConsentMethod::InPersonWitnessed,
        ConsentMethod::VerbalRecorded,
        ConsentMethod::PaperScanned,
    ]
    .iter()
    .map(|m| json!({ "value": m.as_str(), "label": m.label() }))
    .collect();
    let forms: Vec<_> = form_ids
        .iter()
        .map(|f| json!({ "value": f, "label": f }))
        .collect();
    let mut ctx = json!({
        "study": { "id": details.id, "title": details.title },
        "chain": chain,
        "values": { "status": input.status, "form_id": input.form_id, "method": input.method, "from": input.from, "to": input.to },
        "statuses": statuses, "methods": methods, "forms": forms,
        "register": null,
    });
    let title = format!("Consent register: {}", details.title);
    match input.parse() {
        Ok(filter) => {
            let r = service::register(app, actor, &study, &filter).await?;
            let withdrawals: Vec<_> = r
                .withdrawals
                .iter()
                .map(|w| json!({ "study_code": w.study_code, "scope": scope_words(&w.scope), "at": w.recorded_at, "erasure": w.erasure.replace('_', " ") }))
                .collect();
            ctx["register"] = json!({
                "clause_keys": r.clause_keys,
                "rows": r.rows.iter().map(|row| row_ctx(row, &r.clause_keys)).collect::<Vec<_>>(),
                "withdrawals": withdrawals,
                "capacity": r.capacity,
                "query": filter.query(),
            });
            Ok(Page::new("consent_register.html", title, ctx).render(app, &viewer)?)
        }
        Err(e) => Ok(Page::new("consent_register.html", title, ctx)
            .problems(e)?
            .render(app, &viewer)?),
    }
}

#[handler]
pub async fn register_csv(
    req: &Request,
    viewer: Viewer,
    Path(sid): Path<String>,
    Query(input): Query<FilterInput>,
) -> PageResult {
    let actor = viewer.require()?;
    let study = study_id(&sid)?;
    crate::studies::service::require(
        actor,
        crate::auth::model::Permission::ViewConsentRegister,
        &study,
    )?;
    let filter = input.parse().map_err(bad_request)?;
    let text = service::export_csv(app_of(req), actor, &study, &filter).await?;
    Ok(Response::builder()
        .content_type("text/csv; charset=utf-8")
        .header("content-disposition", super::api::disposition(&study))
        .body(text))
}

#[handler]
pub async fn record(
    req: &Request,
    viewer: Viewer,
    Path((sid, rid)): Path<(String, String)>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let study = study_id(&sid)?;
    let details = crate::studies::service::get_study(app, actor, &study).await?;
    let (row, entries) = service::record(app, actor, &study, &rid).await?;
    let keys: Vec<String> = row.answers.keys().cloned().collect();
    let entries: Vec<_> = entries
        .iter()
        .map(|e| json!({ "seq": e.seq, "at": e.at, "actor": e.actor, "role": e.role, "action": e.action, "entity_type": e.entity_type, "hash": e.hash }))
        .collect();
    let ctx = json!({
        "study": { "id": details.id, "title": details.title },
        "record": row_ctx(&row, &keys),
        "entries": entries,
    });
    let title = format!("Consent record {}", row.study_code);
    Ok(Page::new("consent_record.html", title, ctx).render(app, &viewer)?)
}
