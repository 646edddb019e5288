//! Pages for the participant list, enrolment, and reading an identity.

use poem::web::{Path, Query};
use poem::{handler, Request, Response};
use serde_json::json;

use super::model::StakeholderGroup;
use super::service::{self, Enrolment};
use crate::auth::model::Permission;
use crate::auth::pages::PageQuery;
use crate::error::AppError;
use crate::http::page::{see_other, Notice, Page};
use crate::http::viewer::{app_of, CsrfForm, Viewer};
use crate::ids::{SiteId, StudyId};
use crate::vault::model::{Identity, IdentityInput};

type PageResult = poem::Result<Response>;

fn study_id(raw: &str) -> Result<StudyId, AppError> {
    StudyId::parse(raw).ok_or(AppError::NotFound)
}

fn optional(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.trim().is_empty())
}

async fn list_page(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    values: serde_json::Value,
    done: Option<&str>,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = crate::studies::service::get_study(app, actor, study).await?;
    let participants = service::list(app, actor, study).await?;
    let sites = crate::studies::service::sites(app, actor, study).await?;
    let site_names: std::collections::HashMap<&str, &str> = sites
        .iter()
        .map(|s| (s.id.as_str(), s.name.as_str()))
        .collect();
    let rows: Vec<_> = participants
        .iter()
        .map(|p| {
            json!({ "id": p.id, "study_code": p.study_code, "site": site_names.get(p.site_id.as_str()).copied().unwrap_or(""),
                    "group": p.stakeholder_group.label(), "status": p.status.as_str(), "capacity_flag": p.capacity_flag })
        })
        .collect();
    let groups: Vec<_> = StakeholderGroup::ALL
        .iter()
        .map(|g| json!({ "value": g.as_str(), "label": g.label() }))
        .collect();
    let ctx = json!({
        "study": { "id": details.id, "title": details.title },
        "participants": rows,
        "sites": !sites.is_empty(),
        "site_options": sites.iter().map(|s| json!({ "value": s.id, "label": s.name })).collect::<Vec<_>>(),
        "groups": groups,
        "values": values,
        "reconsent_due": crate::consent::choices::pages::due_rows(app, actor, study).await?,
    });
    let page = Page::new(
        "participants.html",
        format!("Participants: {}", details.title),
        ctx,
    )
    .notice(done)
    .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

fn blank_values() -> serde_json::Value {
    json!({ "site_id": "", "stakeholder_group": "", "name": "", "email": "", "phone": "", "date_of_birth": "", "notes": "" })
}

#[handler]
pub async fn list(
    req: &Request,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> PageResult {
    list_page(
        req,
        &viewer,
        &study_id(&id)?,
        blank_values(),
        q.done(),
        None,
    )
    .await
}

#[handler]
pub async fn enrol(req: &Request, form: CsrfForm, Path(id): Path<String>) -> PageResult {
    let actor = form.viewer.require()?;
    let study = study_id(&id)?;
    crate::studies::service::require(actor, Permission::EnrolParticipants, &study)?;
    let identity = IdentityInput {
        name: form.get("name"),
        email: optional(form.get("email")),
        phone: optional(form.get("phone")),
        date_of_birth: optional(form.get("date_of_birth")),
        notes: optional(form.get("notes")),
    };
    let result = match (
        SiteId::parse(form.get("site_id")),
        StakeholderGroup::parse(form.get("stakeholder_group")),
    ) {
        (Some(site), Some(group)) => {
            let enrolment = Enrolment {
                site_id: &site,
                group,
                identity,
                account_id: None,
            };
            service::enrol(app_of(req), actor, &study, enrolment).await
        }
        (None, _) => Err(AppError::invalid("site_id", "Choose a site of this study.")),
        (_, None) => Err(AppError::invalid(
            "stakeholder_group",
            "Choose how they take part.",
        )),
    };
    match result {
        Ok(p) => Ok(see_other(
            &format!("/studies/{study}/participants/{}", p.id),
            Some(Notice::ParticipantEnrolled),
        )),
        Err(e) => {
            // The typed identity is shown back only on this answer, which is never cached.
            let values = json!({
                "site_id": form.get("site_id"), "stakeholder_group": form.get("stakeholder_group"), "name": form.get("name"),
                "email": form.get("email"), "phone": form.get("phone"), "date_of_birth": form.get("date_of_birth"), "notes": form.get("notes"),
            });
            list_page(req, &form.viewer, &study, values, None, Some(e)).await
        }
    }
}

/// What the participant page shows besides the participant: an identity just
/// revealed, a consent link just made, a notice, or the problem with a form.
#[derive(Default)]
pub struct Extra<'a> {
    pub identity: Option<Identity>,
    pub invitation: Option<crate::consent::records::service::SentInvitation>,
    pub done: Option<&'a str>,
    pub err: Option<AppError>,
}

pub async fn participant_page(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    id: &str,
    extra: Extra<'_>,
) -> PageResult {
    let Extra {
        identity,
        invitation,
        done,
        err,
    } = extra;
    let app = app_of(req);
    let actor = viewer.require()?;
    let p = service::get(app, actor, study, id).await?;
    let details = crate::studies::service::get_study(app, actor, study).await?;
    let site = crate::studies::service::sites(app, actor, study)
        .await?
        .into_iter()
        .find(|s| s.id == p.site_id);
    let identity = identity.map(|i| {
        json!({ "name": i.name(), "email": i.email(), "phone": i.phone(), "date_of_birth": i.date_of_birth(), "notes": i.notes() })
    });
    let ctx = json!({
        "study": { "id": details.id, "title": details.title },
        "participant": { "id": p.id, "study_code": p.study_code, "group": p.stakeholder_group.label(), "status": p.status.as_str(),
                          "site": site.map(|s| s.name).unwrap_or_default(), "capacity_flag": p.capacity_flag, "created_at": p.created_at },
        "identity": identity,
        "consent": crate::consent::records::pages::summary(app, actor, study, &p).await?,
        "capacity": crate::consent::capacity::pages::summary(app, actor, study, &p).await?,
        "invitation": invitation.map(|i| json!({ "link": i.link, "emailed": i.emailed })),
    });
    let page = Page::new(
        "participant.html",
        format!("Participant {}", p.study_code),
        ctx,
    )
    .notice(done)
    .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

#[handler]
pub async fn participant(
    req: &Request,
    viewer: Viewer,
    Path((id, pid)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> PageResult {
    participant_page(
        req,
        &viewer,
        &study_id(&id)?,
        &pid,
        Extra {
            done: q.done(),
            ..Default::default()
        },
    )
    .await
}

#[handler]
pub async fn reveal(
    req: &Request,
    form: CsrfForm,
    Path((id, pid)): Path<(String, String)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    let study = study_id(&id)?;
    match service::reveal_identity(app_of(req), actor, &study, &pid, form.get("reason")).await {
        Ok(identity) => {
            participant_page(
                req,
                &form.viewer,
                &study,
                &pid,
                Extra {
                    identity: Some(identity),
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => {
            participant_page(
                req,
                &form.viewer,
                &study,
                &pid,
                Extra {
                    err: Some(e),
                    ..Default::default()
                },
            )
            .await
        }
    }
}
