//! JSON API for studies, sites, teams and members.

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::model::{Arm, Member, Site, Study, StudyInput};
use super::service;
use crate::audit::Entry;
use crate::auth::model::Role;
use crate::db::list::{Limit, PageRequest};
use crate::http::api::{ApiResult, BearerAuth, Created, NoContent, Paged, Tag, Text};
use crate::http::viewer::app_of;
use crate::ids::{AccountId, MembershipId, SiteId, StudyId, TeamId};

pub struct StudiesApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct NameInput {
    #[oai(validator(max_length = 200))]
    name: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct TeamInput {
    #[oai(validator(max_length = 200))]
    name: Text,
    /// e.g. CMHT, recovery college, voluntary group.
    #[oai(validator(max_length = 200))]
    kind: Text,
    /// The trial arm, when the study compares intervention and control teams.
    arm: Option<Arm>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct MemberInput {
    account_id: AccountId,
    role: Role,
    /// Researchers only: limit to these sites (empty means all).
    #[oai(nullable, default)]
    site_ids: Vec<SiteId>,
    #[oai(nullable, validator(max_length = 500))]
    reason: Option<Text>,
}

#[OpenApi(prefix_path = "/studies", tag = "Tag::Studies")]
impl StudiesApi {
    /// Studies you can see.
    #[oai(path = "/", method = "get")]
    async fn list(&self, req: &Request, auth: BearerAuth) -> ApiResult<Json<Vec<Study>>> {
        Ok(Json(service::studies_for(app_of(req), &auth.0).await?))
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
            service::create_study(app_of(req), &auth.0, &body).await?,
        ))
    }

    /// One study.
    #[oai(path = "/:study_id", method = "get")]
    async fn get(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
    ) -> ApiResult<Json<Study>> {
        Ok(Json(
            service::get_study(app_of(req), &auth.0, &study_id).await?,
        ))
    }

    /// Change a study's details; `reason` is recorded in the audit trail.
    #[oai(path = "/:study_id", method = "put")]
    async fn update(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        body: Json<StudyInput>,
        /// Why; recorded in the audit trail.
        #[oai(validator(max_length = 500))]
        reason: Query<Option<Text>>,
    ) -> ApiResult<Json<Study>> {
        let s = service::update_study(app_of(req), &auth.0, &study_id, &body, reason.as_deref())
            .await?;
        Ok(Json(s))
    }

    /// The study's sites and their teams.
    #[oai(path = "/:study_id/sites", method = "get")]
    async fn sites(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
    ) -> ApiResult<Json<Vec<Site>>> {
        Ok(Json(service::sites(app_of(req), &auth.0, &study_id).await?))
    }

    /// Add a site.
    #[oai(path = "/:study_id/sites", method = "post")]
    async fn add_site(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        body: Json<NameInput>,
    ) -> ApiResult<Json<Created<SiteId>>> {
        let id = service::add_site(app_of(req), &auth.0, &study_id, &body.name).await?;
        Ok(Json(Created { id }))
    }

    /// Add a team at a site.
    #[oai(path = "/:study_id/sites/:site_id/teams", method = "post")]
    async fn add_team(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        site_id: Path<SiteId>,
        body: Json<TeamInput>,
    ) -> ApiResult<Json<Created<TeamId>>> {
        let id = service::add_team(
            app_of(req),
            &auth.0,
            &study_id,
            &site_id,
            &body.name,
            &body.kind,
            body.arm,
        )
        .await?;
        Ok(Json(Created { id }))
    }

    /// Who works on the study.
    #[oai(path = "/:study_id/members", method = "get")]
    async fn members(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
    ) -> ApiResult<Json<Vec<Member>>> {
        Ok(Json(
            service::members(app_of(req), &auth.0, &study_id).await?,
        ))
    }

    /// Give an account a role in the study, or change its role.
    #[oai(path = "/:study_id/members", method = "put")]
    async fn set_member(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        body: Json<MemberInput>,
    ) -> ApiResult<Json<Created<MembershipId>>> {
        let id = service::set_member(
            app_of(req),
            &auth.0,
            &study_id,
            &body.account_id,
            body.role,
            &body.site_ids,
            body.reason.as_deref(),
        )
        .await?;
        Ok(Json(Created { id }))
    }

    /// Remove someone from the study.
    #[oai(path = "/:study_id/members/:membership_id", method = "delete")]
    async fn remove_member(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        membership_id: Path<MembershipId>,
        /// Why; recorded in the audit trail.
        #[oai(validator(max_length = 500))]
        reason: Query<Option<Text>>,
    ) -> ApiResult<NoContent> {
        service::remove_member(
            app_of(req),
            &auth.0,
            &study_id,
            &membership_id,
            reason.as_deref(),
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// A page of the audit entries about this study, newest first
    /// (reviewers and administrators).
    #[oai(path = "/:study_id/audit", method = "get")]
    async fn audit(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        /// Where the page starts (an entry's number): the `next` link gives it.
        #[oai(validator(minimum(value = "0")))]
        after: Query<Option<i64>>,
        /// At most this many, 1 to 200 (default 50).
        limit: Query<Option<Limit>>,
    ) -> ApiResult<Json<Paged<Entry>>> {
        let page = PageRequest::new(after.0, limit.0);
        let found = service::study_audit(app_of(req), &auth.0, &study_id, &page).await?;
        Ok(Json(Paged::of(req, found, |e| e)))
    }
}
