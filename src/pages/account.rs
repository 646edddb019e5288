//! The account page: the person's own account and API tokens (auth), and
//! the studies they can make a token for (studies). Every handler that
//! answers with the account page renders it through `render`.

use poem::{Request, Response};
use serde_json::json;

use crate::auth::model::Permission;
use crate::error::AppError;
use crate::http::page::Page;
use crate::http::viewer::{app_of, Viewer};
use crate::ids::StudyId;
use crate::{auth, studies};

fn permission_label(p: Permission) -> &'static str {
    match p {
        Permission::ViewStudy => "Read the study's details, sites and teams",
        Permission::ViewMembers => "See who works on the study",
        Permission::EditStudy => "Change the study's details, sites and teams",
        Permission::ManageMembers => "Add and remove people",
        Permission::ViewStudyAudit => "Read the study's audit trail",
        Permission::EnrolParticipants => "Enrol participants",
        Permission::RevealIdentity => "Read participants' identities (every read is recorded)",
        Permission::TakeConsent => "Take and record consent",
        Permission::ViewConsentRegister => "Read the consent register",
        Permission::ManageOwnParticipation => "See and change your own part in the study",
        Permission::RateInstruments => "Complete fidelity checklists and questionnaires",
        Permission::ViewInstrumentResults => {
            "Read the instruments' responses, scores and agreement between raters"
        }
        Permission::ManageInstruments => "Import instruments and rescore responses",
        Permission::RecordFieldwork => {
            "Log fieldwork: recordings, transcripts, redaction, quotes and publication"
        }
        Permission::ViewRedactedFieldwork => {
            "Read redacted transcripts and the quotes consent allows"
        }
        Permission::ViewFieldworkChecks => "See fieldwork's consent checks (counts, never content)",
        Permission::ManageAccounts | Permission::CreateStudies | Permission::ViewInstanceAudit => {
            "Instance administration"
        }
    }
}

pub async fn render(
    req: &Request,
    viewer: &Viewer,
    new_token: Option<String>,
    done: Option<&str>,
    err: Option<AppError>,
) -> poem::Result<Response> {
    let app = app_of(req);
    let actor = viewer.require()?;
    let email = auth::service::own_email(app, actor).await?;
    let studies = studies::service::studies_for(app, actor).await?;
    let titles: std::collections::HashMap<&StudyId, &str> =
        studies.iter().map(|s| (&s.id, s.title.as_str())).collect();
    let memberships: Vec<_> = actor
        .memberships
        .iter()
        .map(|m| json!({ "study_title": titles.get(&m.study_id).copied().unwrap_or("(unknown)"), "role": m.role.as_str() }))
        .collect();
    let permissions: Vec<_> = Permission::ALL
        .iter()
        .filter(|p| !p.is_instance_wide())
        .map(|p| json!({ "value": p.as_str(), "label": permission_label(*p) }))
        .collect();
    let ctx = json!({
        "account": { "display_name": actor.display_name, "email": email, "is_admin": actor.is_admin },
        "second_factor": {
            "enrolled": actor.second_factor,
            "required": auth::policy::second_factor_required(actor),
            "offered": auth::policy::second_factor_offered(actor),
        },
        "memberships": memberships,
        "tokens": auth::service::list_api_tokens(app, actor).await?,
        "studies": studies.iter().map(|s| json!({ "id": s.id, "title": s.title })).collect::<Vec<_>>(),
        "permissions": permissions,
        "new_token": new_token,
    });
    let page = Page::new("account.html", "Your account", ctx)
        .notice(done)
        .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}
