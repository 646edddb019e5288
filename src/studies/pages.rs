//! Pages for the studies dashboard, a study, and study administration.

use poem::web::{Path, Query};
use poem::{handler, Request, Response};
use serde_json::json;

use super::model::{StudyInput, LAWFUL_BASES, STATUSES};
use super::service;
use crate::auth::model::{Permission, Role};
use crate::auth::pages::PageQuery;
use crate::auth::policy::{permits, Scope};
use crate::error::AppError;
use crate::http::page::{see_other, Notice, Page};
use crate::http::viewer::{app_of, CsrfForm, Viewer};
use crate::ids::{AccountId, SiteId, StudyId};

type PageResult = poem::Result<Response>;

fn study_id(raw: &str) -> Result<StudyId, AppError> {
    StudyId::parse(raw).ok_or(AppError::NotFound)
}

fn choices(list: &[(&str, &str)]) -> Vec<serde_json::Value> {
    list.iter()
        .map(|(v, l)| json!({ "value": v, "label": l }))
        .collect()
}

#[handler]
pub async fn dashboard(req: &Request, viewer: Viewer, Query(q): Query<PageQuery>) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let studies: Vec<_> = service::studies_for(app, actor)
        .await?
        .into_iter()
        .map(|s| {
            let role = StudyId::parse(&s.id)
                .and_then(|id| actor.membership(&id).map(|m| m.role.as_str()))
                .unwrap_or("administrator");
            json!({ "id": s.id, "title": s.title, "slug": s.slug, "status": s.status, "role": role,
                    "iras_id": s.iras_id, "rec_reference": s.rec_reference })
        })
        .collect();
    let ctx = json!({ "studies": studies, "can_create": permits(actor, Permission::CreateStudies, Scope::Instance) });
    Ok(Page::new("dashboard.html", "Your studies", ctx)
        .notice(q.done())
        .render(app, &viewer)?)
}

fn study_form(action: String, heading: &str, values: &StudyInput) -> Page {
    let ctx = json!({
        "action": action, "heading": heading, "values": values,
        "statuses": choices(STATUSES), "lawful_bases": choices(LAWFUL_BASES),
    });
    Page::new("admin_study_form.html", heading, ctx)
}

fn study_input(form: &CsrfForm) -> StudyInput {
    StudyInput {
        title: form.get("title").into(),
        slug: form.get("slug").into(),
        iras_id: Some(form.get("iras_id").into()),
        rec_reference: Some(form.get("rec_reference").into()),
        lawful_basis: form.get("lawful_basis").into(),
        retention_years: form.get("retention_years").trim().parse().unwrap_or(0),
        status: form.get("status").into(),
        code_prefix: Some(form.get("code_prefix").into()),
        mca_approved: form.checked("mca_approved"),
    }
}

#[handler]
pub async fn new_study_form(req: &Request, viewer: Viewer) -> PageResult {
    let actor = viewer.require()?;
    if !permits(actor, Permission::CreateStudies, Scope::Instance) {
        return Err(AppError::Forbidden("Only administrators create studies.".into()).into());
    }
    let blank = StudyInput {
        lawful_basis: "public_task".into(),
        retention_years: 10,
        status: "setup".into(),
        ..Default::default()
    };
    Ok(
        study_form("/admin/studies/new".into(), "Create a study", &blank)
            .render(app_of(req), &viewer)?,
    )
}

#[handler]
pub async fn create_study(req: &Request, form: CsrfForm) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    let input = study_input(&form);
    match service::create_study(app, actor, &input).await {
        Ok(s) => Ok(see_other(
            &format!("/studies/{}", s.id),
            Some(Notice::StudySaved),
        )),
        Err(e) => Ok(
            study_form("/admin/studies/new".into(), "Create a study", &input)
                .problems(e)?
                .render(app, &form.viewer)?,
        ),
    }
}

async fn study_page(
    req: &Request,
    viewer: &Viewer,
    id: &StudyId,
    done: Option<&str>,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = service::get_study(app, actor, id).await?;
    let sites = service::sites(app, actor, id).await?;
    let can = |p| permits(actor, p, Scope::Study(id));
    let members = if can(Permission::ViewMembers) {
        let names: std::collections::HashMap<&str, &str> = sites
            .iter()
            .map(|s| (s.id.as_str(), s.name.as_str()))
            .collect();
        let list: Vec<_> = service::members(app, actor, id)
            .await?
            .into_iter()
            .map(|m| {
                let site_names: Vec<&str> = m.site_ids.iter().filter_map(|s| names.get(s.as_str()).copied()).collect();
                json!({ "id": m.id, "display_name": m.display_name, "role": m.role.as_str(), "site_names": site_names })
            })
            .collect();
        Some(list)
    } else {
        None
    };
    let accounts = if can(Permission::ManageMembers) {
        crate::auth::service::list_accounts(app, actor)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|a| !a.disabled)
            .map(|a| json!({ "id": a.id, "display_name": a.display_name }))
            .collect()
    } else {
        Vec::new()
    };
    let audit = if can(Permission::ViewStudyAudit) {
        Some(service::study_audit(app, actor, id, 50).await?)
    } else {
        None
    };
    let roles: Vec<_> = [
        Role::Researcher,
        Role::Reviewer,
        Role::Analyst,
        Role::Participant,
    ]
    .iter()
    .map(|r| json!({ "value": r.as_str(), "label": r.as_str() }))
    .collect();
    let title = details.title.clone();
    let ctx = json!({
        "study": details, "sites": sites, "can_edit": can(Permission::EditStudy), "members": members,
        "can_manage_members": can(Permission::ManageMembers), "accounts": accounts, "roles": roles, "audit": audit,
        "can_enrol": can(Permission::EnrolParticipants),
        "can_view_register": can(Permission::ViewConsentRegister),
    });
    let page = Page::new("study.html", title, ctx)
        .notice(done)
        .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

