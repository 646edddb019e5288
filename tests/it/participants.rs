//! Enrolment: study codes in sequence, identities only in the vault (G2), no
//! identifier in URLs or the audit trail (G6), researchers kept to their sites.

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::support::{spawn, Engine, TestApp, PASSWORD};

const NAME: &str = "Siân Ó Dónaill";
const EMAIL: &str = "sian.odonaill@example.org";

struct Setup {
    study: String,
    north: String,
    south: String,
    researcher: String,
    north_only: String,
}

async fn setup(t: &TestApp) -> Setup {
    let admin = t.admin().await;
    let r = t
        .api(Method::POST, "/studies", Some(&admin))
        .json(&json!({ "title": "Recovery college co-design", "slug": "rc-codesign", "code_prefix": "RC",
                       "lawful_basis": "public_task", "retention_years": 10, "status": "recruiting" }))
        .send()
        .await
        .unwrap();
    let study = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut sites = Vec::new();
    for name in ["North", "South"] {
        let r = t
            .api(
                Method::POST,
                &format!("/studies/{study}/sites"),
                Some(&admin),
            )
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        sites.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (rid, remail) = t.person(&admin, "Rhea Researcher").await;
    t.member(&admin, &study, &rid, "researcher", &[]).await;
    let (nid, nemail) = t.person(&admin, "Nia North").await;
    t.member(&admin, &study, &nid, "researcher", &[&sites[0]])
        .await;
    Setup {
        study,
        north: sites[0].clone(),
        south: sites[1].clone(),
        researcher: t.sign_in(&remail, PASSWORD).await,
        north_only: t.sign_in(&nemail, PASSWORD).await,
    }
}

async fn enrol(
    t: &TestApp,
    s: &Setup,
    token: &str,
    site: &str,
    name: &str,
    email: Option<&str>,
) -> reqwest::Response {
    t.api(Method::POST, &format!("/studies/{}/participants", s.study), Some(token))
        .json(&json!({ "site_id": site, "stakeholder_group": "student", "name": name, "email": email, "date_of_birth": "1984-03-27" }))
        .send()
        .await
        .unwrap()
}

async fn participants_get_study_codes_in_sequence(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let mut codes = Vec::new();
    for n in 0..3 {
        let r = enrol(
            &t,
            &s,
            &s.researcher,
            &s.north,
            &format!("Person {n}"),
            None,
        )
        .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["status"], "invited");
        codes.push(p["study_code"].as_str().unwrap().to_owned());
    }
    assert_eq!(codes, ["RC-0001", "RC-0002", "RC-0003"]);
}

