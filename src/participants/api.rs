//! JSON API for enrolling participants, listing them a page at a time, and,
//! with a reason, reading who they are.

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::model::{Participant, ParticipantFilter, ParticipantStatus, StakeholderGroup};
use super::service::{self, Enrolment};
use crate::db::list::{Limit, PageRequest};
use crate::http::api::{ApiResult, BearerAuth, Paged, Tag, Text};
use crate::http::viewer::app_of;
use crate::ids::{AccountId, ParticipantId, SiteId, StudyId};
use crate::vault::model::IdentityInput;

pub struct ParticipantsApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct EnrolmentRequest {
    site_id: SiteId,
    stakeholder_group: StakeholderGroup,
    /// Kept only in the encrypted identity vault.
    #[oai(validator(max_length = 200))]
    name: Text,
    #[oai(nullable, validator(max_length = 254))]
    email: Option<Text>,
    #[oai(nullable, validator(max_length = 40))]
    phone: Option<Text>,
    /// YYYY-MM-DD.
    #[oai(
        nullable,
        validator(pattern = r"^\s*([0-9]{4}-[0-9]{2}-[0-9]{2})?\s*$")
    )]
    date_of_birth: Option<Text>,
    #[oai(nullable, validator(max_length = 2000))]
    notes: Option<Text>,
    /// The participant's own fieldkit account, if they have one.
    #[oai(nullable)]
    account_id: Option<AccountId>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct RevealRequest {
    /// Why you need to see who this is; recorded in the audit trail.
    #[oai(validator(max_length = 500))]
    reason: Text,
}

/// Who a participant is. Every answer like this is recorded in the audit trail.
#[derive(Object)]
struct IdentityView {
    name: String,
    #[oai(nullable)]
    email: Option<String>,
    #[oai(nullable)]
    phone: Option<String>,
    #[oai(nullable)]
    date_of_birth: Option<String>,
    #[oai(nullable)]
    notes: Option<String>,
}

#[OpenApi(tag = "Tag::Participants")]
impl ParticipantsApi {
    /// A page of the participants at the sites you work on, by study code,
    /// oldest first, filtered by status, group or site.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/studies/:study_id/participants", method = "get")]
    async fn list(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        status: Query<Option<ParticipantStatus>>,
        stakeholder_group: Query<Option<StakeholderGroup>>,
        site_id: Query<Option<SiteId>>,
        /// Where the page starts: the `next` link gives it.
        after: Query<Option<ParticipantId>>,
        /// At most this many, 1 to 200 (default 50).
        limit: Query<Option<Limit>>,
    ) -> ApiResult<Json<Paged<Participant>>> {
        let page = PageRequest::new(after.0, limit.0);
        let filter = ParticipantFilter {
            status: *status,
            stakeholder_group: *stakeholder_group,
            site_id: site_id.0,
        };
        let found = service::list(app_of(req), &auth.0, &study_id, &filter, &page).await?;
        Ok(Json(Paged::of(req, found, |p| p)))
    }

    /// Enrol a participant: they get the next study code; their identity goes to the vault.
    #[oai(path = "/studies/:study_id/participants", method = "post")]
    async fn enrol(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        body: Json<EnrolmentRequest>,
    ) -> ApiResult<Json<Participant>> {
        let body = body.0;
        let enrolment = Enrolment {
            site_id: &body.site_id,
            group: body.stakeholder_group,
            identity: IdentityInput {
                name: &body.name,
                email: body.email.as_deref(),
                phone: body.phone.as_deref(),
                date_of_birth: body.date_of_birth.as_deref(),
                notes: body.notes.as_deref(),
            },
            account_id: body.account_id.clone(),
        };
        Ok(Json(
            service::enrol(app_of(req), &auth.0, &study_id, enrolment).await?,
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
        study_id: Path<StudyId>,
        participant_id: Path<ParticipantId>,
    ) -> ApiResult<Json<Participant>> {
        Ok(Json(
            service::get(app_of(req), &auth.0, &study_id, &participant_id).await?,
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
        study_id: Path<StudyId>,
        participant_id: Path<ParticipantId>,
        body: Json<RevealRequest>,
    ) -> ApiResult<Json<IdentityView>> {
        let identity = service::reveal_identity(
            app_of(req),
            &auth.0,
            &study_id,
            &participant_id,
            &body.reason,
        )
        .await?;
        Ok(Json(IdentityView {
            name: identity.name().to_owned(),
            email: identity.email().map(str::to_owned),
            phone: identity.phone().map(str::to_owned),
            date_of_birth: identity.date_of_birth().map(str::to_owned),
            notes: identity.notes().map(str::to_owned),
        }))
    }
}
