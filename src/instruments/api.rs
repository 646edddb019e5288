//! JSON API for instruments: the definitions a study may use, responses
//! (begun, saved as drafts, submitted and scored), rescoring, outcomes
//! between time points, and the fidelity view with agreement between raters.

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::definition::{RaterRole, Subject, TimePoint};
use super::fidelity::Fidelity;
use super::import::ImportOptions;
use super::model::{InstrumentSummary, Response, Status};
use std::collections::BTreeMap;

use super::scoring::{Answer, Answers};
use super::service::{self, RescoreReport, ScoreOutcome, Start};
use super::store::ResponseFilter;
use crate::db::list::{Limit, PageRequest};
use crate::error::{AppError, FieldProblem};
use crate::http::api::{ApiResult, BearerAuth, Paged, Tag, Text};
use crate::http::viewer::app_of;
use crate::ids::{InstrumentVersionId, ResponseId, StudyId};

pub struct InstrumentsApi;

/// An instrument version with its whole definition.
#[derive(Object)]
struct InstrumentView {
    #[oai(flatten)]
    summary: InstrumentSummary,
    /// The definition, as in its TOML file: sections, items, scales,
    /// score rules, conversion tables, time points.
    definition: serde_json::Value,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct StartRequest {
    instrument_version_id: InstrumentVersionId,
    /// The participant's, team's or site's id, as the instrument's subject says.
    #[oai(validator(max_length = 64))]
    subject_id: Text,
    rater_role: RaterRole,
    /// When a researcher enters a paper form: the rater's code (e.g. SU-07), never a name.
    #[oai(nullable, validator(max_length = 20))]
    rater_code: Option<Text>,
    #[oai(validator(max_length = 63))]
    time_point: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct AnswersRequest {
    /// Item key to answer: a number (an option's value, 1/0 for yes/no, or a
    /// number), a list of option values (multiple choice) or text.
    answers: BTreeMap<String, serde_json::Value>,
}

/// The answers as the engine reads them; an answer of another shape is a
/// problem for its item.
fn parse_answers(raw: BTreeMap<String, serde_json::Value>) -> Result<Answers, AppError> {
    let mut answers = Answers::new();
    let mut problems = Vec::new();
    for (key, value) in raw {
        match serde_json::from_value::<Answer>(value) {
            Ok(a) => {
                answers.insert(key, a);
            }
            Err(_) => problems.push(FieldProblem {
                field: format!("answers.{key}"),
                detail: "Give a number, a list of option values, or text.".into(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(answers)
    } else {
        Err(AppError::Invalid(problems))
    }
}

async fn save(
    req: &Request,
    auth: &BearerAuth,
    study: &StudyId,
    response: &ResponseId,
    body: AnswersRequest,
    submit: bool,
) -> ApiResult<Json<Response>> {
    let answers = parse_answers(body.answers)?;
    Ok(Json(
        service::save(app_of(req), &auth.0, study, response, answers, submit).await?,
    ))
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct RescoreRequest {
    /// Replace the scores that differ (audited); without it, only report them.
    #[oai(default)]
    apply: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct TimePointInput {
    #[oai(validator(max_length = 63))]
    key: Text,
    #[oai(validator(max_length = 200))]
    label: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct ImportRequest {
    /// The file's name: `.xlsx` for an XLSForm; `.csv` for a REDCap data
    /// dictionary or an XLSForm in pyxform's CSV layout.
    #[oai(validator(max_length = 200))]
    file_name: Text,
    /// The file's bytes, base64.
    #[oai(validator(max_length = 1048576))]
    content_base64: Text,
    /// The instrument id; else the form's own id or name.
    #[oai(validator(max_length = 63))]
    id: Option<Text>,
    /// Else the form's version, else 1.
    #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
    version: Option<u32>,
    #[oai(validator(max_length = 300))]
    title: Option<Text>,
    /// The licence and attribution notice, shown wherever the instrument is.
    #[oai(validator(max_length = 2000))]
    licence: Text,
    subject: Subject,
    #[oai(validator(max_items = 6))]
    rater_roles: Vec<RaterRole>,
    #[oai(validator(max_items = 50))]
    time_points: Vec<TimePointInput>,
}

/// An imported instrument, and what the import ignored or read differently.
#[derive(Object)]
struct ImportResponse {
    instrument: InstrumentSummary,
    /// E.g. "survey sheet, row 9: relevant ignored; every item is shown":
    /// read these before the instrument is used.
    notes: Vec<String>,
}

#[OpenApi(tag = "Tag::Instruments")]
impl InstrumentsApi {
    /// The instruments this study may use, each with its licence notice.
    #[oai(path = "/studies/:study_id/instruments", method = "get")]
    async fn list(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
    ) -> ApiResult<Json<Vec<InstrumentSummary>>> {
        let found = service::instruments(app_of(req), &auth.0, &study_id).await?;
        Ok(Json(found.iter().map(InstrumentSummary::from).collect()))
    }

    /// Import an XLSForm or a REDCap data dictionary as an instrument of
    /// this study, checked exactly as a definition file is. A problem names
    /// its sheet, row and column; calculations are mapped onto the engine's
    /// scoring rules or refused, never run.
    #[oai(path = "/studies/:study_id/instruments", method = "post")]
    async fn import(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        body: Json<ImportRequest>,
    ) -> ApiResult<Json<ImportResponse>> {
        let body = body.0;
        let bytes = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(body.content_base64.as_bytes())
                .map_err(|_| AppError::invalid("content_base64", "The file is not valid base64."))?
        };
        let options = ImportOptions {
            id: body.id.map(|t| t.to_string()),
            version: body.version,
            title: body.title.map(|t| t.to_string()),
            licence: body.licence.to_string(),
            subject: body.subject,
            rater_roles: body.rater_roles,
            time_points: body
                .time_points
                .into_iter()
                .map(|t| TimePoint {
                    key: t.key.to_string(),
                    label: t.label.to_string(),
                })
                .collect(),
        };
        let imported = service::import(
            app_of(req),
            &auth.0,
            &study_id,
            &body.file_name,
            &bytes,
            &options,
        )
        .await?;
        Ok(Json(ImportResponse {
            instrument: InstrumentSummary::from(&imported.version),
            notes: imported.notes,
        }))
    }

    /// One instrument version and its definition.
    #[oai(path = "/studies/:study_id/instruments/:version_id", method = "get")]
    async fn get(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        version_id: Path<InstrumentVersionId>,
    ) -> ApiResult<Json<InstrumentView>> {
        let v = service::instrument(app_of(req), &auth.0, &study_id, &version_id).await?;
        let definition = serde_json::to_value(&v.definition).map_err(anyhow::Error::from)?;
        Ok(Json(InstrumentView {
            summary: InstrumentSummary::from(&v),
            definition,
        }))
    }

    /// Recompute every submitted response's scores and report each
    /// difference from the stored ones; with `apply`, replace them.
    #[oai(
        path = "/studies/:study_id/instruments/:version_id/rescore",
        method = "post"
    )]
    async fn rescore(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        version_id: Path<InstrumentVersionId>,
        body: Json<RescoreRequest>,
    ) -> ApiResult<Json<RescoreReport>> {
        Ok(Json(
            service::rescore(app_of(req), &auth.0, &study_id, &version_id, body.apply).await?,
        ))
    }

    /// Change in a score between two time points, per participant, and
    /// whether it reaches the score's minimal important change.
    #[oai(
        path = "/studies/:study_id/instruments/:version_id/outcomes",
        method = "get"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn outcomes(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        version_id: Path<InstrumentVersionId>,
        /// The score's key; the first score when absent.
        score: Query<Option<String>>,
        from: Query<String>,
        to: Query<String>,
    ) -> ApiResult<Json<Vec<ScoreOutcome>>> {
        let found = service::outcomes(
            app_of(req),
            &auth.0,
            &study_id,
            &version_id,
            score.as_deref(),
            &from,
            &to,
        )
        .await?;
        Ok(Json(found))
    }

    /// Fidelity by team and time point, by rater type, combined and banded,
    /// with agreement between rater types; for instruments about teams.
    #[oai(
        path = "/studies/:study_id/instruments/:version_id/fidelity",
        method = "get"
    )]
    async fn fidelity(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        version_id: Path<InstrumentVersionId>,
        /// The score's key; the first score with bands when absent.
        score: Query<Option<String>>,
    ) -> ApiResult<Json<Fidelity>> {
        Ok(Json(
            service::fidelity(
                app_of(req),
                &auth.0,
                &study_id,
                &version_id,
                score.as_deref(),
            )
            .await?,
        ))
    }

    /// Responses: all at your sites if you read results, otherwise those you entered.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/studies/:study_id/responses", method = "get")]
    async fn responses(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        instrument_version_id: Query<Option<InstrumentVersionId>>,
        status: Query<Option<Status>>,
        time_point: Query<Option<String>>,
        /// Where the page starts: the `next` link gives it.
        after: Query<Option<ResponseId>>,
        /// At most this many, 1 to 200 (default 50).
        limit: Query<Option<Limit>>,
    ) -> ApiResult<Json<Paged<Response>>> {
        let page = PageRequest::new(after.0, limit.0);
        let filter = ResponseFilter {
            version: instrument_version_id.as_ref(),
            status: *status,
            time_point: time_point.as_deref(),
            entered_by: None,
        };
        let found = service::responses(app_of(req), &auth.0, &study_id, filter, &page).await?;
        Ok(Json(Paged::of(req, found, |r| r)))
    }

    /// Begin a response (a draft): instrument, subject, rater role, time point.
    #[oai(path = "/studies/:study_id/responses", method = "post")]
    async fn start(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        body: Json<StartRequest>,
    ) -> ApiResult<Json<Response>> {
        let start = Start {
            version: &body.instrument_version_id,
            subject_id: &body.subject_id,
            rater_role: body.rater_role,
            rater_code: body.rater_code.as_deref(),
            time_point: &body.time_point,
        };
        Ok(Json(
            service::start(app_of(req), &auth.0, &study_id, start).await?,
        ))
    }

    /// One response.
    #[oai(path = "/studies/:study_id/responses/:response_id", method = "get")]
    async fn response(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        response_id: Path<ResponseId>,
    ) -> ApiResult<Json<Response>> {
        Ok(Json(
            service::response(app_of(req), &auth.0, &study_id, &response_id).await?,
        ))
    }

    /// Save a draft's answers (all of them, replacing what was saved).
    #[oai(
        path = "/studies/:study_id/responses/:response_id/answers",
        method = "put"
    )]
    async fn save(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        response_id: Path<ResponseId>,
        body: Json<AnswersRequest>,
    ) -> ApiResult<Json<Response>> {
        save(req, &auth, &study_id, &response_id, body.0, false).await
    }

    /// Submit a response with its answers: checked, scored, then frozen.
    #[oai(
        path = "/studies/:study_id/responses/:response_id/submission",
        method = "post"
    )]
    async fn submit(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        response_id: Path<ResponseId>,
        body: Json<AnswersRequest>,
    ) -> ApiResult<Json<Response>> {
        save(req, &auth, &study_id, &response_id, body.0, true).await
    }
}
