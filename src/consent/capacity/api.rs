//! JSON API for capacity (C7): assessments, "capacity changed", consultees'
//! advice, objections, and a participant's capacity records.

use std::collections::BTreeMap;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::model::{Advice, ConsulteeKind, Outcome};
use super::service::{self, AdviceInput, Assessment};
use super::store::{AdviceSummary, AssessmentSummary, ObjectionSummary};
use crate::consent::records::api::{answers, AnswerInput};
use crate::http::api::{ApiResult, BearerAuth, Created, NoContent, Tag, Text};
use crate::http::viewer::app_of;
use crate::ids::{AssessmentId, ConsentRecordId, FormVersionId, ParticipantId, StudyId};

pub struct CapacityApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct AssessmentRequest {
    /// The decision assessed: `take_part`, or a data use key.
    #[oai(validator(max_length = 64))]
    decision: Text,
    /// The day of the assessment, YYYY-MM-DD, not in the future.
    #[oai(validator(pattern = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$"))]
    assessed_on: Text,
    outcome: Outcome,
    /// Notes on the assessment (kept encrypted).
    #[oai(nullable, default, validator(max_length = 5000))]
    notes: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct AdviceRequest {
    consultee_kind: ConsulteeKind,
    advice: Advice,
    /// The consultee's name (kept encrypted).
    #[oai(validator(max_length = 200))]
    consultee_name: Text,
    /// The form the consultee answered on the participant's behalf (advice to take part).
    #[oai(nullable)]
    form_version_id: Option<FormVersionId>,
    /// Clause key to answer (advice to take part).
    #[oai(nullable, default)]
    answers: BTreeMap<String, AnswerInput>,
}

#[derive(Object)]
struct AdviceRecorded {
    /// The consent record made from advice to take part; null for advice not to.
    #[oai(nullable)]
    consent_record_id: Option<ConsentRecordId>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct ObjectionRequest {
    /// What they said or did (kept encrypted).
    #[oai(validator(max_length = 5000))]
    description: Text,
}

/// A participant's capacity records, newest first. No sealed values.
#[derive(Object)]
struct CapacityView {
    capacity_flag: bool,
    assessments: Vec<AssessmentSummary>,
    consultee_advice: Vec<AdviceSummary>,
    objections: Vec<ObjectionSummary>,
}

#[OpenApi(tag = "Tag::Consent")]
impl CapacityApi {
    /// Record an assessment of capacity to make one decision; it clears the "capacity changed" flag.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/capacity-assessments",
        method = "post"
    )]
    async fn assess(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        participant_id: Path<ParticipantId>,
        body: Json<AssessmentRequest>,
    ) -> ApiResult<Json<Created<AssessmentId>>> {
        let a = Assessment {
            decision: &body.decision,
            assessed_on: &body.assessed_on,
            outcome: body.outcome,
            notes: &body.notes,
        };
        let id = service::assess(app_of(req), &auth.0, &study_id, &participant_id, a).await?;
        Ok(Json(Created { id }))
    }

    /// Their capacity may have changed: flag them for assessment and the consultee process.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/capacity-changed",
        method = "post"
    )]
    async fn changed(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        participant_id: Path<ParticipantId>,
    ) -> ApiResult<NoContent> {
        service::capacity_changed(app_of(req), &auth.0, &study_id, &participant_id).await?;
        Ok(NoContent::Done)
    }

    /// Record a consultee's advice (Mental Capacity Act s.32), in a study approved under the Act,
    /// for someone assessed as lacking capacity. Advice to take part, with the consultee's
    /// answers, is recorded as consent.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/consultee-advice",
        method = "post"
    )]
    async fn advise(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        participant_id: Path<ParticipantId>,
        body: Json<AdviceRequest>,
    ) -> ApiResult<Json<AdviceRecorded>> {
        let input = AdviceInput {
            kind: body.consultee_kind,
            advice: body.advice,
            consultee_name: &body.consultee_name,
            form_version_id: body.form_version_id.as_ref(),
            answers: answers(&body.answers),
        };
        let consent_record_id =
            service::advise(app_of(req), &auth.0, &study_id, &participant_id, input).await?;
        Ok(Json(AdviceRecorded { consent_record_id }))
    }

    /// Record a sign of objection (Mental Capacity Act s.33): they are withdrawn from further
    /// data collection at once.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/objections",
        method = "post"
    )]
    async fn object(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        participant_id: Path<ParticipantId>,
        body: Json<ObjectionRequest>,
    ) -> ApiResult<NoContent> {
        service::object(
            app_of(req),
            &auth.0,
            &study_id,
            &participant_id,
            &body.description,
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// The participant's capacity assessments, consultees' advice and objections.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/capacity",
        method = "get"
    )]
    async fn capacity(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        participant_id: Path<ParticipantId>,
    ) -> ApiResult<Json<CapacityView>> {
        let o = service::summary_of(app_of(req), &auth.0, &study_id, &participant_id).await?;
        Ok(Json(CapacityView {
            capacity_flag: o.capacity_flag,
            assessments: o.assessments,
            consultee_advice: o.advice,
            objections: o.objections,
        }))
    }
}
