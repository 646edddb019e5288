//! Pages for the studies dashboard, a study, and study administration.

use poem::web::{Path, Query};
use poem::{handler, Request, Response};
use serde_json::json;

use super::model::{Arm, LawfulBasis, StudyInput, StudyStatus};
use super::service;
use crate::auth::model::Role;
use crate::auth::policy::abilities;
use crate::db::list::PageRequest;
use crate::error::AppError;
use crate::http::api::link_with;
use crate::http::page::{see_other, Notice, Page, PageQuery};
use crate::http::viewer::{app_of, CsrfForm, Viewer};
use crate::ids::{AccountId, MembershipId, SiteId, StudyId};

type PageResult = poem::Result<Response>;

#[derive(serde::Deserialize, Default)]
pub struct StudyQuery {
    done: Option<String>,
    /// Where the audit trail's page starts.
    audit_after: Option<String>,
}

#[handler]
pub async fn dashboard(req: &Request, viewer: Viewer, Query(q): Query<PageQuery>) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let studies: Vec<_> = service::studies_for(app, actor)
        .await?
        .into_iter()
        .map(|s| {
            let role = actor
                .membership(&s.id)
                .map(|m| m.role.as_str())
                .unwrap_or("administrator");
            json!({ "id": s.id, "title": s.title, "slug": s.slug, "status": s.status.label(), "role": role,
                    "iras_id": s.iras_id, "rec_reference": s.rec_reference })
        })
        .collect();
    let ctx = json!({ "studies": studies, "can_create": abilities(actor, None).create_studies });
    Ok(Page::new("dashboard.html", "Your studies", ctx)
        .notice(q.done())
        .render(app, &viewer)?)
}

fn study_form(action: String, heading: &str, values: &StudyInput) -> Page {
    let statuses: Vec<_> = StudyStatus::ALL
        .iter()
        .map(|s| json!({ "value": s.as_str(), "label": s.label() }))
        .collect();
    let bases: Vec<_> = LawfulBasis::ALL
        .iter()
        .map(|b| json!({ "value": b.as_str(), "label": b.label() }))
        .collect();
    let ctx = json!({
        "action": action, "heading": heading, "values": values,
        "statuses": statuses, "lawful_bases": bases,
    });
    Page::new("admin_study_form.html", heading, ctx)
}

/// The study form as submitted: its choices must be among those offered.
fn study_input(form: &CsrfForm) -> Result<StudyInput, AppError> {
    let lawful_basis = LawfulBasis::parse(form.get("lawful_basis")).ok_or_else(|| {
        AppError::invalid("lawful_basis", "Choose the lawful basis from the list.")
    })?;
    let status = StudyStatus::parse(form.get("status"))
        .ok_or_else(|| AppError::invalid("status", "Choose a status from the list."))?;
    Ok(StudyInput {
        title: form.get("title").into(),
        slug: form.get("slug").into(),
        iras_id: Some(form.get("iras_id").into()),
        rec_reference: Some(form.get("rec_reference").into()),
        lawful_basis,
        retention_years: form.get("retention_years").trim().parse().unwrap_or(0),
        status,
        code_prefix: Some(form.get("code_prefix").into()),
        mca_approved: form.checked("mca_approved"),
    })
}

/// What the form shows again after a problem: what was typed.
fn typed(form: &CsrfForm) -> serde_json::Value {
    json!({
        "title": form.get("title"), "slug": form.get("slug"), "iras_id": form.get("iras_id"),
        "rec_reference": form.get("rec_reference"), "lawful_basis": form.get("lawful_basis"),
        "retention_years": form.get("retention_years"), "status": form.get("status"),
        "code_prefix": form.get("code_prefix"), "mca_approved": form.checked("mca_approved"),
    })
}

fn form_page(action: String, heading: &str, values: serde_json::Value) -> Page {
    let mut page = study_form(action, heading, &StudyInput::default());
    page.set("values", values);
    page
}

