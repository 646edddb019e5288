//! The route-by-role matrix: every API operation and every page, called as
//! every role, compared with the table below. A route missing from the table
//! (or a table row with no route) fails the test, so a new route cannot ship
//! without someone deciding who may use it.
//!
//! Requests are built to pass access control and then stop harmlessly (an
//! invalid value gives 422) or to act on throwaway objects, so one role's call
//! does not change what the next role sees. "Allowed" means the answer was not
//! 401, 403, 404 or a redirect to the sign-in page. A refusal must also be the
//! right one: someone not signed in is asked to sign in (401, or the sign-in
//! page); someone with no role in the study finds nothing there (404); a member
//! of the study, or an administrator, without the permission is forbidden (403).

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{spawn, Engine, PageClient, TestApp, PASSWORD};

/// Who is asking. Letters used in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Admin,
    Researcher,
    SiteResearcher,
    Reviewer,
    Analyst,
    Participant,
    Rater,
    Outsider,
    Anonymous,
}

const EVERYONE: [Who; 9] = [
    Who::Admin,
    Who::Researcher,
    Who::SiteResearcher,
    Who::Reviewer,
    Who::Analyst,
    Who::Participant,
    Who::Rater,
    Who::Outsider,
    Who::Anonymous,
];

impl Who {
    fn letter(self) -> char {
        match self {
            Who::Admin => 'A',
            Who::Researcher => 'R',
            Who::SiteResearcher => 'S',
            Who::Reviewer => 'V',
            Who::Analyst => 'N',
            Who::Participant => 'P',
            Who::Rater => 'T',
            Who::Outsider => 'O',
            Who::Anonymous => 'X',
        }
    }
}

