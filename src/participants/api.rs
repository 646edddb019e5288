//! JSON API for enrolling participants and, with a reason, reading who they are.

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::model::{Participant, StakeholderGroup};
use super::service::{self, Enrolment};
use crate::auth::model::Permission;
use crate::error::AppError;
use crate::http::api::{fail, ApiResult, BearerAuth, Tag};
use crate::http::viewer::app_of;
use crate::ids::{AccountId, SiteId, StudyId};
use crate::vault::model::IdentityInput;

pub struct ParticipantsApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct EnrolmentRequest {
    site_id: String,
    stakeholder_group: StakeholderGroup,
    /// Kept only in the encrypted identity vault.
    name: String,
    email: Option<String>,
    phone: Option<String>,
    /// YYYY-MM-DD.
    date_of_birth: Option<String>,
    notes: Option<String>,
    /// The participant's own fieldkit account, if they have one.
    account_id: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct RevealRequest {
    /// Why you need to see who this is; recorded in the audit trail.
    reason: String,
}

/// Who a participant is. Every answer like this is recorded in the audit trail.
#[derive(Object)]
struct IdentityView {
    name: String,
    email: Option<String>,
    phone: Option<String>,
    date_of_birth: Option<String>,
    notes: Option<String>,
}

fn study_id(raw: &str) -> poem::Result<StudyId> {
    StudyId::parse(raw).ok_or_else(|| fail(AppError::NotFound))
}

#[OpenApi(tag = "Tag::Participants")]
impl ParticipantsApi {
    /// Participants at the sites you work on, by study code.
    #[oai(path = "/studies/:study_id/participants", method = "get")]
    async fn list(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
    ) -> ApiResult<Json<Vec<Participant>>> {
        let study = self::study_id(&study_id)?;
        Ok(Json(
            service::list(app_of(req), &auth.0, &study)
                .await
                .map_err(fail)?,
        ))
    }

    /// Enrol a participant: they get the next study code; their identity goes to the vault.
    #[oai(path = "/studies/:study_id/participants", method = "post")]
    async fn enrol(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        body: Json<EnrolmentRequest>,
    ) -> ApiResult<Json<Participant>> {
        let study = self::study_id(&study_id)?;
        crate::studies::service::require(&auth.0, Permission::EnrolParticipants, &study)
            .map_err(fail)?;
        let site = SiteId::parse(&body.site_id)
            .ok_or_else(|| fail(AppError::invalid("site_id", "Choose a site of this study.")))?;
        let account_id = match body.account_id.as_deref() {
            Some(raw) => Some(AccountId::parse(raw).ok_or_else(|| {
                fail(AppError::invalid(
                    "account_id",
                    "Choose an existing account, or none.",
                ))
            })?),
            None => None,
        };
        let enrolment = Enrolment {
            site_id: &site,
            group: body.stakeholder_group,
            identity: IdentityInput {
                name: &body.name,
                email: body.email.as_deref(),
                phone: body.phone.as_deref(),
                date_of_birth: body.date_of_birth.as_deref(),
                notes: body.notes.as_deref(),
            },
            account_id,
        };
        Ok(Json(
            service::enrol(app_of(req), &auth.0, &study, enrolment)
                .await
                .map_err(fail)?,
        ))
    }

    /// One participant.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id",
        method = "get"
    )]
    async fn get(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        participant_id: Path<String>,
    ) -> ApiResult<Json<Participant>> {
        let study = self::study_id(&study_id)?;
        Ok(Json(
            service::get(app_of(req), &auth.0, &study, &participant_id)
                .await
                .map_err(fail)?,
        ))
    }

    /// Read who a participant is. Needs a reason; every read is audited.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/identity",
        method = "post"
    )]
    async fn reveal(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        participant_id: Path<String>,
        body: Json<RevealRequest>,
    ) -> ApiResult<Json<IdentityView>> {
        let study = self::study_id(&study_id)?;
        let identity =
            service::reveal_identity(app_of(req), &auth.0, &study, &participant_id, &body.reason)
                .await
                .map_err(fail)?;
        Ok(Json(IdentityView {
            name: identity.name().to_owned(),
            email: identity.email().map(str::to_owned),
            phone: identity.phone().map(str::to_owned),
            date_of_birth: identity.date_of_birth().map(str::to_owned),
            notes: identity.notes().map(str::to_owned),
        }))
    }
}