#[handler]
pub async fn study(
    req: &Request,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> PageResult {
    study_page(req, &viewer, &study_id(&id)?, q.done(), None).await
}

#[handler]
pub async fn edit_study_form(req: &Request, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let id = study_id(&id)?;
    let s = service::get_study(app, actor, &id).await?;
    if !permits(actor, Permission::EditStudy, Scope::Study(&id)) {
        return Err(
            AppError::Forbidden("Your role in this study does not allow this.".into()).into(),
        );
    }
    let values = StudyInput {
        title: s.title,
        slug: s.slug,
        iras_id: s.iras_id,
        rec_reference: s.rec_reference,
        lawful_basis: s.lawful_basis,
        retention_years: s.retention_years,
        status: s.status,
        code_prefix: Some(s.code_prefix),
        mca_approved: s.mca_approved,
    };
    Ok(
        study_form(format!("/studies/{id}/edit"), "Edit study details", &values)
            .render(app, &viewer)?,
    )
}

#[handler]
pub async fn edit_study(req: &Request, form: CsrfForm, Path(id): Path<String>) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    let id = study_id(&id)?;
    let input = study_input(&form);
    match service::update_study(app, actor, &id, &input, None).await {
        Ok(_) => Ok(see_other(
            &format!("/studies/{id}"),
            Some(Notice::StudySaved),
        )),
        Err(e) => Ok(
            study_form(format!("/studies/{id}/edit"), "Edit study details", &input)
                .problems(e)?
                .render(app, &form.viewer)?,
        ),
    }
}

/// Runs a change from the study page: back to the page with a notice, or the
/// page again with the problem shown.
async fn on_study_page(
    req: &Request,
    form: &CsrfForm,
    id: &StudyId,
    done: Notice,
    result: Result<(), AppError>,
) -> PageResult {
    match result {
        Ok(()) => Ok(see_other(&format!("/studies/{id}"), Some(done))),
        Err(e) => study_page(req, &form.viewer, id, None, Some(e)).await,
    }
}

#[handler]
pub async fn add_site(req: &Request, form: CsrfForm, Path(id): Path<String>) -> PageResult {
    let actor = form.viewer.require()?;
    let id = study_id(&id)?;
    let result = service::add_site(app_of(req), actor, &id, form.get("name"))
        .await
        .map(drop);
    on_study_page(req, &form, &id, Notice::SiteAdded, result).await
}

#[handler]
pub async fn add_team(req: &Request, form: CsrfForm, Path(id): Path<String>) -> PageResult {
    let actor = form.viewer.require()?;
    let id = study_id(&id)?;
    service::require(actor, Permission::EditStudy, &id)?;
    let result = match SiteId::parse(form.get("site_id")) {
        Some(site) => service::add_team(
            app_of(req),
            actor,
            &id,
            &site,
            form.get("name"),
            form.get("kind"),
        )
        .await
        .map(drop),
        None => Err(AppError::invalid("site_id", "Choose a site of this study.")),
    };
    on_study_page(req, &form, &id, Notice::TeamAdded, result).await
}

#[handler]
pub async fn add_member(req: &Request, form: CsrfForm, Path(id): Path<String>) -> PageResult {
    let actor = form.viewer.require()?;
    let id = study_id(&id)?;
    service::require(actor, Permission::ManageMembers, &id)?;
    let account = AccountId::parse(form.get("account_id"));
    let role = Role::parse(form.get("role"));
    let sites: Option<Vec<SiteId>> = form
        .all("site_ids")
        .into_iter()
        .map(SiteId::parse)
        .collect();
    let result = match (account, role, sites) {
        (Some(a), Some(r), Some(s)) => {
            service::set_member(app_of(req), actor, &id, &a, r, &s, None)
                .await
                .map(drop)
        }
        (None, _, _) => Err(AppError::invalid("account_id", "Choose a person.")),
        (_, None, _) => Err(AppError::invalid("role", "Choose a role.")),
        (_, _, None) => Err(AppError::invalid("site_ids", "Choose sites of this study.")),
    };
    on_study_page(req, &form, &id, Notice::MemberAdded, result).await
}

#[handler]
pub async fn remove_member(
    req: &Request,
    form: CsrfForm,
    Path((id, membership)): Path<(String, String)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    let id = study_id(&id)?;
    let result = service::remove_member(app_of(req), actor, &id, &membership, None).await;
    on_study_page(req, &form, &id, Notice::MemberRemoved, result).await
}
