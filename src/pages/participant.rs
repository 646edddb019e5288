//! The participant page: who they are in the study (participants), their
//! consent (consent records) and their capacity records (capacity), each
//! from its own service, with the forms that act on them. Every handler that
//! answers with the participant page (after a reveal, an invitation, or a
//! refused form) renders it through `render`.

use poem::{Request, Response};
use serde_json::json;

use crate::consent::capacity::model::{ConsulteeKind, Outcome};
use crate::consent::capacity::service::CapacitySummary;
use crate::consent::forms::model::ConsentFormVersion;
use crate::consent::kernel::model::ConsentMethod;
use crate::consent::records::service::{ConsentSummary, SentInvitation};
use crate::error::AppError;
use crate::http::page::Page;
use crate::http::viewer::{app_of, Viewer};
use crate::ids::{ParticipantId, StudyId};
use crate::vault::model::Identity;

/// What the participant page shows besides the participant: an identity just
/// revealed, a consent link just made, a notice, or the problem with a form.
#[derive(Default)]
pub struct Extra<'a> {
    pub identity: Option<Identity>,
    pub invitation: Option<SentInvitation>,
    pub done: Option<&'a str>,
    pub err: Option<AppError>,
}

fn consent_ctx(c: &ConsentSummary) -> serde_json::Value {
    let records: Vec<_> = c
        .records
        .iter()
        .map(|r| {
            let method = ConsentMethod::parse(&r.method)
                .map_or_else(|| r.method.clone(), |m| m.label().to_owned());
            json!({ "id": r.id, "form_title": r.form_title, "form_version": r.form_version,
                    "method": method, "created_at": r.created_at })
        })
        .collect();
    let forms: Vec<_> = c
        .forms
        .iter()
        .map(|f| json!({ "form_id": f.form.form_id, "version": f.form.version, "title": f.form.title, "id": f.id, "easy_read": f.form.easy_read }))
        .collect();
    json!({ "records": records, "current": c.current, "withdrawn": c.withdrawn, "forms": forms })
}

/// The capacity part; a consultee answers the current forms, when one may.
fn capacity_ctx(c: &CapacitySummary, current_forms: &[ConsentFormVersion]) -> serde_json::Value {
    let consultee_forms = if c.consultee_may_advise() {
        current_forms
    } else {
        &[]
    };
    let forms: Vec<_> = consultee_forms
        .iter()
        .map(|f| {
            let clauses: Vec<_> = f
                .form
                .clauses
                .iter()
                .map(|c| json!({ "key": c.key, "text": c.text, "mandatory": c.mandatory }))
                .collect();
            json!({ "id": f.id, "title": f.form.title, "version": f.form.version, "clauses": clauses })
        })
        .collect();
    json!({
        "assessments": c.assessments,
        "advice": c.advice.iter().map(|a| json!({
            "recorded_at": a.recorded_at, "consultee_kind": a.consultee_kind, "advice": a.advice,
            "recorded_by": a.recorded_by, "effect": a.effect.map(|e| e.label()),
        })).collect::<Vec<_>>(),
        "objections": c.objections,
        "mca_approved": c.mca_approved,
        "lacks_capacity": c.lacks_capacity,
        "withdrawn": c.withdrawn,
        "outcomes": Outcome::ALL.iter().map(|o| json!({ "value": o.as_str(), "label": o.label() })).collect::<Vec<_>>(),
        "kinds": ConsulteeKind::ALL.iter().map(|k| json!({ "value": k.as_str(), "label": k.label() })).collect::<Vec<_>>(),
        "forms": forms,
    })
}

pub async fn render(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    id: &ParticipantId,
    extra: Extra<'_>,
) -> poem::Result<Response> {
    let Extra {
        identity,
        invitation,
        done,
        err,
    } = extra;
    let app = app_of(req);
    let actor = viewer.require()?;
    let p = crate::participants::service::get(app, actor, study, id).await?;
    let details = crate::studies::service::get_study(app, actor, study).await?;
    let site = crate::studies::service::sites(app, actor, study)
        .await?
        .into_iter()
        .find(|s| s.id == p.site_id);
    let consent = crate::consent::records::service::summary(app, actor, &p).await?;
    let capacity = crate::consent::capacity::service::summary(app, actor, &p, &details).await?;
    let identity = identity.map(|i| {
        let born = i
            .date_of_birth()
            .and_then(crate::clock::parse_day)
            .map(|d| d.format("%-d %B %Y").to_string());
        json!({ "name": i.name(), "email": i.email(), "phone": i.phone(), "date_of_birth": born, "notes": i.notes() })
    });
    let ctx = json!({
        "study": { "id": details.id, "title": details.title },
        "participant": { "id": p.id, "study_code": p.study_code, "group": p.stakeholder_group.label(), "status": p.status.label(),
                          "site": site.map(|s| s.name).unwrap_or_default(), "capacity_flag": p.capacity_flag, "created_at": p.created_at },
        "identity": identity,
        "consent": consent_ctx(&consent),
        "capacity": capacity_ctx(&capacity, &consent.forms),
        "invitation": invitation.map(|i| json!({ "link": i.link, "emailed": i.emailed })),
    });
    let page = Page::new(
        "participant.html",
        format!("Participant {}", p.study_code),
        ctx,
    )
    .notice(done)
    .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}
