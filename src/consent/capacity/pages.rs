//! The "Capacity" section of the participant page: its records and the forms
//! to record an assessment, a change of capacity, a consultee's advice and an
//! objection.

use std::collections::BTreeMap;

use poem::web::Path;
use poem::{handler, Request, Response};
use serde_json::json;

use super::model::{Advice, ConsulteeKind, Outcome};
use super::service::{self, AdviceInput, Assessment};
use crate::app::App;
use crate::auth::model::Actor;
use crate::consent::records::model::Submitted;
use crate::error::AppError;
use crate::http::page::{see_other, Notice};
use crate::http::viewer::{app_of, CsrfForm};
use crate::ids::StudyId;
use crate::participants::model::Participant;
use crate::participants::pages::{participant_page, Extra};

type PageResult = poem::Result<Response>;

/// What the participant page shows about capacity: the records, whether the
/// study is approved under the Act, and the current forms a consultee answers.
pub async fn summary(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    p: &Participant,
) -> Result<serde_json::Value, AppError> {
    let o = service::overview(app, actor, study, &p.id).await?;
    let mca_approved = crate::studies::store::get_study(&app.db.pool, study)
        .await?
        .mca_approved;
    let lacks = super::store::lacks_capacity(&app.db.pool, &p.id).await?;
    let mut forms = Vec::new();
    if mca_approved && lacks {
        let mut ids: Vec<String> = crate::consent::forms::service::list_for_study(app, study)
            .await?
            .into_iter()
            .map(|f| f.form.form_id)
            .collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            if let Some(f) =
                crate::consent::forms::service::current_version(app, study, &id).await?
            {
                let clauses: Vec<_> = f
                    .form
                    .clauses
                    .iter()
                    .map(|c| json!({ "key": c.key, "text": c.text, "mandatory": c.mandatory }))
                    .collect();
                forms.push(json!({ "id": f.id, "title": f.form.title, "version": f.form.version, "clauses": clauses }));
            }
        }
    }
    Ok(json!({
        "assessments": o.assessments,
        "advice": o.advice,
        "objections": o.objections,
        "mca_approved": mca_approved,
        "lacks_capacity": lacks,
        "outcomes": Outcome::ALL.iter().map(|o| json!({ "value": o.as_str(), "label": o.label() })).collect::<Vec<_>>(),
        "kinds": ConsulteeKind::ALL.iter().map(|k| json!({ "value": k.as_str(), "label": k.label() })).collect::<Vec<_>>(),
        "forms": forms,
    }))
}

fn study_id(raw: &str) -> Result<StudyId, AppError> {
    StudyId::parse(raw).ok_or(AppError::NotFound)
}

/// Back to the participant page: on success, as a fresh page; on a problem,
/// with the problem shown.
async fn answer(
    req: &Request,
    form: &CsrfForm,
    study: &StudyId,
    pid: &str,
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
            participant_page(req, &form.viewer, study, pid, extra).await
        }
    }
}

#[handler]
pub async fn assess(
    req: &Request,
    form: CsrfForm,
    Path((sid, pid)): Path<(String, String)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    let study = study_id(&sid)?;
    service::participant(app_of(req), actor, &study, &pid).await?;
    let result = match Outcome::parse(form.get("outcome")) {
        Some(outcome) => {
            let a = Assessment {
                decision: form.get("decision"),
                assessed_on: form.get("assessed_on"),
                outcome,
                notes: form.get("notes"),
            };
            service::assess(app_of(req), actor, &study, &pid, a)
                .await
                .map(drop)
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
    Path((sid, pid)): Path<(String, String)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    let study = study_id(&sid)?;
    let result = service::capacity_changed(app_of(req), actor, &study, &pid).await;
    answer(req, &form, &study, &pid, result).await
}

#[handler]
pub async fn advise(
    req: &Request,
    form: CsrfForm,
    Path((sid, pid)): Path<(String, String)>,
) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    let study = study_id(&sid)?;
    service::participant(app, actor, &study, &pid).await?;
    let version_id = form.get("form_version_id");
    let mut answers = BTreeMap::new();
    if let Ok(version) = crate::consent::forms::service::get_version(app, version_id).await {
        for clause in &version.form.clauses {
            let raw = form.get(&format!("answer.{}", clause.key));
            answers.insert(
                clause.key.clone(),
                Submitted::parse(raw).unwrap_or(Submitted::Blank),
            );
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
                form_version_id: Some(version_id),
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
    Path((sid, pid)): Path<(String, String)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    let study = study_id(&sid)?;
    let result = service::object(app_of(req), actor, &study, &pid, form.get("description")).await;
    answer(req, &form, &study, &pid, result).await
}
