//! Pages for the participant list (filtered and paged), enrolment, and
//! reading an identity. The participant page itself is composed in
//! `crate::pages::participant`.

use poem::web::{Path, Query};
use poem::{handler, Request, Response};
use serde::Deserialize;
use serde_json::json;

use super::model::{ParticipantFilter, ParticipantStatus, StakeholderGroup};
use super::service;
use crate::db::list::PageRequest;
use crate::error::AppError;
use crate::http::api::next_link;
use crate::http::page::{see_other, Notice, Page, PageQuery};
use crate::http::viewer::{app_of, date_in_boxes, CsrfForm, Viewer};
use crate::ids::{ParticipantId, SiteId, StudyId};
use crate::pages::participant::{render, Extra};
use crate::vault::model::IdentityInput;

type PageResult = poem::Result<Response>;

fn optional(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.trim().is_empty())
}

/// What the participant list reads from its query string.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    stakeholder_group: Option<String>,
    site_id: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

impl ListQuery {
    fn filter(&self) -> Result<ParticipantFilter, AppError> {
        let given = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        let bad =
            |what: &str| AppError::BadRequest(format!("That {what} is not one of the choices."));
        Ok(ParticipantFilter {
            status: given(&self.status)
                .map(|s| ParticipantStatus::parse(&s).ok_or_else(|| bad("status")))
                .transpose()?,
            stakeholder_group: given(&self.stakeholder_group)
                .map(|s| StakeholderGroup::parse(&s).ok_or_else(|| bad("group")))
                .transpose()?,
            site_id: given(&self.site_id)
                .map(|s| SiteId::parse(&s).ok_or_else(|| bad("site")))
                .transpose()?,
        })
    }
}

async fn list_page(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    q: &ListQuery,
    values: serde_json::Value,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = crate::studies::service::get_study(app, actor, study).await?;
    let page = PageRequest::<ParticipantId>::parse(q.after.as_deref())?;
    let filter = q.filter()?;
    let participants = service::list(app, actor, study, &filter, &page).await?;
    let sites = crate::studies::service::sites(app, actor, study).await?;
    let site_names: std::collections::HashMap<&SiteId, &str> =
        sites.iter().map(|s| (&s.id, s.name.as_str())).collect();
    let rows: Vec<_> = participants
        .items
        .iter()
        .map(|p| {
            json!({ "id": p.id, "study_code": p.study_code, "site": site_names.get(&p.site_id).copied().unwrap_or(""),
                    "group": p.stakeholder_group.label(), "status": p.status.label(), "capacity_flag": p.capacity_flag })
        })
        .collect();
    let groups: Vec<_> = StakeholderGroup::ALL
        .iter()
        .map(|g| json!({ "value": g.as_str(), "label": g.label() }))
        .collect();
    let statuses: Vec<_> = ParticipantStatus::ALL
        .iter()
        .map(|s| json!({ "value": s.as_str(), "label": s.label() }))
        .collect();
    let site_options: Vec<_> = sites
        .iter()
        .map(|s| json!({ "value": s.id, "label": s.name }))
        .collect();
    let ctx = json!({
        "study": { "id": details.id, "title": details.title },
        "participants": rows,
        "next": participants.next.map(|k| next_link(req.original_uri(), k.as_str())),
        "filter": { "status": q.status, "stakeholder_group": q.stakeholder_group, "site_id": q.site_id },
        "sites": !sites.is_empty(),
        "site_options": site_options,
        "groups": groups,
        "statuses": statuses,
        "values": values,
    });
    let page = Page::new(
        "participants.html",
        format!("Participants: {}", details.title),
        ctx,
    )
    .notice(q.done.as_deref())
    .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

fn blank_values() -> serde_json::Value {
    json!({ "site_id": "", "stakeholder_group": "", "name": "", "email": "", "phone": "", "notes": "",
            "date_of_birth-day": "", "date_of_birth-month": "", "date_of_birth-year": "" })
}

#[handler]
pub async fn list(
    req: &Request,
    viewer: Viewer,
    Path(study): Path<StudyId>,
    Query(q): Query<ListQuery>,
) -> PageResult {
    list_page(req, &viewer, &study, &q, blank_values(), None).await
}

#[handler]
pub async fn enrol(req: &Request, form: CsrfForm, Path(study): Path<StudyId>) -> PageResult {
    let actor = form.viewer.require()?;
    let date_of_birth = form.date("date_of_birth");
    let identity = IdentityInput {
        name: form.get("name"),
        email: optional(form.get("email")),
        phone: optional(form.get("phone")),
        date_of_birth: optional(&date_of_birth),
        notes: optional(form.get("notes")),
    };
    let result = service::enrol_from_form(
        app_of(req),
        actor,
        &study,
        form.get("site_id"),
        form.get("stakeholder_group"),
        identity,
    )
    .await;
    match result {
        Ok(p) => Ok(see_other(
            &format!("/studies/{study}/participants/{}", p.id),
            Some(Notice::ParticipantEnrolled),
        )),
        Err(e) => {
            let e = date_in_boxes(e, "date_of_birth", "date of birth, from 1900 on");
            // The typed identity is shown back only on this answer, which is never cached.
            let values = json!({
                "site_id": form.get("site_id"), "stakeholder_group": form.get("stakeholder_group"), "name": form.get("name"),
                "email": form.get("email"), "phone": form.get("phone"), "notes": form.get("notes"),
                "date_of_birth-day": form.get("date_of_birth-day"), "date_of_birth-month": form.get("date_of_birth-month"),
                "date_of_birth-year": form.get("date_of_birth-year"),
            });
            list_page(
                req,
                &form.viewer,
                &study,
                &ListQuery::default(),
                values,
                Some(e),
            )
            .await
        }
    }
}

#[handler]
pub async fn participant(
    req: &Request,
    viewer: Viewer,
    Path((study, pid)): Path<(StudyId, ParticipantId)>,
    Query(q): Query<PageQuery>,
) -> PageResult {
    let extra = Extra {
        done: q.done(),
        ..Default::default()
    };
    render(req, &viewer, &study, &pid, extra).await
}

#[handler]
pub async fn reveal(
    req: &Request,
    form: CsrfForm,
    Path((study, pid)): Path<(StudyId, ParticipantId)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    let extra = match service::reveal_identity(app_of(req), actor, &study, &pid, form.get("reason"))
        .await
    {
        Ok(identity) => Extra {
            identity: Some(identity),
            ..Default::default()
        },
        Err(e) => Extra {
            err: Some(e),
            ..Default::default()
        },
    };
    render(req, &form.viewer, &study, &pid, extra).await
}
