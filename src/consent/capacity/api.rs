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
use crate::consent::records::model::Submitted;
use crate::error::AppError;
use crate::http::api::{fail, ApiResult, BearerAuth, Created, NoContent, Tag};
use crate::http::viewer::app_of;
use crate::ids::StudyId;

pub struct CapacityApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct AssessmentRequest {
    /// The decision assessed: `take_part`, or a data use key.
    decision: String,
    /// The day of the assessment, YYYY-MM-DD.
    assessed_on: String,
    outcome: Outcome,
    /// Notes on the assessment (kept encrypted).
    #[oai(default)]
    notes: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct AdviceRequest {
    consultee_kind: ConsulteeKind,
    advice: Advice,
    /// The consultee's name (kept encrypted).
    consultee_name: String,
    /// The form the consultee answered on the participant's behalf (advice to take part).
    form_version_id: Option<String>,
    /// Clause key to "yes", "no" or "" (left blank; counts as no).
    #[oai(default)]
    answers: BTreeMap<String, String>,
}

#[derive(Object)]
struct AdviceRecorded {
    /// The consent record made from advice to take part.
    consent_record_id: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct ObjectionRequest {
    /// What they said or did (kept encrypted).
    description: String,
}

/// A participant's capacity records, newest first. No sealed values.
#[derive(Object)]
struct CapacityView {
    capacity_flag: bool,
    assessments: Vec<AssessmentSummary>,
    consultee_advice: Vec<AdviceSummary>,
    objections: Vec<ObjectionSummary>,
}

fn study_id(raw: &str) -> poem::Result<StudyId> {
    StudyId::parse(raw).ok_or_else(|| fail(AppError::NotFound))
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
        study_id: Path<String>,
        participant_id: Path<String>,
        body: Json<AssessmentRequest>,
    ) -> ApiResult<Json<Created>> {
        let study = self::study_id(&study_id)?;
        let a = Assessment {
            decision: &body.decision,
            assessed_on: &body.assessed_on,
            outcome: body.outcome,
            notes: &body.notes,
        };
        let id = service::assess(app_of(req), &auth.0, &study, &participant_id, a)
            .await
            .map_err(fail)?;
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
        study_id: Path<String>,
        participant_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let study = self::study_id(&study_id)?;
        service::capacity_changed(app_of(req), &auth.0, &study, &participant_id)
            .await
            .map_err(fail)?;
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
        study_id: Path<String>,
        participant_id: Path<String>,
        body: Json<AdviceRequest>,
    ) -> ApiResult<Json<AdviceRecorded>> {
        let study = self::study_id(&study_id)?;
        let app = app_of(req);
        // Access before validation: the answers are parsed only for those allowed.
        service::participant(app, &auth.0, &study, &participant_id)
            .await
            .map_err(fail)?;
        let answers = body
            .answers
            .iter()
            .map(|(k, v)| {
                Submitted::parse(v).map(|s| (k.clone(), s)).ok_or_else(|| {
                    fail(AppError::invalid(
                        &format!("answers.{k}"),
                        "Answer \"yes\", \"no\", or leave it empty.",
                    ))
                })
            })
            .collect::<poem::Result<_>>()?;
        let input = AdviceInput {
            kind: body.consultee_kind,
            advice: body.advice,
            consultee_name: &body.consultee_name,
            form_version_id: body.form_version_id.as_deref(),
            answers,
        };
        let consent_record_id = service::advise(app, &auth.0, &study, &participant_id, input)
            .await
            .map_err(fail)?;
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
        study_id: Path<String>,
        participant_id: Path<String>,
        body: Json<ObjectionRequest>,
    ) -> ApiResult<NoContent> {
        let study = self::study_id(&study_id)?;
        service::object(
            app_of(req),
            &auth.0,
            &study,
            &participant_id,
            &body.description,
        )
        .await
        .map_err(fail)?;
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
        study_id: Path<String>,
        participant_id: Path<String>,
    ) -> ApiResult<Json<CapacityView>> {
        let study = self::study_id(&study_id)?;
        let o = service::overview(app_of(req), &auth.0, &study, &participant_id)
            .await
            .map_err(fail)?;
        Ok(Json(CapacityView {
            capacity_flag: o.capacity_flag,
            assessments: o.assessments,
            consultee_advice: o.advice,
            objections: o.objections,
        }))
    }
}
