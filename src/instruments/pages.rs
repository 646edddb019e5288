//! Pages for instruments: the list of instruments with a form to begin a
//! response, the response form rendered from its definition (usable without
//! JavaScript; labels, fieldsets and errors tied to their items), and the
//! fidelity view with its pictures and the tables behind them.

use poem::web::Path;
use poem::{handler, Request, Response};
use serde_json::{json, Value};

use super::definition::{Definition, ItemKind, RaterRole, Subject};
use super::fidelity::Fidelity;
use super::model::{InstrumentSummary, Status};
use super::scoring::{Answer, Answers};
use super::service::{self, Start};
use super::store::ResponseFilter;
use crate::auth::model::{Actor, Permission};
use crate::auth::policy::{permits, Scope};
use crate::charts::{format_value, BarChart, LineChart};
use crate::db::list::PageRequest;
use crate::error::{AppError, FieldProblem};
use crate::http::page::{see_other, Page};
use crate::http::viewer::{app_of, CsrfForm, Viewer};
use crate::ids::{InstrumentVersionId, ResponseId, StudyId};

type PageResult = poem::Result<Response>;

/// The subjects a response may be about, as options: teams and sites by
/// name, participants by study code.
async fn subject_options(req: &Request, actor: &Actor, study: &StudyId) -> Result<Value, AppError> {
    let app = app_of(req);
    let sites = crate::studies::service::sites(app, actor, study).await?;
    let teams: Vec<Value> = sites
        .iter()
        .flat_map(|s| {
            s.teams
                .iter()
                .map(move |t| json!({ "value": t.id, "label": format!("{} ({})", t.name, s.name) }))
        })
        .collect();
    let site_options: Vec<Value> = sites
        .iter()
        .map(|s| json!({ "value": s.id, "label": s.name }))
        .collect();
    let participants: Vec<Value> =
        if permits(actor, Permission::EnrolParticipants, Scope::Study(study)) {
            let filter = crate::participants::model::ParticipantFilter::default();
            let page = PageRequest::new(None, None);
            crate::participants::service::list(app, actor, study, &filter, &page)
                .await?
                .items
                .iter()
                .map(|p| json!({ "value": p.id, "label": p.study_code }))
                .collect()
        } else {
            Vec::new()
        };
    Ok(json!({ "team": teams, "site": site_options, "participant": participants }))
}

async fn list_page(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    values: Value,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = crate::studies::service::get_study(app, actor, study).await?;
    let versions = service::instruments(app, actor, study).await?;
    let may_rate = permits(actor, Permission::RateInstruments, Scope::Study(study));
    let results = permits(
        actor,
        Permission::ViewInstrumentResults,
        Scope::Study(study),
    );
    let researcher = permits(actor, Permission::EnrolParticipants, Scope::Study(study));
    let subjects = subject_options(req, actor, study).await?;
    let instruments: Vec<Value> = versions
        .iter()
        .map(|v| {
            let d = &v.definition;
            let roles: Vec<Value> = d
                .rater_roles
                .iter()
                .filter(|r| researcher || **r != RaterRole::Researcher)
                .map(|r| json!({ "value": r.as_str(), "label": r.label() }))
                .collect();
            let points: Vec<Value> = d
                .time_points
                .iter()
                .map(|t| json!({ "value": t.key, "label": t.label }))
                .collect();
            json!({
                "summary": InstrumentSummary::from(v),
                "subject_label": subject_label(d.subject),
                "subjects": subjects[d.subject.as_str()],
                "roles": roles,
                "time_points": points,
                "fidelity": results && d.subject == Subject::Team,
            })
        })
        .collect();
    let filter = ResponseFilter {
        entered_by: Some(&actor.account_id),
        ..Default::default()
    };
    let mine = service::responses(app, actor, study, filter, &PageRequest::new(None, None))
        .await?
        .items;
    let ctx = json!({
        "study": { "id": details.id, "title": details.title },
        "instruments": instruments,
        "may_rate": may_rate,
        "researcher": researcher,
        "mine": mine,
        "values": values,
    });
    let page = Page::new(
        "instruments.html",
        format!("Instruments: {}", details.title),
        ctx,
    )
    .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

fn subject_label(s: Subject) -> &'static str {
    match s {
        Subject::Participant => "Participant (study code)",
        Subject::Team => "Team",
        Subject::Site => "Site",
    }
}