/// (method, route, who may use it). Routes as the OpenAPI document and the
/// page router spell them. "public" routes answer everyone (sign-in, one-time
/// links, checkpoints); for them the test checks only that nothing fails.
/// A: admin, R: researcher, S: researcher limited to one site, V: reviewer,
/// N: analyst, P: participant, T: rater, O: signed in with no role in the study,
/// X: not signed in.
const MATRIX: &[(&str, &str, &str)] = &[
    // API
    ("POST", "/api/v1/sessions", "public"),
    ("POST", "/api/v1/sessions/second-factor", "public"),
    ("POST", "/api/v1/me/second-factor", "ARSVNTO"),
    ("POST", "/api/v1/me/second-factor/confirmation", "ARSVNTO"),
    ("POST", "/api/v1/me/second-factor/recovery-codes", "ARSVNTO"),
    // Only where no role requires one: here, the analyst and the rater.
    ("POST", "/api/v1/me/second-factor/removal", "NT"),
    ("DELETE", "/api/v1/sessions/current", "ARSVNTPO"),
    ("GET", "/api/v1/me", "ARSVNTPO"),
    ("POST", "/api/v1/me/password", "ARSVNTPO"),
    ("POST", "/api/v1/password-resets", "public"),
    ("GET", "/api/v1/me/tokens", "ARSVNTPO"),
    ("POST", "/api/v1/me/tokens", "ARSVNTP"),
    ("DELETE", "/api/v1/me/tokens/{token_id}", "ARSVNTP"),
    ("GET", "/api/v1/accounts", "A"),
    ("POST", "/api/v1/accounts", "A"),
    ("POST", "/api/v1/accounts/{account_id}/changes", "A"),
    ("GET", "/api/v1/studies", "ARSVNTPO"),
    ("POST", "/api/v1/studies", "A"),
    ("GET", "/api/v1/studies/{study_id}", "ARSVNTP"),
    ("PUT", "/api/v1/studies/{study_id}", "A"),
    ("GET", "/api/v1/studies/{study_id}/sites", "ARSVNTP"),
    ("POST", "/api/v1/studies/{study_id}/sites", "A"),
    (
        "POST",
        "/api/v1/studies/{study_id}/sites/{site_id}/teams",
        "A",
    ),
    ("GET", "/api/v1/studies/{study_id}/members", "ARS"),
    ("PUT", "/api/v1/studies/{study_id}/members", "A"),
    (
        "DELETE",
        "/api/v1/studies/{study_id}/members/{membership_id}",
        "A",
    ),
    ("GET", "/api/v1/studies/{study_id}/audit", "AV"),
    ("GET", "/api/v1/studies/{study_id}/participants", "RS"),
    ("POST", "/api/v1/studies/{study_id}/participants", "RS"),
    (
        "GET",
        "/api/v1/studies/{study_id}/participants/{participant_id}",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/participants/{participant_id}/identity",
        "RS",
    ),
    ("GET", "/api/v1/studies/{study_id}/consent-forms", "RSV"),
    (
        "POST",
        "/api/v1/studies/{study_id}/participants/{participant_id}/consents",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/participants/{participant_id}/consent-invitations",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/participants/{participant_id}/withdrawals",
        "RS",
    ),
    (
        "GET",
        "/api/v1/studies/{study_id}/participants/{participant_id}/consent",
        "RS",
    ),
    (
        "GET",
        "/api/v1/studies/{study_id}/consent-records/{record_id}/pdf",
        "RSV",
    ),
    ("GET", "/api/v1/studies/{study_id}/consent-register", "RSV"),
    (
        "GET",
        "/api/v1/studies/{study_id}/consent-register/withdrawals",
        "RSV",
    ),
    (
        "GET",
        "/api/v1/studies/{study_id}/consent-register/capacity",
        "RSV",
    ),
    (
        "GET",
        "/api/v1/studies/{study_id}/consent-register.csv",
        "RSV",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/participants/{participant_id}/capacity-assessments",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/participants/{participant_id}/capacity-changed",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/participants/{participant_id}/consultee-advice",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/participants/{participant_id}/objections",
        "RS",
    ),
    (
        "GET",
        "/api/v1/studies/{study_id}/participants/{participant_id}/capacity",
        "RS",
    ),
    ("GET", "/api/v1/studies/{study_id}/reconsent-due", "RS"),
    (
        "POST",
        "/api/v1/studies/{study_id}/reconsent-invitations",
        "RS",
    ),
    ("GET", "/api/v1/my/studies/{study_id}", "P"),
    ("POST", "/api/v1/my/studies/{study_id}/choices", "P"),
    ("POST", "/api/v1/my/studies/{study_id}/withdrawals", "P"),
    (
        "GET",
        "/api/v1/my/studies/{study_id}/consent-records/{record_id}/pdf",
        "P",
    ),
    (
        "GET",
        "/api/v1/my/studies/{study_id}/withdrawals/{withdrawal_id}/pdf",
        "P",
    ),
    ("GET", "/api/v1/studies/{study_id}/instruments", "RSNT"),
    ("POST", "/api/v1/studies/{study_id}/instruments", "RS"),
    (
        "GET",
        "/api/v1/studies/{study_id}/instruments/{version_id}",
        "RSNT",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/instruments/{version_id}/rescore",
        "RS",
    ),
    (
        "GET",
        "/api/v1/studies/{study_id}/instruments/{version_id}/outcomes",
        "RSN",
    ),
    (
        "GET",
        "/api/v1/studies/{study_id}/instruments/{version_id}/fidelity",
        "RSN",
    ),
    ("GET", "/api/v1/studies/{study_id}/responses", "RSNT"),
    ("POST", "/api/v1/studies/{study_id}/encounters", "RS"),
    ("GET", "/api/v1/studies/{study_id}/encounters", "RS"),
    (
        "GET",
        "/api/v1/studies/{study_id}/encounters/{encounter_id}",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/encounters/{encounter_id}/media",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/encounters/{encounter_id}/media-references",
        "RS",
    ),
    ("GET", "/api/v1/studies/{study_id}/media/{item_id}", "RS"),
    (
        "GET",
        "/api/v1/studies/{study_id}/media/{item_id}/content",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/media/{item_id}/publication",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/media/{item_id}/transcript",
        "RS",
    ),
    // Raw until redacted: the analyst reads it only then.
    (
        "GET",
        "/api/v1/studies/{study_id}/transcripts/{transcript_id}",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/transcripts/{transcript_id}/speakers",
        "RS",
    ),
    (
        "GET",
        "/api/v1/studies/{study_id}/transcripts/{transcript_id}/redactions",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/transcripts/{transcript_id}/redactions",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/transcripts/{transcript_id}/redactions/{redaction_id}",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/transcripts/{transcript_id}/status",
        "RS",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/transcripts/{transcript_id}/quotes",
        "RS",
    ),
    ("GET", "/api/v1/studies/{study_id}/quotes", "RSN"),
    ("POST", "/api/v1/studies/{study_id}/redaction-terms", "RS"),
    ("GET", "/api/v1/studies/{study_id}/fieldwork-checks", "RSV"),
    ("POST", "/api/v1/studies/{study_id}/responses", "RST"),
    (
        "GET",
        "/api/v1/studies/{study_id}/responses/{response_id}",
        "RSN",
    ),
    (
        "PUT",
        "/api/v1/studies/{study_id}/responses/{response_id}/answers",
        "R",
    ),
    (
        "POST",
        "/api/v1/studies/{study_id}/responses/{response_id}/submission",
        "R",
    ),
    ("GET", "/api/v1/audit/public-key", "public"),
    ("GET", "/api/v1/audit/checkpoints", "public"),
    ("POST", "/api/v1/audit/checkpoints", "A"),
    ("GET", "/api/v1/audit/verify", "AV"),
    ("GET", "/api/v1/audit/log", "A"),
    // Pages
    ("GET", "/", "ARSVNTPO"),
    ("GET", "/login", "public"),
    ("POST", "/login", "public"),
    ("GET", "/login/second-factor", "public"),
    ("POST", "/login/second-factor", "public"),
    ("POST", "/logout", "public"),
    ("GET", "/setup", "public"),
    ("POST", "/setup", "public"),
    ("GET", "/password-reset/request", "public"),
    ("POST", "/password-reset/request", "public"),
    ("GET", "/password-reset", "public"),
    ("POST", "/password-reset", "public"),
    ("GET", "/invitation", "public"),
    ("POST", "/invitation", "public"),
    ("GET", "/account", "ARSVNTPO"),
    ("POST", "/account/password", "ARSVNTPO"),
    ("GET", "/account/second-factor", "ARSVNTO"),
    ("POST", "/account/second-factor", "ARSVNTO"),
    ("POST", "/account/second-factor/confirmation", "ARSVNTO"),
    ("POST", "/account/second-factor/recovery-codes", "ARSVNTO"),
    ("POST", "/account/second-factor/removal", "NT"),
    ("POST", "/account/tokens", "ARSVNTP"),
    ("POST", "/account/tokens/:token_id/revoke", "ARSVNTP"),
    ("GET", "/admin/accounts", "A"),
    ("POST", "/admin/accounts", "A"),
    ("POST", "/admin/accounts/:account_id/:change", "A"),
    ("GET", "/admin/studies/new", "A"),
    ("POST", "/admin/studies/new", "A"),
    ("GET", "/studies/:study_id", "ARSVNTP"),
    ("GET", "/studies/:study_id/edit", "A"),
    ("POST", "/studies/:study_id/edit", "A"),
    ("POST", "/studies/:study_id/sites", "A"),
    ("POST", "/studies/:study_id/teams", "A"),
    ("POST", "/studies/:study_id/members", "A"),
    (
        "POST",
        "/studies/:study_id/members/:membership_id/remove",
        "A",
    ),
    ("GET", "/studies/:study_id/instruments", "RSNT"),
    (
        "GET",
        "/studies/:study_id/instruments/:version_id/fidelity",
        "RSN",
    ),
    // Fieldwork: the reviewer sees the counts on the fieldwork page, never content.
    ("GET", "/studies/:study_id/fieldwork", "RSV"),
    ("POST", "/studies/:study_id/encounters", "RS"),
    ("GET", "/studies/:study_id/encounters/:encounter_id", "RS"),
    (
        "POST",
        "/studies/:study_id/encounters/:encounter_id/media",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/encounters/:encounter_id/media-references",
        "RS",
    ),
    ("GET", "/studies/:study_id/media/:item_id", "RS"),
    ("GET", "/studies/:study_id/media/:item_id/content", "RS"),
    (
        "POST",
        "/studies/:study_id/media/:item_id/publication",
        "RS",
    ),
    ("POST", "/studies/:study_id/media/:item_id/transcript", "RS"),
    (
        "POST",
        "/studies/:study_id/transcripts/:transcript_id/speakers",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/transcripts/:transcript_id/redactions",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/transcripts/:transcript_id/redactions/:redaction_id",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/transcripts/:transcript_id/status",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/transcripts/:transcript_id/quotes",
        "RS",
    ),
    ("GET", "/studies/:study_id/quotes", "RSN"),
    ("GET", "/studies/:study_id/quotes.csv", "RSN"),
    ("POST", "/studies/:study_id/responses", "RST"),
    ("GET", "/studies/:study_id/responses/:response_id", "RSN"),
    ("POST", "/studies/:study_id/responses/:response_id", "R"),
    ("GET", "/studies/:study_id/participants", "RS"),
    ("POST", "/studies/:study_id/participants", "RS"),
    (
        "GET",
        "/studies/:study_id/participants/:participant_id",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/participants/:participant_id/identity",
        "RS",
    ),
    ("GET", "/consent", "public"),
    ("POST", "/consent", "public"),
    ("POST", "/consent/copy", "public"),
    (
        "GET",
        "/studies/:study_id/participants/:participant_id/consents/new",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/participants/:participant_id/consents/new",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/participants/:participant_id/consent-invitations",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/participants/:participant_id/withdrawals",
        "RS",
    ),
    (
        "GET",
        "/studies/:study_id/consent-records/:record_id/pdf",
        "RSV",
    ),
    ("GET", "/studies/:study_id/reconsent", "RS"),
    ("POST", "/studies/:study_id/reconsent-invitations", "RS"),
    ("GET", "/my/studies/:study_id", "P"),
    ("POST", "/my/studies/:study_id/choices", "P"),
    ("POST", "/my/studies/:study_id/withdrawals", "P"),
    (
        "GET",
        "/my/studies/:study_id/consent-records/:record_id/pdf",
        "P",
    ),
    (
        "GET",
        "/my/studies/:study_id/withdrawals/:withdrawal_id/pdf",
        "P",
    ),
    ("GET", "/studies/:study_id/consent-register", "RSV"),
    ("GET", "/studies/:study_id/consent-register.csv", "RSV"),
    (
        "GET",
        "/studies/:study_id/consent-records/:record_id",
        "RSV",
    ),
    (
        "POST",
        "/studies/:study_id/participants/:participant_id/capacity-assessments",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/participants/:participant_id/capacity-changed",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/participants/:participant_id/consultee-advice",
        "RS",
    ),
    (
        "POST",
        "/studies/:study_id/participants/:participant_id/objections",
        "RS",
    ),
];

