//! The forms of the "Capacity" section of the participant page: an
//! assessment, a change of capacity, a consultee's advice and an objection.
//! Each answers with the participant page, composed in `crate::pages`.

use std::collections::BTreeMap;

use poem::web::Path;
use poem::{handler, Request, Response};

use super::model::{Advice, ConsulteeKind, Outcome};
use super::service::{self, AdviceInput, Assessment};
use crate::consent::kernel::model::Submitted;
use crate::consent::records::service::participant_for_consent;
use crate::error::AppError;
use crate::http::page::{see_other, Notice};
use crate::http::viewer::{app_of, date_in_boxes, CsrfForm};
use crate::ids::{FormVersionId, ParticipantId, StudyId};
use crate::pages::participant::{render, Extra};

type PageResult = poem::Result<Response>;

/// Back to the participant page: on success, as a fresh page; on a problem,
/// with the problem shown.
async fn answer(
    req: &Request,
    form: &CsrfForm,
    study: &StudyId,
    pid: &ParticipantId,
    result: Result<(), AppError>,
) -> PageResult {
    match result {
        Ok(()) => Ok(see_other(
            &format!("/studies/{study}/participants/{pid}"),
            Some(Notice::CapacityRecorded),
        )),
        Err(e) => {
            let extra = Extra {
                err: Some(e),
                ..Default::default()
            };
            render(req, &form.viewer, study, pid, extra).await
        }
    }
}

#[handler]
pub async fn assess(
    req: &Request,
    form: CsrfForm,
    Path((study, pid)): Path<(StudyId, ParticipantId)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    participant_for_consent(app_of(req), actor, &study, &pid).await?;
    let assessed_on = form.date("assessed_on");
    let result = match Outcome::parse(form.get("outcome")) {
        Some(outcome) => {
            let a = Assessment {
                decision: form.get("decision"),
                assessed_on: &assessed_on,
                outcome,
                notes: form.get("notes"),
            };
            service::assess(app_of(req), actor, &study, &pid, a)
                .await
                .map(drop)
                .map_err(|e| {
                    date_in_boxes(
                        e,
                        "assessed_on",
                        "date of the assessment, not in the future",
                    )
                })
        }
        None => Err(AppError::invalid(
            "outcome",
            "Choose what the assessment found.",
        )),
    };
    answer(req, &form, &study, &pid, result).await
}

#[handler]
pub async fn changed(
    req: &Request,
    form: CsrfForm,
    Path((study, pid)): Path<(StudyId, ParticipantId)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    let result = service::capacity_changed(app_of(req), actor, &study, &pid).await;
    answer(req, &form, &study, &pid, result).await
}

#[handler]
pub async fn advise(
    req: &Request,
    form: CsrfForm,
    Path((study, pid)): Path<(StudyId, ParticipantId)>,
) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    participant_for_consent(app, actor, &study, &pid).await?;
    let version_id = FormVersionId::parse(form.get("form_version_id"));
    let mut answers = BTreeMap::new();
    if let Some(version) = &version_id {
        if let Ok(v) = crate::consent::forms::service::version_of(&app.db, &study, version).await {
            for clause in &v.form.clauses {
                let raw = form.get(&format!("answer.{}", clause.key));
                answers.insert(
                    clause.key.clone(),
                    Submitted::parse(raw).unwrap_or(Submitted::Blank),
                );
            }
        }
    }
    let result = match (
        ConsulteeKind::parse(form.get("consultee_kind")),
        Advice::parse(form.get("advice")),
    ) {
        (Some(kind), Some(advice)) => {
            let input = AdviceInput {
                kind,
                advice,
                consultee_name: form.get("consultee_name"),
                form_version_id: version_id.as_ref(),
                answers,
            };
            service::advise(app, actor, &study, &pid, input)
                .await
                .map(drop)
        }
        (None, _) => Err(AppError::invalid(
            "consultee_kind",
            "Choose what kind of consultee they are.",
        )),
        (_, None) => Err(AppError::invalid(
            "advice",
            "Choose what the consultee advised.",
        )),
    };
    answer(req, &form, &study, &pid, result).await
}

#[handler]
pub async fn objection(
    req: &Request,
    form: CsrfForm,
    Path((study, pid)): Path<(StudyId, ParticipantId)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    let result = service::object(app_of(req), actor, &study, &pid, form.get("description")).await;
    answer(req, &form, &study, &pid, result).await
}
