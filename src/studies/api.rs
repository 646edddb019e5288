//! JSON API for studies, sites, teams and members.

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::model::{Member, Site, Study, StudyInput};
use super::service;
use crate::audit::Entry;
use crate::auth::model::{Permission, Role};
use crate::error::AppError;
use crate::http::api::{fail, ApiResult, BearerAuth, Created, NoContent, Tag};
use crate::http::viewer::app_of;
use crate::ids::{AccountId, SiteId, StudyId};

pub struct StudiesApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct NameInput {
    name: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct TeamInput {
    name: String,
    /// e.g. CMHT, recovery college, voluntary group.
    kind: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct MemberInput {
    account_id: String,
    role: Role,
    /// Researchers only: limit to these sites (empty means all).
    #[oai(default)]
    site_ids: Vec<String>,
    reason: Option<String>,
}

fn study_id(raw: &str) -> poem::Result<StudyId> {
    StudyId::parse(raw).ok_or_else(|| fail(AppError::NotFound))
}

fn site_ids(raw: &[String]) -> poem::Result<Vec<SiteId>> {
    raw.iter()
        .map(|s| {
            SiteId::parse(s).ok_or_else(|| {
                fail(AppError::invalid(
                    "site_ids",
                    "Site ids must be ids of this study's sites.",
                ))
            })
        })
        .collect()
}

#[OpenApi(prefix_path = "/studies", tag = "Tag::Studies")]
impl StudiesApi {
    /// Studies you can see.
    #[oai(path = "/", method = "get")]
    async fn list(&self, req: &Request, auth: BearerAuth) -> ApiResult<Json<Vec<Study>>> {
        Ok(Json(
            service::studies_for(app_of(req), &auth.0)
                .await
                .map_err(fail)?,
        ))
    }

    /// Create a study (administrators).
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<StudyInput>,
    ) -> ApiResult<Json<Study>> {
        Ok(Json(
            service::create_study(app_of(req), &auth.0, &body)
                .await
                .map_err(fail)?,
        ))
    }

    /// One study.
    #[oai(path = "/:study_id", method = "get")]
    async fn get(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
    ) -> ApiResult<Json<Study>> {
        let id = self::study_id(&study_id)?;
        Ok(Json(
            service::get_study(app_of(req), &auth.0, &id)
                .await
                .map_err(fail)?,
        ))
    }

    /// Change a study's details; `reason` is recorded in the audit trail.
    #[oai(path = "/:study_id", method = "put")]
    async fn update(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        body: Json<StudyInput>,
        reason: Query<Option<String>>,
    ) -> ApiResult<Json<Study>> {
        let id = self::study_id(&study_id)?;
        let s = service::update_study(app_of(req), &auth.0, &id, &body, reason.as_deref())
            .await
            .map_err(fail)?;
        Ok(Json(s))
    }

    /// The study's sites and their teams.
    #[oai(path = "/:study_id/sites", method = "get")]
    async fn sites(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
    ) -> ApiResult<Json<Vec<Site>>> {
        let id = self::study_id(&study_id)?;
        Ok(Json(
            service::sites(app_of(req), &auth.0, &id)
                .await
                .map_err(fail)?,
        ))
    }

    /// Add a site.
    #[oai(path = "/:study_id/sites", method = "post")]
    async fn add_site(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        body: Json<NameInput>,
    ) -> ApiResult<Json<Created>> {
        let id = self::study_id(&study_id)?;
        let site = service::add_site(app_of(req), &auth.0, &id, &body.name)
            .await
            .map_err(fail)?;
        Ok(Json(Created {
            id: site.to_string(),
        }))
    }

    /// Add a team at a site.
    #[oai(path = "/:study_id/sites/:site_id/teams", method = "post")]
    async fn add_team(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        site_id: Path<String>,
        body: Json<TeamInput>,
    ) -> ApiResult<Json<Created>> {
        let id = self::study_id(&study_id)?;
        service::require(&auth.0, Permission::EditStudy, &id).map_err(fail)?;
        let site = SiteId::parse(&site_id).ok_or_else(|| fail(AppError::NotFound))?;
        let team = service::add_team(app_of(req), &auth.0, &id, &site, &body.name, &body.kind)
            .await
            .map_err(fail)?;
        Ok(Json(Created {
            id: team.to_string(),
        }))
    }

    /// Who works on the study.
    #[oai(path = "/:study_id/members", method = "get")]
    async fn members(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
    ) -> ApiResult<Json<Vec<Member>>> {
        let id = self::study_id(&study_id)?;
        Ok(Json(
            service::members(app_of(req), &auth.0, &id)
                .await
                .map_err(fail)?,
        ))
    }

    /// Give an account a role in the study, or change its role.
    #[oai(path = "/:study_id/members", method = "put")]
    async fn set_member(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        body: Json<MemberInput>,
    ) -> ApiResult<Json<Created>> {
        let id = self::study_id(&study_id)?;
        service::require(&auth.0, Permission::ManageMembers, &id).map_err(fail)?;
        let account = AccountId::parse(&body.account_id).ok_or_else(|| {
            fail(AppError::invalid(
                "account_id",
                "Choose an existing account.",
            ))
        })?;
        let sites = site_ids(&body.site_ids)?;
        let m = service::set_member(
            app_of(req),
            &auth.0,
            &id,
            &account,
            body.role,
            &sites,
            body.reason.as_deref(),
        )
        .await
        .map_err(fail)?;
        Ok(Json(Created { id: m }))
    }

    /// Remove someone from the study.
    #[oai(path = "/:study_id/members/:membership_id", method = "delete")]
    async fn remove_member(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        membership_id: Path<String>,
        reason: Query<Option<String>>,
    ) -> ApiResult<NoContent> {
        let id = self::study_id(&study_id)?;
        service::remove_member(app_of(req), &auth.0, &id, &membership_id, reason.as_deref())
            .await
            .map_err(fail)?;
        Ok(NoContent::Done)
    }

    /// The newest audit entries about this study (reviewers and administrators).
    #[oai(path = "/:study_id/audit", method = "get")]
    async fn audit(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        limit: Query<Option<i64>>,
    ) -> ApiResult<Json<Vec<Entry>>> {
        let id = self::study_id(&study_id)?;
        Ok(Json(
            service::study_audit(app_of(req), &auth.0, &id, limit.unwrap_or(200))
                .await
                .map_err(fail)?,
        ))
    }
}