/// Routes that end the caller's session run last.
fn ends_session(path: &str) -> bool {
    path == "/logout" || path == "/api/v1/sessions/current"
}

struct Fixture {
    study: String,
    site: String,
    /// A participant enrolled at `site`.
    participant: String,
    /// A consent record of that participant.
    record: String,
    /// A withdrawal of theirs (erasure asked for and refused).
    withdrawal: String,
    /// The published consent form version it was taken on.
    form_version: String,
    /// A throwaway account to unlock.
    spare_account: String,
    /// Throwaway memberships for the two remove routes.
    spare_memberships: Vec<String>,
    /// The draft Connecting People checklist (about teams), and a
    /// researcher's draft response to it about a team at `site`.
    instrument_version: String,
    response: String,
    api: BTreeMap<Who, String>,
    pages: BTreeMap<Who, PageClient>,
    /// Each member's own API tokens, two each (one per revoke route).
    tokens: BTreeMap<Who, Vec<String>>,
    /// Fieldwork at `site`: an encounter, its audio, the audio's transcript
    /// and one of the transcript's suggested redactions.
    fieldwork: Fieldwork,
}

struct Fieldwork {
    encounter: String,
    item: String,
    transcript: String,
    redaction: String,
}

/// A second participant, consented to everything, recorded at `site`.
async fn fieldwork(t: &TestApp, researcher: &str, study: &str, site: &str) -> Fieldwork {
    use reqwest::multipart::{Form, Part};
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{study}/participants"),
            Some(researcher),
        )
        .json(&json!({ "site_id": site, "stakeholder_group": "student", "name": "Rec Orded" }))
        .send()
        .await
        .unwrap();
    let participant = crate::support::created_id(r).await;
    let forms: Value = t
        .get_json(researcher, &format!("/studies/{study}/consent-forms"))
        .await;
    let answers: serde_json::Map<String, Value> = forms[0]["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap().to_owned(), json!("yes")))
        .collect();
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{study}/participants/{participant}/consents"),
            Some(researcher),
        )
        .json(
            &json!({ "form_version_id": forms[0]["id"], "method": "in_person_witnessed",
                       "answers": answers, "signature": "Rec Orded" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let code = t
        .get_json(
            researcher,
            &format!("/studies/{study}/participants/{participant}"),
        )
        .await["study_code"]
        .clone();
    let r = t
        .api(Method::POST, &format!("/studies/{study}/encounters"), Some(researcher))
        .json(&json!({ "kind": "interview", "occurred_at": 1_790_000_000_000i64, "site_id": site, "participants": [code] }))
        .send()
        .await
        .unwrap();
    let encounter = crate::support::created_id(r).await;
    let form = Form::new()
        .text("title", "Interview 1")
        .text("kind", "audio")
        .part(
            "file",
            Part::bytes(crate::recordings::wav(4_000)).file_name("a.wav"),
        );
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{study}/encounters/{encounter}/media"),
            Some(researcher),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    let item = crate::support::created_id(r).await;
    let form = Form::new().part(
        "file",
        Part::bytes(b"Interviewer: Hello Rec, call 07700 900123.\nP1: Hello.\n".to_vec())
            .file_name("t.txt"),
    );
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{study}/media/{item}/transcript"),
            Some(researcher),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    let transcript = crate::support::created_id(r).await;
    let marks: Value = t
        .get_json(
            researcher,
            &format!("/studies/{study}/transcripts/{transcript}/redactions"),
        )
        .await;
    Fieldwork {
        encounter,
        item,
        transcript,
        redaction: marks[0]["id"].as_str().unwrap().to_owned(),
    }
}

async fn create_token(t: &TestApp, session: &str, study: &str) -> String {
    let r = t
        .api(Method::POST, "/me/tokens", Some(session))
        .json(&json!({ "study_id": study, "name": "matrix", "permissions": ["view_study"], "days": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["token"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn fixture(t: &TestApp) -> Fixture {
    let admin = t.admin().await;
    // The shipped consent form belongs to this short name, so consent routes have a form.
    let study = t.study(&admin, "recovery-college-codesign").await;
    let other_study = t.study(&admin, "matrix-other").await;
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{study}/sites"),
            Some(&admin),
        )
        .json(&json!({ "name": "North" }))
        .send()
        .await
        .unwrap();
    let site = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The admin under test is one account, on the API and on the pages.
    let admin_email = format!(
        "matrix-admin-{}@example.ac.uk",
        uuid::Uuid::new_v4().simple()
    );
    fieldkit::auth::service::create_admin_directly(&t.app, &admin_email, "Matrix Admin", PASSWORD)
        .await
        .unwrap();
    let admin_session = t.sign_in(&admin_email, PASSWORD).await;
    let mut admin_pages = t.pages();
    admin_pages
        .sign_in(&admin_email, PASSWORD)
        .await
        .assert_status(303);
    let mut api = BTreeMap::from([(Who::Admin, admin_session.clone())]);
    let mut pages = BTreeMap::from([(Who::Admin, admin_pages)]);
    let mut tokens = BTreeMap::new();
    tokens.insert(
        Who::Admin,
        vec![
            create_token(t, &admin_session, &study).await,
            create_token(t, &admin_session, &study).await,
        ],
    );

    let roles = [
        (Who::Researcher, "researcher", vec![]),
        (Who::SiteResearcher, "researcher", vec![site.as_str()]),
        (Who::Reviewer, "reviewer", vec![]),
        (Who::Analyst, "analyst", vec![]),
        (Who::Participant, "participant", vec![]),
        (Who::Rater, "rater", vec![]),
        (Who::Outsider, "researcher", vec![]),
    ];
    // The participant's account is linked to the enrolled participant below.
    let mut participant_account = String::new();
    for (who, role, sites) in roles {
        let (id, email) = t.person(&admin, &format!("{who:?}")).await;
        if who == Who::Participant {
            participant_account = id.clone();
        }
        let target = if who == Who::Outsider {
            &other_study
        } else {
            &study
        };
        t.member(&admin, target, &id, role, &sites).await;
        let session = t.sign_in(&email, PASSWORD).await;
        if who != Who::Outsider {
            tokens.insert(
                who,
                vec![
                    create_token(t, &session, &study).await,
                    create_token(t, &session, &study).await,
                ],
            );
        }
        api.insert(who, session);
        let mut page = t.pages();
        page.sign_in(&email, PASSWORD).await.assert_status(303);
        pages.insert(who, page);
    }
    pages.insert(Who::Anonymous, t.pages());

    let (spare_account, _) = t.person(&admin, "Spare Person").await;
    let mut spare_memberships = Vec::new();
    for n in 0..2 {
        let (id, _) = t.person(&admin, &format!("Leaver {n}")).await;
        t.member(&admin, &study, &id, "analyst", &[]).await;
        let r = t
            .api(
                Method::GET,
                &format!("/studies/{study}/members"),
                Some(&admin),
            )
            .send()
            .await
            .unwrap();
        let members = r.json::<Value>().await.unwrap();
        let m = members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["account_id"] == id.as_str())
            .unwrap();
        spare_memberships.push(m["id"].as_str().unwrap().to_owned());
    }
    let r = t
        .api(Method::POST, &format!("/studies/{study}/participants"), Some(&api[&Who::Researcher]))
        .json(&json!({ "site_id": site, "stakeholder_group": "student", "name": "Matrix Participant", "account_id": participant_account }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let participant = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (record, form_version) =
        take_consent(t, &api[&Who::Researcher], &study, &participant).await;
    // A withdrawal that changes nothing the other routes rely on: erasure
    // asked for and refused, so the participant has a withdrawal record.
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{study}/participants/{participant}/withdrawals"),
            Some(&api[&Who::Researcher]),
        )
        .json(
            &json!({ "remove_identifiable": true, "erasure_refused_because": "already analysed" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let withdrawal = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{study}/sites/{site}/teams"),
            Some(&admin),
        )
        .json(&json!({ "name": "Matrix CMHT", "kind": "CMHT", "arm": "intervention" }))
        .send()
        .await
        .unwrap();
    let team = crate::support::created_id(r).await;
    let instruments: Value = t
        .get_json(
            &api[&Who::Researcher],
            &format!("/studies/{study}/instruments"),
        )
        .await;
    let instrument_version = instruments
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instrument_id"] == "connecting-people-fidelity")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{study}/responses"),
            Some(&api[&Who::Researcher]),
        )
        .json(
            &json!({ "instrument_version_id": instrument_version, "subject_id": team,
                       "rater_role": "researcher", "time_point": "baseline" }),
        )
        .send()
        .await
        .unwrap();
    let response = crate::support::created_id(r).await;
    let fieldwork = fieldwork(t, &api[&Who::Researcher], &study, &site).await;
    Fixture {
        study,
        site,
        instrument_version,
        response,
        participant,
        record,
        withdrawal,
        form_version,
        spare_account,
        spare_memberships,
        api,
        pages,
        tokens,
        fieldwork,
    }
}

/// Consent on the shipped form, every mandatory clause yes: (record id, form version id).
async fn take_consent(
    t: &TestApp,
    researcher: &str,
    study: &str,
    participant: &str,
) -> (String, String) {
    let forms: Value = t
        .get_json(researcher, &format!("/studies/{study}/consent-forms"))
        .await;
    let form = &forms[0];
    let answers: serde_json::Map<String, Value> = form["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_owned(),
                json!(if c["mandatory"] == true { "yes" } else { "no" }),
            )
        })
        .collect();
    let r = t
        .api(Method::POST, &format!("/studies/{study}/participants/{participant}/consents"), Some(researcher))
        .json(&json!({ "form_version_id": form["id"], "method": "in_person_witnessed", "answers": answers, "signature": "Matrix Participant" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let record = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (record, form["id"].as_str().unwrap().to_owned())
}

fn fill(route: &str, f: &Fixture, who: Who, page: bool) -> String {
    let own_token = f
        .tokens
        .get(&who)
        .map(|t| t[usize::from(page)].clone())
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let membership = &f.spare_memberships[usize::from(page)];
    let query = if route.ends_with("/consents/new") {
        format!("?form={}", f.form_version)
    } else if route.ends_with("/outcomes") {
        "?from=baseline&to=month_9".to_owned()
    } else {
        String::new()
    };
    route
        .replace("{study_id}", &f.study)
        .replace(":study_id", &f.study)
        .replace("{site_id}", &f.site)
        .replace("{account_id}", &f.spare_account)
        .replace(":account_id", &f.spare_account)
        .replace(":change", "unlock")
        .replace("{membership_id}", membership)
        .replace(":membership_id", membership)
        .replace("{record_id}", &f.record)
        .replace("{participant_id}", &f.participant)
        .replace(":participant_id", &f.participant)
        .replace(":record_id", &f.record)
        .replace("{withdrawal_id}", &f.withdrawal)
        .replace(":withdrawal_id", &f.withdrawal)
        .replace("{version_id}", &f.instrument_version)
        .replace(":version_id", &f.instrument_version)
        .replace("{response_id}", &f.response)
        .replace(":response_id", &f.response)
        .replace("{encounter_id}", &f.fieldwork.encounter)
        .replace(":encounter_id", &f.fieldwork.encounter)
        .replace("{item_id}", &f.fieldwork.item)
        .replace(":item_id", &f.fieldwork.item)
        .replace("{transcript_id}", &f.fieldwork.transcript)
        .replace(":transcript_id", &f.fieldwork.transcript)
        .replace("{redaction_id}", &f.fieldwork.redaction)
        .replace(":redaction_id", &f.fieldwork.redaction)
        .replace("{token_id}", &own_token)
        .replace(":token_id", &own_token)
        + &query
}

/// A body that passes access control and then stops at validation, or acts on
/// a throwaway object.
fn api_body(method: &str, route: &str, f: &Fixture) -> Option<Value> {
    Some(match (method, route) {
        ("POST", "/api/v1/sessions") => {
            json!({ "email": "nobody@example.ac.uk", "password": "not the password" })
        }
        ("POST", "/api/v1/me/password") => {
            json!({ "current_password": PASSWORD, "new_password": "x" })
        }
        ("POST", "/api/v1/password-resets") => json!({ "email": "nobody@example.ac.uk" }),
        ("POST", "/api/v1/sessions/second-factor") => {
            json!({ "pending_token": "fkp_no-such-sign-in", "code": "000000" })
        }
        ("POST", "/api/v1/me/second-factor/confirmation")
        | ("POST", "/api/v1/me/second-factor/recovery-codes")
        | ("POST", "/api/v1/me/second-factor/removal") => json!({ "code": "000000" }),
        ("POST", "/api/v1/me/tokens") => {
            json!({ "study_id": f.study, "name": " ", "permissions": ["view_study"], "days": 1 })
        }
        ("POST", "/api/v1/accounts") => json!({ "email": "not an email", "display_name": "X" }),
        ("POST", "/api/v1/accounts/{account_id}/changes") => json!({ "change": "unlock" }),
        ("POST", "/api/v1/studies") | ("PUT", "/api/v1/studies/{study_id}") => json!({
            "title": " ", "slug": "matrix-study", "lawful_basis": "public_task", "retention_years": 10, "status": "setup"
        }),
        ("POST", "/api/v1/studies/{study_id}/sites") => json!({ "name": "" }),
        ("POST", "/api/v1/studies/{study_id}/sites/{site_id}/teams") => {
            json!({ "name": "", "kind": "CMHT" })
        }
        ("POST", "/api/v1/studies/{study_id}/participants") => {
            json!({ "site_id": f.site, "stakeholder_group": "student", "name": "" })
        }
        ("POST", "/api/v1/studies/{study_id}/participants/{participant_id}/identity") => {
            json!({ "reason": "" })
        }
        ("POST", "/api/v1/studies/{study_id}/participants/{participant_id}/consents") => {
            json!({ "form_version_id": uuid::Uuid::now_v7().to_string(), "method": "in_person_witnessed", "answers": {} })
        }
        (
            "POST",
            "/api/v1/studies/{study_id}/participants/{participant_id}/consent-invitations",
        ) => json!({ "form_id": "no-such-form" }),
        ("POST", "/api/v1/studies/{study_id}/participants/{participant_id}/withdrawals") => {
            json!({})
        }
        ("POST", "/api/v1/studies/{study_id}/reconsent-invitations")
        | ("POST", "/api/v1/my/studies/{study_id}/withdrawals") => json!({}),
        ("POST", "/api/v1/my/studies/{study_id}/choices") => {
            json!({ "answers": { "no_such_clause": "yes" }, "signature": "Matrix Participant" })
        }
        (
            "POST",
            "/api/v1/studies/{study_id}/participants/{participant_id}/capacity-assessments",
        ) => json!({ "decision": "", "assessed_on": "2999-01-01", "outcome": "has_capacity" }),
        // The study is not approved under the Mental Capacity Act: refused (409), nothing stored.
        ("POST", "/api/v1/studies/{study_id}/participants/{participant_id}/consultee-advice") => {
            json!({ "consultee_kind": "personal", "advice": "not_take_part", "consultee_name": "" })
        }
        ("POST", "/api/v1/studies/{study_id}/participants/{participant_id}/objections") => {
            json!({ "description": "" })
        }
        ("POST", "/api/v1/studies/{study_id}/responses") => json!({
            "instrument_version_id": f.instrument_version, "subject_id": uuid::Uuid::now_v7().to_string(),
            "rater_role": "practitioner", "time_point": "never"
        }),
        ("POST", "/api/v1/studies/{study_id}/instruments") => json!({
            "file_name": "form.xlsx", "content_base64": "", "licence": "CC0", "subject": "team",
            "rater_roles": ["researcher"], "time_points": [{ "key": "baseline", "label": "Baseline" }]
        }),
        ("POST", "/api/v1/studies/{study_id}/instruments/{version_id}/rescore") => {
            json!({ "apply": false })
        }
        ("PUT", "/api/v1/studies/{study_id}/responses/{response_id}/answers")
        | ("POST", "/api/v1/studies/{study_id}/responses/{response_id}/submission") => {
            json!({ "answers": { "no_such_item": 1 } })
        }
        ("PUT", "/api/v1/studies/{study_id}/members") => {
            json!({ "account_id": uuid::Uuid::now_v7().to_string(), "role": "analyst" })
        }
        ("POST", "/api/v1/studies/{study_id}/encounters") => json!({
            "kind": "vox_pop", "occurred_at": 0, "site_id": f.site, "participants": []
        }),
        ("POST", "/api/v1/studies/{study_id}/encounters/{encounter_id}/media-references") => {
            json!({
                "title": "", "kind": "video", "reference": "", "size_bytes": 0
            })
        }
        ("POST", "/api/v1/studies/{study_id}/media/{item_id}/publication") => {
            json!({ "to": "published" })
        }
        ("POST", "/api/v1/studies/{study_id}/transcripts/{transcript_id}/speakers") => {
            json!({ "speakers": [{ "speaker": 99, "role": "participant" }] })
        }
        ("POST", "/api/v1/studies/{study_id}/transcripts/{transcript_id}/redactions") => {
            json!({ "position": 0, "start": 5, "end": 1, "category": "person" })
        }
        (
            "POST",
            "/api/v1/studies/{study_id}/transcripts/{transcript_id}/redactions/{redaction_id}",
        ) => {
            json!({ "accept": false })
        }
        ("POST", "/api/v1/studies/{study_id}/transcripts/{transcript_id}/status") => {
            json!({ "status": "checked" })
        }
        ("POST", "/api/v1/studies/{study_id}/transcripts/{transcript_id}/quotes") => {
            json!({ "position": 0, "start": 0, "end": 1, "theme": "" })
        }
        ("POST", "/api/v1/studies/{study_id}/redaction-terms") => json!({ "term": " " }),
        _ => return None,
    })
}

fn page_form(route: &str, f: &Fixture) -> Vec<(&'static str, String)> {
    match route {
        "/login" => vec![
            ("email", "nobody@example.ac.uk".into()),
            ("password", "wrong".into()),
        ],
        "/setup" | "/password-reset" | "/invitation" => vec![
            ("token", "fkl_not-a-token".into()),
            ("password", "x".into()),
        ],
        "/password-reset/request" => vec![("email", "not an email".into())],
        "/account/password" => vec![
            ("current_password", "not my password".into()),
            ("new_password", "x".into()),
        ],
        "/account/tokens" => vec![
            ("study_id", f.study.clone()),
            ("name", "".into()),
            ("days", "1".into()),
        ],
        "/admin/accounts" => vec![
            ("email", "not an email".into()),
            ("display_name", "X".into()),
        ],
        "/admin/studies/new" | "/studies/:study_id/edit" => {
            vec![("title", "".into()), ("slug", "x".into())]
        }
        "/studies/:study_id/sites" => vec![("name", "".into())],
        "/studies/:study_id/teams" => vec![
            ("site_id", f.site.clone()),
            ("name", "".into()),
            ("kind", "CMHT".into()),
        ],
        "/studies/:study_id/members" => vec![("account_id", "".into()), ("role", "analyst".into())],
        "/studies/:study_id/participants" => vec![
            ("site_id", f.site.clone()),
            ("stakeholder_group", "student".into()),
            ("name", "".into()),
        ],
        "/studies/:study_id/participants/:participant_id/identity" => vec![("reason", "".into())],
        _ => vec![],
    }
}

fn denied(status: u16, location: &str) -> bool {
    matches!(status, 401 | 403 | 404) || (status == 303 && location.starts_with("/login"))
}

/// Routes that act in a study named in the request body rather than the path.
const STUDY_IN_BODY: &[&str] = &["/api/v1/me/tokens", "/account/tokens"];

/// The refusal a caller who may not use a route must get.
fn refusal(who: Who, route: &str) -> &'static str {
    let in_study = route.contains("study_id") || STUDY_IN_BODY.contains(&route);
    match who {
        Who::Anonymous if route.starts_with("/api/") => "401",
        Who::Anonymous => "303 /login",
        Who::Outsider if in_study || route.contains("token_id") => "404",
        _ => "403",
    }
}

fn refusal_given(status: u16, location: &str) -> String {
    if status == 303 {
        format!("303 {}", location.split('?').next().unwrap_or_default())
    } else {
        status.to_string()
    }
}

async fn call(t: &TestApp, f: &mut Fixture, who: Who, method: &str, route: &str) -> (u16, String) {
    if route.starts_with("/api/") {
        let path = fill(route, f, who, false);
        let rb = t
            .http
            .request(Method::from_bytes(method.as_bytes()).unwrap(), t.url(&path));
        let rb = match f.api.get(&who) {
            Some(token) => rb.bearer_auth(token),
            None => rb,
        };
        let rb = match api_body(method, route, f) {
            Some(body) => rb.json(&body),
            // The upload routes take multipart/form-data: one with no file.
            None if method == "POST" => {
                rb.multipart(reqwest::multipart::Form::new().text("kind", "audio"))
            }
            None => rb,
        };
        let r = rb.send().await.unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (r.status().as_u16(), location)
    } else {
        let path = fill(route, f, who, true);
        let form: Vec<(&str, String)> = page_form(route, f);
        let client = f.pages.get_mut(&who).unwrap();
        let r = if method == "GET" {
            client.get(&path).await
        } else {
            client.get("/login").await;
            let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            client.post(&path, &fields).await
        };
        (r.status, r.location().to_owned())
    }
}

fn routes_in_app(spec: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            routes.insert((method.to_uppercase(), format!("/api/v1{path}")));
        }
    }
    for (method, path) in fieldkit::http::PAGE_ROUTES {
        routes.insert((method.to_string(), path.to_string()));
    }
    routes
}

async fn every_route_answers_every_role_as_the_table_says(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let spec: Value = t.public_json("/api/openapi.json").await;
    let in_app = routes_in_app(&spec);
    let in_table: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        MATRIX.len(),
        in_table.len(),
        "a route is listed twice in the matrix"
    );
    let missing: Vec<_> = in_app.difference(&in_table).collect();
    let stale: Vec<_> = in_table.difference(&in_app).collect();
    assert!(
        missing.is_empty(),
        "routes with no entry in the access matrix: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "matrix entries for routes that do not exist: {stale:?}"
    );

    let mut f = fixture(&t).await;
    let mut order: Vec<&(&str, &str, &str)> = MATRIX.iter().collect();
    order.sort_by_key(|(_, path, _)| ends_session(path));
    let mut wrong = Vec::new();
    for (method, route, allowed) in order {
        // The admin goes last, so a real change (removing a throwaway member) comes after everyone else tried.
        for who in EVERYONE.iter().rev().copied() {
            let (status, location) = call(&t, &mut f, who, method, route).await;
            assert!(
                status < 500,
                "{method} {route} as {who:?} failed with {status}"
            );
            if *allowed == "public" {
                continue;
            }
            let expect_allowed = allowed.contains(who.letter());
            if expect_allowed == denied(status, &location) {
                wrong.push(format!(
                    "{method} {route} as {who:?}: {status} {location} (expected {})",
                    if expect_allowed { "allowed" } else { "denied" }
                ));
            } else if !expect_allowed && refusal_given(status, &location) != refusal(who, route) {
                wrong.push(format!(
                    "{method} {route} as {who:?}: refused with {} (expected {})",
                    refusal_given(status, &location),
                    refusal(who, route)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "access differs from the matrix:\n{}",
        wrong.join("\n")
    );
}

on_both_engines!(every_route_answers_every_role_as_the_table_says);