#[handler]
pub async fn list(req: &Request, viewer: Viewer, Path(study): Path<StudyId>) -> PageResult {
    let blank = json!({ "instrument_version_id": "", "subject_id": "", "rater_role": "",
                        "rater_code": "", "time_point": "" });
    list_page(req, &viewer, &study, blank, None).await
}

#[handler]
pub async fn start(req: &Request, form: CsrfForm, Path(study): Path<StudyId>) -> PageResult {
    let actor = form.viewer.require()?;
    // Access first: someone who may not rate learns nothing from the form's checks.
    crate::auth::policy::require_study(actor, Permission::RateInstruments, &study)?;
    let version = InstrumentVersionId::parse(form.get("instrument_version_id"))
        .ok_or_else(|| AppError::invalid("instrument_version_id", "Choose an instrument."));
    let role = RaterRole::parse(form.get("rater_role"))
        .ok_or_else(|| AppError::invalid("rater_role", "Choose who is rating."));
    let result = match (version, role) {
        (Ok(version), Ok(rater_role)) => {
            let code = form.get("rater_code");
            let s = Start {
                version: &version,
                subject_id: form.get("subject_id"),
                rater_role,
                rater_code: Some(code).filter(|c| !c.trim().is_empty()),
                time_point: form.get("time_point"),
            };
            service::start(app_of(req), actor, &study, s).await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(r) => Ok(see_other(
            &format!("/studies/{study}/responses/{}", r.id),
            None,
        )),
        Err(e) => {
            let values = json!({
                "instrument_version_id": form.get("instrument_version_id"),
                "subject_id": form.get("subject_id"), "rater_role": form.get("rater_role"),
                "rater_code": form.get("rater_code"), "time_point": form.get("time_point"),
            });
            list_page(req, &form.viewer, &study, values, Some(e)).await
        }
    }
}

/// The form's items as the template draws them, with the values to show.
fn form_items(d: &Definition, answers: &Answers) -> Vec<Value> {
    d.sections
        .iter()
        .map(|s| {
            let items: Vec<Value> = s
                .items
                .iter()
                .map(|i| {
                    let kind = match i.kind {
                        ItemKind::Scale | ItemKind::SingleChoice => "radios",
                        ItemKind::YesNo => "yes_no",
                        ItemKind::Number => "number",
                        ItemKind::MultipleChoice => "checkboxes",
                        ItemKind::Text => "text",
                    };
                    let value = match answers.get(&i.key) {
                        Some(Answer::Number(v)) => json!(format_value(*v, 2)),
                        Some(Answer::Choices(c)) => {
                            json!(c.iter().map(|v| v.to_string()).collect::<Vec<_>>())
                        }
                        Some(Answer::Text(t)) => json!(t),
                        None => Value::Null,
                    };
                    let options: Vec<Value> = i
                        .options(&d.scales)
                        .iter()
                        .map(|o| json!({ "value": o.value.to_string(), "label": o.label }))
                        .collect();
                    json!({
                        "key": i.key, "text": i.text, "hint": i.hint, "kind": kind,
                        "required": i.required, "options": options, "value": value,
                        "min": i.min, "max": i.max,
                    })
                })
                .collect();
            json!({ "key": s.key, "title": s.title, "intro": s.intro, "items": items })
        })
        .collect()
}

/// Reads the answers from the posted form: blanks are left out (never 0);
/// what is not a number where a number is wanted is a problem for its item.
fn answers_from(d: &Definition, form: &CsrfForm) -> Result<Answers, AppError> {
    let mut answers = Answers::new();
    let mut problems = Vec::new();
    for item in d.items() {
        let name = format!("answers.{}", item.key);
        match item.kind {
            ItemKind::Text => {
                let text = form.get(&name).trim();
                if !text.is_empty() {
                    answers.insert(item.key.clone(), Answer::Text(text.to_owned()));
                }
            }
            ItemKind::MultipleChoice => {
                let chosen: Result<Vec<i64>, _> =
                    form.all(&name).iter().map(|v| v.parse::<i64>()).collect();
                match chosen {
                    Ok(c) if c.is_empty() => {}
                    Ok(c) => {
                        answers.insert(item.key.clone(), Answer::Choices(c));
                    }
                    Err(_) => problems.push(FieldProblem {
                        field: name,
                        detail: "Choose from the options given.".into(),
                    }),
                }
            }
            _ => {
                let raw = form.get(&name).trim();
                if raw.is_empty() {
                    continue;
                }
                match raw.parse::<f64>() {
                    Ok(v) if v.is_finite() => {
                        answers.insert(item.key.clone(), Answer::Number(v));
                    }
                    _ => problems.push(FieldProblem {
                        field: name,
                        detail: format!("\"{}\": enter a number.", item.text),
                    }),
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(answers)
    } else {
        Err(AppError::Invalid(problems))
    }
}

async fn response_page(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    id: &ResponseId,
    shown: Option<Answers>,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = crate::studies::service::get_study(app, actor, study).await?;
    let response = service::response(app, actor, study, id).await?;
    let version = service::instrument(app, actor, study, &response.instrument_version_id).await?;
    let d = &version.definition;
    let answers = shown.unwrap_or_else(|| response.answers.clone());
    let editable = response.status == Status::Draft && response.entered_by == actor.account_id;
    let time_point = d
        .time_point(&response.time_point)
        .map_or(response.time_point.clone(), |t| t.label.clone());
    let scores: Vec<Value> = response
        .scores
        .iter()
        .map(|s| {
            json!({ "label": s.label, "value": s.value.map(|v| format_value(v, 2)), "band": s.band,
                    "note": s.note, "prorated": s.prorated, "answered": s.answered, "items": s.items })
        })
        .collect();
    let ctx = json!({
        "study": { "id": details.id, "title": details.title },
        "response": response,
        "instrument": InstrumentSummary::from(&version),
        "time_point": time_point,
        "rater_role": response.rater_role.label(),
        "sections": form_items(d, &answers),
        "editable": editable,
        "scores": scores,
    });
    let page = Page::new("response.html", d.title.clone(), ctx).problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

#[handler]
pub async fn show(
    req: &Request,
    viewer: Viewer,
    Path((study, id)): Path<(StudyId, ResponseId)>,
) -> PageResult {
    response_page(req, &viewer, &study, &id, None, None).await
}

#[handler]
pub async fn save(
    req: &Request,
    form: CsrfForm,
    Path((study, id)): Path<(StudyId, ResponseId)>,
) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    let current = service::response(app, actor, &study, &id).await?;
    let version = service::instrument(app, actor, &study, &current.instrument_version_id).await?;
    let submit = form.get("action") == "submit";
    let answers = match answers_from(&version.definition, &form) {
        Ok(a) => a,
        Err(e) => return response_page(req, &form.viewer, &study, &id, None, Some(e)).await,
    };
    match service::save(app, actor, &study, &id, answers.clone(), submit).await {
        Ok(_) => Ok(see_other(&format!("/studies/{study}/responses/{id}"), None)),
        Err(e) => response_page(req, &form.viewer, &study, &id, Some(answers), Some(e)).await,
    }
}

/// The two pictures of the fidelity view and the tables behind them.
fn charts(f: &Fidelity, time_point_labels: &[(String, String)], d: &Definition) -> Value {
    let labels: Vec<String> = f
        .time_points
        .iter()
        .map(|k| {
            time_point_labels
                .iter()
                .find(|(key, _)| key == k)
                .map_or(k.clone(), |(_, l)| l.clone())
        })
        .collect();
    let (lo, hi) = d
        .scores
        .iter()
        .find(|r| r.key == f.score_key)
        .and_then(|r| super::scoring::rule_range(d, r))
        .unwrap_or((0.0, 1.0));
    let mut line = LineChart::new(
        "fidelity-by-team",
        &format!("{} by team and time point", f.score_label),
        "The combined score (the mean of the rater types' means) of each team at each time point.",
    )
    .categories(labels)
    .category_title("Time point")
    .value_title(f.score_label.clone())
    .value_domain(lo, hi);
    for team in &f.teams {
        let values: Vec<Option<f64>> = f
            .time_points
            .iter()
            .map(|tp| {
                team.points
                    .iter()
                    .find(|p| &p.time_point == tp)
                    .and_then(|p| p.combined)
            })
            .collect();
        let arm = team
            .arm
            .map_or(String::new(), |a| format!(", {}", a.as_str()));
        line = line.series(format!("{} ({}{arm})", team.team, team.site), values);
    }
    if let (Some(t), Some(label)) = (f.threshold, &f.threshold_label) {
        line = line.reference_line(t, label.clone());
    }
    let roles: Vec<RaterRole> = {
        let mut r: Vec<RaterRole> = f
            .profile
            .iter()
            .flat_map(|p| p.by_rater.iter().map(|s| s.rater_role))
            .collect();
        r.sort();
        r.dedup();
        r
    };
    let item_range = d
        .scales
        .first()
        .and_then(|s| {
            let values = s.anchors.iter().map(|a| a.value as f64);
            Some((values.clone().reduce(f64::min)?, values.reduce(f64::max)?))
        })
        .unwrap_or((lo, hi));
    let mut bars = BarChart::new(
        "fidelity-items",
        "Item profile by rater type",
        "The mean rating of each item by each type of rater, over every team, at the latest time point with ratings.",
    )
    .categories(f.profile.iter().map(|p| p.text.clone()))
    .category_title("Item")
    .value_title("Mean rating")
    .value_domain(item_range.0, item_range.1);
    for role in &roles {
        let values: Vec<Option<f64>> = f
            .profile
            .iter()
            .map(|p| {
                p.by_rater
                    .iter()
                    .find(|s| s.rater_role == *role)
                    .map(|s| s.mean)
            })
            .collect();
        bars = bars.series(role.label(), values);
    }
    json!({ "line": line.render(), "bars": bars.render() })
}

#[handler]
pub async fn fidelity(
    req: &Request,
    viewer: Viewer,
    Path((study, version)): Path<(StudyId, InstrumentVersionId)>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = crate::studies::service::get_study(app, actor, &study).await?;
    let v = service::instrument(app, actor, &study, &version).await?;
    let f = service::fidelity(app, actor, &study, &version, None).await?;
    let d = &v.definition;
    let labels: Vec<(String, String)> = d
        .time_points
        .iter()
        .map(|t| (t.key.clone(), t.label.clone()))
        .collect();
    let label_of = |k: &str| {
        labels
            .iter()
            .find(|(key, _)| key == k)
            .map_or(k.to_owned(), |(_, l)| l.clone())
    };
    let fmt = |v: Option<f64>| v.map_or("–".to_owned(), |v| format_value(v, 2));
    let rows: Vec<Value> = f
        .teams
        .iter()
        .flat_map(|t| {
            t.points.iter().map(|p| {
                let by: Vec<String> = p
                    .by_rater
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} (n={})",
                            r.rater_role.label(),
                            format_value(r.mean, 2),
                            r.responses
                        )
                    })
                    .collect();
                json!({
                    "site": t.site, "team": t.team, "arm": t.arm.map(|a| a.as_str()),
                    "time_point": label_of(&p.time_point), "by_rater": by.join("; "),
                    "combined": fmt(p.combined), "band": p.band, "agreement": fmt(p.agreement),
                })
            })
        })
        .collect();
    let pairs: Vec<Value> = f
        .pairs
        .iter()
        .map(|p| {
            json!({ "first": p.first.label(), "second": p.second.label(), "kappa": fmt(p.kappa),
                    "ratings": p.ratings, "note": p.note })
        })
        .collect();
    let ctx = json!({
        "study": { "id": details.id, "title": details.title },
        "instrument": InstrumentSummary::from(&v),
        "score_label": f.score_label,
        "threshold": f.threshold.map(|t| format_value(t, 2)),
        "threshold_label": f.threshold_label,
        "rows": rows,
        "pairs": pairs,
        "charts": charts(&f, &labels, d),
        "profile_time_point": f.profile_time_point.as_deref().map(label_of),
    });
    let page = Page::new("fidelity.html", format!("Fidelity: {}", d.title), ctx);
    Ok(page.render(app, &viewer)?)
}