async fn enrolments_at_the_same_moment_get_different_codes(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let names: Vec<String> = (0..8).map(|n| format!("Parallel {n}")).collect();
    let calls = names
        .iter()
        .map(|name| enrol(&t, &s, &s.researcher, &s.south, name, None));
    let mut codes: Vec<String> = Vec::new();
    for r in futures_util::future::join_all(calls).await {
        assert_eq!(r.status(), 200);
        codes.push(
            r.json::<Value>().await.unwrap()["study_code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 8, "{codes:?}");
}

/// Every text column of every row of a table, joined.
async fn all_text(t: &TestApp, table: &str) -> String {
    let rows = sqlx::query(&format!("SELECT * FROM {table}"))
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap();
    let mut out = String::new();
    for row in rows {
        for i in 0..row.len() {
            if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                out.push_str(&text);
                out.push('\n');
            }
        }
    }
    out
}

async fn identities_live_only_in_the_vault(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let r = enrol(&t, &s, &s.researcher, &s.north, NAME, Some(EMAIL)).await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    let shown = p.to_string();
    assert!(
        !shown.contains(NAME) && !shown.contains(EMAIL) && !shown.contains("1984-03-27"),
        "{shown}"
    );
    for table in ["participants", "audit_log", "identities", "outbox"] {
        let text = all_text(&t, table).await;
        for secret in [NAME, EMAIL, "1984-03-27", "sian"] {
            assert!(
                !text.to_lowercase().contains(&secret.to_lowercase()),
                "{secret} found in {table}"
            );
        }
    }
    let entry: String =
        sqlx::query("SELECT details FROM audit_log WHERE action = 'participant.enrol'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap()
            .get(0);
    assert!(entry.contains("RC-0001"), "{entry}");
}

async fn a_researcher_reads_an_identity_only_with_a_reason_and_it_is_audited(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let p: Value = enrol(&t, &s, &s.researcher, &s.north, NAME, Some(EMAIL))
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/studies/{}/participants/{}/identity",
        s.study,
        p["id"].as_str().unwrap()
    );
    let r = t
        .api(Method::POST, &path, Some(&s.researcher))
        .json(&json!({ "reason": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let reveals = |t: &TestApp| {
        let pool = t.app.db.pool.clone();
        async move {
            sqlx::query("SELECT COUNT(*) FROM audit_log WHERE action = 'identity.reveal'")
                .fetch_one(&pool)
                .await
                .unwrap()
                .get::<i64, _>(0)
        }
    };
    assert_eq!(reveals(&t).await, 0);
    let r = t
        .api(Method::POST, &path, Some(&s.researcher))
        .json(&json!({ "reason": "to post their consent copy" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let identity: Value = r.json().await.unwrap();
    assert_eq!(
        (identity["name"].as_str(), identity["email"].as_str()),
        (Some(NAME), Some(EMAIL))
    );
    assert_eq!(reveals(&t).await, 1);
    let trail = all_text(&t, "audit_log").await;
    assert!(
        trail.contains("to post their consent copy")
            && !trail.contains(NAME)
            && !trail.contains(EMAIL)
    );
}

async fn researchers_limited_to_a_site_see_only_its_participants(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let south: Value = enrol(&t, &s, &s.researcher, &s.south, "South Person", None)
        .await
        .json()
        .await
        .unwrap();
    enrol(&t, &s, &s.researcher, &s.north, "North Person", None).await;
    let r = enrol(&t, &s, &s.north_only, &s.south, "Not Allowed", None).await;
    assert_eq!(r.status(), 403);
    let list: Value = t
        .get_json(&s.north_only, &format!("/studies/{}/participants", s.study))
        .await;
    let sites: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["site_id"].as_str().unwrap())
        .collect();
    assert_eq!(sites, [s.north.as_str()]);
    let south_id = south["id"].as_str().unwrap();
    let r = t
        .api(
            Method::GET,
            &format!("/studies/{}/participants/{south_id}", s.study),
            Some(&s.north_only),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{}/participants/{south_id}/identity", s.study),
            Some(&s.north_only),
        )
        .json(&json!({ "reason": "curious" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// Each page's study codes, following `next` links from `first` to the end.
async fn pages_of_codes(t: &TestApp, token: &str, first: &str) -> Vec<Vec<String>> {
    t.pages_of(token, first)
        .await
        .iter()
        .map(|page| {
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["study_code"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

async fn lists_come_in_pages_with_their_filters_and_sites(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    // Seven participants, North and South in turn: RC-0001 North, RC-0002 South...
    for i in 0..7 {
        let site = if i % 2 == 0 { &s.north } else { &s.south };
        let r = enrol(&t, &s, &s.researcher, site, &format!("Person {i}"), None).await;
        assert_eq!(r.status(), 200);
    }
    let base = format!("/studies/{}/participants", s.study);
    let all = pages_of_codes(&t, &s.researcher, &format!("{base}?limit=3")).await;
    let sizes: Vec<usize> = all.iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 3, 1]);
    let codes: Vec<String> = all.concat();
    let expected: Vec<String> = (1..=7).map(|n| format!("RC-{n:04}")).collect();
    assert_eq!(codes, expected, "every participant once, oldest first");
    // The filter travels in the next link: South only, two at a time.
    let south = pages_of_codes(
        &t,
        &s.researcher,
        &format!("{base}?site_id={}&limit=2", s.south),
    )
    .await;
    assert_eq!(south, [vec!["RC-0002", "RC-0004"], vec!["RC-0006"]]);
    // A researcher kept to North pages through North alone, and asking for
    // South gets nothing rather than someone else's participants.
    let north = pages_of_codes(&t, &s.north_only, &format!("{base}?limit=2")).await;
    assert_eq!(
        north,
        [vec!["RC-0001", "RC-0003"], vec!["RC-0005", "RC-0007"]]
    );
    let none = pages_of_codes(&t, &s.north_only, &format!("{base}?site_id={}", s.south)).await;
    assert_eq!(none, [Vec::<String>::new()]);
    // Malformed page parameters are 400s that say which.
    for q in ["limit=0", "limit=201", "limit=ten", "after=RC-0001"] {
        let r = t
            .api(Method::GET, &format!("{base}?{q}"), Some(&s.researcher))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let name = q.split('=').next().unwrap();
        assert!(r.text().await.unwrap().contains(name), "{q}");
    }
    // The page shows 50 at a time with a link on; seven fit on one page.
    let admin = t.admin().await;
    let (id, email) = t.person(&admin, "Page Reader").await;
    t.member(&admin, &s.study, &id, "researcher", &[]).await;
    let mut page = t.pages();
    page.sign_in(&email, PASSWORD).await.assert_status(303);
    let html = page.get(&base).await;
    html.assert_status(200);
    assert!(html.text.contains("RC-0001") && html.text.contains("RC-0007"));
    let rest = page
        .get(&format!("{base}?after={}", first_id(&t, &s).await))
        .await;
    rest.assert_status(200);
    assert!(!rest.text.contains(">RC-0001<") && rest.text.contains("RC-0002"));
}

/// The id of the first participant enrolled.
async fn first_id(t: &TestApp, s: &Setup) -> String {
    sqlx::query("SELECT id FROM participants WHERE study_id = $1 ORDER BY id LIMIT 1")
        .bind(&s.study)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0)
}

async fn enrolment_through_the_pages_keeps_identities_out_of_urls(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let admin = t.admin().await;
    let (id, email) = t.person(&admin, "Page Researcher").await;
    t.member(&admin, &s.study, &id, "researcher", &[]).await;
    let mut page = t.pages();
    page.sign_in(&email, PASSWORD).await.assert_status(303);
    page.get(&format!("/studies/{}/participants", s.study))
        .await
        .assert_status(200);
    // Every field is checked in one pass: the group, the name, the email
    // and the date of birth together, each named.
    let bad = page
        .post(
            &format!("/studies/{}/participants", s.study),
            &[
                ("site_id", &s.north),
                ("stakeholder_group", ""),
                ("name", ""),
                ("email", "not-an-email"),
                ("date_of_birth-day", "30"),
                ("date_of_birth-month", "2"),
                ("date_of_birth-year", "1984"),
            ],
        )
        .await;
    bad.assert_status(422);
    for field in ["stakeholder_group", "name", "email", "date_of_birth"] {
        assert!(
            bad.text.contains(&format!("field-{field}-error")),
            "{field}:\n{}",
            bad.text
        );
    }
    assert!(bad.text.contains("for example 27 3 1984"), "{}", bad.text);
    assert!(
        bad.text.contains(r#"name="date_of_birth-day" value="30""#),
        "typed values shown back"
    );
    let ok = page
        .post(
            &format!("/studies/{}/participants", s.study),
            &[
                ("site_id", &s.north),
                ("stakeholder_group", "carer"),
                ("name", NAME),
                ("email", EMAIL),
                ("date_of_birth-day", "7"),
                ("date_of_birth-month", "3"),
                ("date_of_birth-year", "1984"),
            ],
        )
        .await;
    ok.assert_status(303);
    let location = ok.location().to_owned();
    assert!(
        !location.contains("sian") && !location.to_lowercase().contains("d%c3%b3naill"),
        "{location}"
    );
    let shown = page.get(&location).await;
    shown.assert_status(200);
    assert!(shown.text.contains("RC-0001") && !shown.text.contains(NAME));
    let path = location.split('?').next().unwrap();
    let revealed = page
        .post(
            &format!("{path}/identity"),
            &[("reason", "checking the spelling of their name")],
        )
        .await;
    revealed.assert_status(200);
    assert!(revealed.text.contains("Siân Ó Dónaill"));
    assert!(
        revealed.text.contains("7 March 1984"),
        "the boxes make one date"
    );
    assert_eq!(revealed.header("cache-control"), "no-store");
}

on_both_engines!(
    participants_get_study_codes_in_sequence,
    enrolments_at_the_same_moment_get_different_codes,
    identities_live_only_in_the_vault,
    a_researcher_reads_an_identity_only_with_a_reason_and_it_is_audited,
    researchers_limited_to_a_site_see_only_its_participants,
    lists_come_in_pages_with_their_filters_and_sites,
    enrolment_through_the_pages_keeps_identities_out_of_urls,
);
