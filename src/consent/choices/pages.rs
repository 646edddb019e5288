//! Pages for re-consent (the due list on the participants page and its bulk
//! invitation form) and the participant's own "Your part in <study>" page,
//! where they read their records, change optional choices and withdraw.

use std::collections::BTreeMap;

use poem::web::{Path, Query};
use poem::{handler, Request, Response};
use serde_json::{json, Value};

use super::service;
use crate::app::App;
use crate::auth::model::Actor;
use crate::auth::pages::PageQuery;
use crate::consent::records::model::{Submitted, WithdrawalScope};
use crate::consent::records::pages::pdf_response;
use crate::error::AppError;
use crate::http::page::{see_other, Notice, Page};
use crate::http::viewer::{app_of, CsrfForm, Viewer};
use crate::ids::StudyId;

type PageResult = poem::Result<Response>;

fn study_id(raw: &str) -> Result<StudyId, AppError> {
    StudyId::parse(raw).ok_or(AppError::NotFound)
}

/// The "due for re-consent" rows of the participants page.
pub async fn due_rows(app: &App, actor: &Actor, study: &StudyId) -> Result<Value, AppError> {
    let due = service::reconsent_due(app, actor, study).await?;
    Ok(json!(due
        .iter()
        .map(|d| json!({ "id": d.participant.id, "study_code": d.participant.study_code, "form_title": d.form_title,
                         "agreed_version": d.agreed_version, "current_version": d.current_version }))
        .collect::<Vec<_>>()))
}

#[handler]
pub async fn invite_due(req: &Request, form: CsrfForm, Path(sid): Path<String>) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    let study = study_id(&sid)?;
    let chosen: Vec<String> = form
        .all("participant_id")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let result = service::invite_due(app, actor, &study, Some(&chosen)).await;
    let title = crate::studies::service::get_study(app, actor, &study)
        .await?
        .title;
    let (invited, err) = match result {
        Ok(invited) => (invited, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let ctx = json!({
        "study": { "id": study, "title": title },
        "invited": invited.iter().map(|i| json!({ "study_code": i.study_code, "link": i.link, "emailed": i.emailed })).collect::<Vec<_>>(),
    });
    let page = Page::new("reconsent_sent.html", "Re-consent invitations", ctx).problems_of(err)?;
    Ok(page.render(app, &form.viewer)?)
}

/// What was typed into the choices form, to show again after a problem.
struct Typed<'a> {
    chosen: BTreeMap<String, String>,
    signature: &'a str,
}

async fn own_page(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    typed: Option<Typed<'_>>,
    done: Option<&str>,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let own = service::own(app, actor, study).await?;
    let choices: Vec<_> = own
        .choices_form
        .iter()
        .flat_map(|f| &f.form.clauses)
        .map(|c| {
            let current = if own.agreed.contains(c.governs.as_str()) {
                "yes"
            } else {
                "no"
            };
            let chosen = typed
                .as_ref()
                .and_then(|t| t.chosen.get(&c.key).cloned())
                .unwrap_or_else(|| current.to_owned());
            json!({ "key": c.key, "text": c.text, "mandatory": c.mandatory, "chosen": chosen })
        })
        .collect();
    let ctx = json!({
        "study": { "id": study, "title": own.study_title },
        "study_code": own.participant.study_code,
        "records": own.records,
        "agreed": own.agreed.iter().map(|u| u.replace('_', " ")).collect::<Vec<_>>(),
        "withdrawn": own.withdrawn,
        "form": own.choices_form.as_ref().map(|f| json!({ "title": f.form.title, "version": f.form.version, "easy_read": f.form.easy_read })),
        "choices": choices,
        "signature": typed.as_ref().map_or("", |t| t.signature),
    });
    let page = Page::new(
        "my_study.html",
        format!("Your part in {}", own.study_title),
        ctx,
    )
    .notice(done)
    .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

#[handler]
pub async fn own_study(
    req: &Request,
    viewer: Viewer,
    Path(sid): Path<String>,
    Query(q): Query<PageQuery>,
) -> PageResult {
    own_page(req, &viewer, &study_id(&sid)?, None, q.done(), None).await
}

#[handler]
pub async fn change_choices(req: &Request, form: CsrfForm, Path(sid): Path<String>) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    let study = study_id(&sid)?;
    let own = service::own(app, actor, &study).await?;
    let mut chosen = BTreeMap::new();
    let mut answers = BTreeMap::new();
    for c in own.choices_form.iter().flat_map(|f| &f.form.clauses) {
        if !c.mandatory {
            let raw = form.get(&format!("answer.{}", c.key));
            chosen.insert(c.key.clone(), raw.to_owned());
            answers.insert(
                c.key.clone(),
                Submitted::parse(raw).unwrap_or(Submitted::Blank),
            );
        }
    }
    let signature = form.get("signature");
    match crate::consent::records::service::change_choices(app, actor, &study, &answers, signature)
        .await
    {
        Ok(_) => Ok(see_other(
            &format!("/my/studies/{study}"),
            Some(Notice::ChoicesChanged),
        )),
        Err(e) => {
            let typed = Typed { chosen, signature };
            own_page(req, &form.viewer, &study, Some(typed), None, Some(e)).await
        }
    }
}

#[handler]
pub async fn withdraw(req: &Request, form: CsrfForm, Path(sid): Path<String>) -> PageResult {
    let actor = form.viewer.require()?;
    let study = study_id(&sid)?;
    let scope = WithdrawalScope {
        no_contact: form.checked("no_contact"),
        no_collection: form.checked("no_collection"),
        remove_identifiable: form.checked("remove_identifiable"),
    };
    let reason = Some(form.get("withdrawal_reason"));
    match crate::consent::records::service::withdraw_own(app_of(req), actor, &study, scope, reason)
        .await
    {
        Ok(()) => Ok(see_other(
            &format!("/my/studies/{study}"),
            Some(Notice::WithdrawnSelf),
        )),
        Err(e) => own_page(req, &form.viewer, &study, None, None, Some(e)).await,
    }
}

#[handler]
pub async fn pdf(
    req: &Request,
    viewer: Viewer,
    Path((sid, rid)): Path<(String, String)>,
) -> PageResult {
    let actor = viewer.require()?;
    let bytes = service::own_pdf(app_of(req), actor, &study_id(&sid)?, &rid).await?;
    Ok(pdf_response(&rid, bytes))
}
