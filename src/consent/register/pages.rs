//! Register pages: the register with its filters and the audit chain's
//! verification at the top, its CSV download, and one record with its PDF
//! link and audit entries. The records, the withdrawals and the capacity
//! records each come a page at a time, each with its own `next` link.

use poem::web::{Path, Query};
use poem::{handler, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::model::{scope_words, Answer, FilterInput, RegisterRow, RegisterStatus};
use super::service;
use crate::consent::forms::model::language_name;
use crate::consent::kernel::model::ConsentMethod;
use crate::db::list::PageRequest;
use crate::http::api::link_with;
use crate::http::page::Page;
use crate::http::viewer::{app_of, Viewer};
use crate::ids::{ConsentRecordId, StudyId, WithdrawalId};

type PageResult = poem::Result<Response>;

/// A record as a row of the register: its answers summarised (agreed out
/// of how many, and which were declined, in `clause_order`), every answer a
/// click away.
fn row_ctx(r: &RegisterRow, clause_order: &[String]) -> Value {
    let declined: Vec<String> = clause_order
        .iter()
        .filter(|k| r.answers.get(*k).is_some_and(|a| *a != Answer::Yes))
        .map(|k| k.replace('_', " "))
        .collect();
    let summary = json!({ "agreed": r.answers.len() - declined.len(), "total": r.answers.len(), "declined": declined });
    json!({
        "record_id": r.record_id, "study_code": r.study_code, "form_id": r.form_id, "form_version": r.form_version,
        "language": { "tag": r.language, "name": language_name(&r.language) },
        "method": r.method.label(), "consented_at": r.consented_at, "status": r.status.label(),
        "withdrawal": r.withdrawal.as_ref().map(|w| json!({ "scope": scope_words(&w.scope), "at": w.withdrawn_at })),
        "summary": summary,
    })
}

/// What the register page reads from its query string: the filters and
/// where each list's page starts.
#[derive(Deserialize, Default)]
pub struct RegisterQuery {
    #[serde(flatten)]
    filter: FilterInput,
    after: Option<String>,
    withdrawals_after: Option<String>,
    capacity_after: Option<String>,
}

#[handler]
pub async fn register(
    req: &Request,
    viewer: Viewer,
    Path(study): Path<StudyId>,
    Query(q): Query<RegisterQuery>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = crate::studies::service::get_study(app, actor, &study).await?;
    let chain = service::chain(app, actor, &study).await?;
    let forms = crate::consent::records::service::published_forms(app, actor, &study).await?;
    // Each form once, by the title of its newest version.
    let mut titles: Vec<(&str, &str)> = Vec::new();
    for (f, _) in &forms {
        match titles.iter_mut().find(|(id, _)| *id == f.form.form_id) {
            Some(known) => known.1 = &f.form.title,
            None => titles.push((&f.form.form_id, &f.form.title)),
        }
    }
    let statuses: Vec<_> = RegisterStatus::ALL
        .iter()
        .map(|s| json!({ "value": s.as_str(), "label": s.label() }))
        .collect();
    let methods: Vec<_> = [
        ConsentMethod::Online,
        ConsentMethod::InPersonWitnessed,
        ConsentMethod::VerbalRecorded,
        ConsentMethod::PaperScanned,
        ConsentMethod::ConsulteeAdvice,
    ]
    .iter()
    .map(|m| json!({ "value": m.as_str(), "label": m.label() }))
    .collect();
    let forms: Vec<_> = titles
        .iter()
        .map(|(id, title)| json!({ "value": id, "label": format!("{title} ({id})") }))
        .collect();
    let input = &q.filter;
    let mut ctx = json!({
        "study": { "id": details.id, "title": details.title },
        "chain": { "since_checkpoint": chain.since_checkpoint, "last_full": chain.last_full },
        "values": { "status": input.status, "form_id": input.form_id, "method": input.method, "from": input.from, "to": input.to },
        "statuses": statuses, "methods": methods, "forms": forms,
        "register": null,
    });
    let title = format!("Consent register: {}", details.title);
    let filter = match service::filter(actor, &study, input) {
        Ok(f) => f,
        Err(e) => {
            return Ok(Page::new("consent_register.html", title, ctx)
                .problems(e)?
                .render(app, &viewer)?)
        }
    };
    let uri = req.original_uri();
    let records_page = PageRequest::<ConsentRecordId>::parse(q.after.as_deref())?;
    let r = service::register(app, actor, &study, &filter, &records_page).await?;
    let withdrawals_page = PageRequest::<WithdrawalId>::parse(q.withdrawals_after.as_deref())?;
    let withdrawals = service::withdrawals(app, actor, &study, &withdrawals_page).await?;
    let capacity_page = PageRequest::<String>::parse(q.capacity_after.as_deref())?;
    let capacity = service::capacity(app, actor, &study, &capacity_page).await?;
    let withdrawal_rows: Vec<_> = withdrawals
        .items
        .iter()
        .map(|w| json!({ "study_code": w.study_code, "scope": scope_words(&w.scope), "at": w.recorded_at, "erasure": w.erasure.replace('_', " "),
                         "basis": w.basis.label(), "emailed": w.confirmation_emailed }))
        .collect();
    ctx["register"] = json!({
        "rows": r.rows.items.iter().map(|row| row_ctx(row, &r.clause_keys)).collect::<Vec<_>>(),
        "next": r.rows.next.map(|k| link_with(uri, "after", k.as_str())),
        "withdrawals": withdrawal_rows,
        "withdrawals_next": withdrawals.next.map(|k| link_with(uri, "withdrawals_after", k.as_str())),
        "capacity": capacity.items,
        "capacity_next": capacity.next.map(|k| link_with(uri, "capacity_after", &k)),
        "query": filter.query(),
    });
    Ok(Page::new("consent_register.html", title, ctx).render(app, &viewer)?)
}

#[handler]
pub async fn register_csv(
    req: &Request,
    viewer: Viewer,
    Path(study): Path<StudyId>,
    Query(input): Query<FilterInput>,
) -> PageResult {
    let actor = viewer.require()?;
    let filter = service::filter(actor, &study, &input)?;
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
    Path((study, rid)): Path<(StudyId, ConsentRecordId)>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = crate::studies::service::get_study(app, actor, &study).await?;
    let view = service::record(app, actor, &study, &rid).await?;
    let entries: Vec<_> = view
        .entries
        .iter()
        .zip(&view.actors)
        .map(|(e, who)| {
            json!({ "seq": e.seq, "at": e.at, "who": who, "role": e.role,
                          "action": e.action, "entity_type": e.entity_type, "hash": e.hash })
        })
        .collect();
    let ctx = json!({
        "study": { "id": details.id, "title": details.title },
        "record": row_ctx(&view.row, &[]),
        "answers": view.answers,
        "supersedes": view.supersedes,
        "superseded_by": view.superseded_by,
        "entries": entries,
    });
    let title = format!("Consent record {}", view.row.study_code);
    Ok(Page::new("consent_record.html", title, ctx).render(app, &viewer)?)
}