#[handler]
pub async fn new_study_form(req: &Request, viewer: Viewer) -> PageResult {
    let actor = viewer.require()?;
    service::may_create_study(actor)?;
    let blank = StudyInput {
        retention_years: 10,
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
    service::may_create_study(actor)?;
    let result = match study_input(&form) {
        Ok(input) => service::create_study(app, actor, &input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(s) => Ok(see_other(
            &format!("/studies/{}", s.id),
            Some(Notice::StudySaved),
        )),
        Err(e) => Ok(
            form_page("/admin/studies/new".into(), "Create a study", typed(&form))
                .problems(e)?
                .render(app, &form.viewer)?,
        ),
    }
}

async fn study_page(
    req: &Request,
    viewer: &Viewer,
    id: &StudyId,
    q: &StudyQuery,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = service::get_study(app, actor, id).await?;
    let sites = service::sites(app, actor, id).await?;
    let can = abilities(actor, Some(id));
    let members = if can.view_members {
        let names: std::collections::HashMap<&SiteId, &str> =
            sites.iter().map(|s| (&s.id, s.name.as_str())).collect();
        let list: Vec<_> = service::members(app, actor, id)
            .await?
            .into_iter()
            .map(|m| {
                let site_names: Vec<&str> = m.site_ids.iter().filter_map(|s| names.get(s).copied()).collect();
                json!({ "id": m.id, "display_name": m.display_name, "role": m.role.as_str(), "site_names": site_names })
            })
            .collect();
        Some(list)
    } else {
        None
    };
    let accounts = if can.manage_members {
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
    let (audit, audit_next) = if can.view_study_audit {
        let page = PageRequest::<i64>::parse(q.audit_after.as_deref())?;
        let found = service::study_audit(app, actor, id, &page).await?;
        let who = crate::audit::service::who_acted(&app.db.pool, &found.items).await?;
        let next = found
            .next
            .map(|k| link_with(req.original_uri(), "audit_after", &k.to_string()));
        let entries: Vec<_> = found
            .items
            .iter()
            .zip(&who)
            .map(|(e, who)| json!({ "seq": e.seq, "at": e.at, "who": who, "role": e.role,
                              "action": e.action, "entity_type": e.entity_type, "entity_id": e.entity_id }))
            .collect();
        (Some(entries), next)
    } else {
        (None, None)
    };
    let roles: Vec<_> = [
        Role::Researcher,
        Role::Reviewer,
        Role::Analyst,
        Role::Participant,
        Role::Rater,
    ]
    .iter()
    .map(|r| json!({ "value": r.as_str(), "label": r.label(), "explained": r.explained() }))
    .collect();
    let forms: Vec<_> = crate::consent::forms::service::current_of_each(&app.db, id)
        .await?
        .iter()
        .map(|f| {
            json!({ "form_id": f.form.form_id, "title": f.form.title, "version": f.form.version,
                          "easy_read": f.form.easy_read, "published_at": f.loaded_at })
        })
        .collect();
    let title = details.title.clone();
    let ctx = json!({
        "lawful_basis": details.lawful_basis.label(), "status": details.status.label(), "forms": forms,
        "study": details, "sites": sites, "can_edit": can.edit_study, "members": members,
        "can_manage_members": can.manage_members, "accounts": accounts, "roles": roles,
        "audit": audit, "audit_next": audit_next,
        "can_enrol": can.enrol_participants,
        "can_view_register": can.view_consent_register,
        "can_use_instruments": can.rate_instruments || can.view_instrument_results,
        "can_do_fieldwork": can.record_fieldwork || can.view_fieldwork_checks,
    });
    let page = Page::new("study.html", title, ctx)
        .notice(q.done.as_deref())
        .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

#[handler]
pub async fn study(
    req: &Request,
    viewer: Viewer,
    Path(id): Path<StudyId>,
    Query(q): Query<StudyQuery>,
) -> PageResult {
    study_page(req, &viewer, &id, &q, None).await
}

#[handler]
pub async fn edit_study_form(req: &Request, viewer: Viewer, Path(id): Path<StudyId>) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let s = service::study_to_edit(app, actor, &id).await?;
    let values = StudyInput {
        title: s.title.into(),
        slug: s.slug.into(),
        iras_id: s.iras_id.map(Into::into),
        rec_reference: s.rec_reference.map(Into::into),
        lawful_basis: s.lawful_basis,
        retention_years: s.retention_years,
        status: s.status,
        code_prefix: Some(s.code_prefix.into()),
        mca_approved: s.mca_approved,
    };
    Ok(
        study_form(format!("/studies/{id}/edit"), "Edit study details", &values)
            .render(app, &viewer)?,
    )
}

#[handler]
pub async fn edit_study(req: &Request, form: CsrfForm, Path(id): Path<StudyId>) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    service::study_to_edit(app, actor, &id).await?;
    let result = match study_input(&form) {
        Ok(input) => service::update_study(app, actor, &id, &input, None).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(
            &format!("/studies/{id}"),
            Some(Notice::StudySaved),
        )),
        Err(e) => Ok(form_page(
            format!("/studies/{id}/edit"),
            "Edit study details",
            typed(&form),
        )
        .problems(e)?
        .render(app, &form.viewer)?),
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
        Err(e) => study_page(req, &form.viewer, id, &StudyQuery::default(), Some(e)).await,
    }
}

#[handler]
pub async fn add_site(req: &Request, form: CsrfForm, Path(id): Path<StudyId>) -> PageResult {
    let actor = form.viewer.require()?;
    let result = service::add_site(app_of(req), actor, &id, form.get("name"))
        .await
        .map(drop);
    on_study_page(req, &form, &id, Notice::SiteAdded, result).await
}

#[handler]
pub async fn add_team(req: &Request, form: CsrfForm, Path(id): Path<StudyId>) -> PageResult {
    let actor = form.viewer.require()?;
    service::study_to_edit(app_of(req), actor, &id).await?;
    let result = match SiteId::parse(form.get("site_id")) {
        Some(site) => service::add_team(
            app_of(req),
            actor,
            &id,
            &site,
            form.get("name"),
            form.get("kind"),
            Arm::parse(form.get("arm")),
        )
        .await
        .map(drop),
        None => Err(AppError::invalid("site_id", "Choose a site of this study.")),
    };
    on_study_page(req, &form, &id, Notice::TeamAdded, result).await
}

#[handler]
pub async fn add_member(req: &Request, form: CsrfForm, Path(id): Path<StudyId>) -> PageResult {
    let actor = form.viewer.require()?;
    service::may_manage_members(actor, &id)?;
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
    Path((id, membership)): Path<(StudyId, MembershipId)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    let result = service::remove_member(app_of(req), actor, &id, &membership, None).await;
    on_study_page(req, &form, &id, Notice::MemberRemoved, result).await
}
