//! The ethics reviewer's consent register: statuses, filters, the CSV copy
//! (RFC 4180, formulas defused, every download audited), no identity
//! anywhere, and who may reach it.

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::consent::{answers, enrol, setup, site, take, take_on, NAME};
use crate::support::{spawn, Engine, PageClient, TestApp, PASSWORD};

/// The email address `setup` enrols the participant with.
const EMAIL: &str = "zoe@example.org";

async fn get(t: &TestApp, token: &str, path: &str) -> reqwest::Response {
    t.api(Method::GET, path, Some(token)).send().await.unwrap()
}

/// A signed-in member of the study in `role` (limited to `sites`): (API token, page client).
async fn member(
    t: &TestApp,
    admin: &str,
    study: &str,
    name: &str,
    role: &str,
    sites: &[&str],
) -> (String, PageClient) {
    let (id, email) = t.person(admin, name).await;
    if !role.is_empty() {
        t.member(admin, study, &id, role, sites).await;
    }
    let mut pages = t.pages();
    pages.sign_in(&email, PASSWORD).await;
    (t.sign_in(&email, PASSWORD).await, pages)
}

fn status_of(register: &Value, record: &str) -> String {
    register["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["record_id"] == record)
        .unwrap_or_else(|| panic!("record {record} is listed"))["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn record_ids(register: &Value) -> Vec<String> {
    register["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record_id"].as_str().unwrap().to_owned())
        .collect()
}

/// A minimal RFC 4180 reader: quoted fields, doubled quotes, CRLF records.
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "the last record ends with CRLF"
    );
    rows
}

async fn statuses_follow_records_forms_and_withdrawals(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let admin = t.admin().await;
    let (reviewer, _) = member(&t, &admin, &s.study, "Vera Reviewer", "reviewer", &[]).await;
    let site = site(&t, &admin, &s.study).await;
    let first = take_on(&t, &s, &s.participant, &s.form_version).await;
    let latest = take_on(&t, &s, &s.participant, &s.form_version).await;
    let leaver = enrol(&t, &s, &site, None).await;
    let withdrawn = take_on(&t, &s, &leaver, &s.form_version).await;
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{}/participants/{leaver}/withdrawals", s.study),
            Some(&s.researcher),
        )
        .json(&json!({ "no_collection": true, "no_contact": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let v2 = t.publish_copy(&s.form_version, "participation", 2).await;
    let newcomer = enrol(&t, &s, &site, None).await;
    let current = take_on(&t, &s, &newcomer, &v2).await;

    let base = format!("/studies/{}/consent-register", s.study);
    let register = t.get_json(&reviewer, &base).await;
    // One record a page, following `next`: each once, in the order taken.
    let paged: Vec<String> = t
        .pages_of(&reviewer, &format!("{base}?limit=1"))
        .await
        .iter()
        .flat_map(record_ids)
        .collect();
    assert_eq!(paged, [first.as_str(), &latest, &withdrawn, &current]);
    assert_eq!(status_of(&register, &first), "superseded");
    assert_eq!(status_of(&register, &latest), "reconsent_due");
    assert_eq!(status_of(&register, &withdrawn), "withdrawn");
    assert_eq!(status_of(&register, &current), "current");
    let row = register["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["record_id"] == withdrawn)
        .unwrap();
    assert_eq!(
        row["withdrawal"]["scope"],
        json!({ "no_contact": true, "no_collection": true, "remove_identifiable": false })
    );
    assert!(row["withdrawal"]["withdrawn_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(row["method"], "in_person_witnessed");
    for k in &s.mandatory {
        assert_eq!(row["answers"][k], "yes");
    }
    for k in &s.optional {
        assert_eq!(row["answers"][k], "no");
    }
    let withdrawals = t.get_json(&reviewer, &format!("{base}/withdrawals")).await;
    assert_eq!(withdrawals["items"].as_array().unwrap().len(), 1);
    assert_eq!(withdrawals["items"][0]["scope"]["no_collection"], true);

    // Filters, each alone and together.
    let only = |q: &str| format!("{base}?{q}");
    let superseded = t.get_json(&reviewer, &only("status=superseded")).await;
    assert_eq!(record_ids(&superseded), [first.as_str()]);
    let v2_only = t
        .get_json(&reviewer, &only("form_id=participation&status=current"))
        .await;
    assert_eq!(record_ids(&v2_only), [current.as_str()]);
    assert!(record_ids(&t.get_json(&reviewer, &only("form_id=nothing")).await).is_empty());
    assert!(record_ids(&t.get_json(&reviewer, &only("method=online")).await).is_empty());
    assert_eq!(
        record_ids(
            &t.get_json(&reviewer, &only("method=in_person_witnessed"))
                .await
        )
        .len(),
        4
    );
    let today = chrono::Utc::now().date_naive();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let window = format!("from={}&to={}", day(today), day(today));
    assert_eq!(
        record_ids(&t.get_json(&reviewer, &only(&window)).await).len(),
        4
    );
    let before = format!("to={}", day(today.pred_opt().unwrap()));
    assert!(record_ids(&t.get_json(&reviewer, &only(&before)).await).is_empty());

    // Bad filters: a malformed one is a 400 naming the parameter; dates in
    // the wrong order are well formed but refused by a rule: 422, with the
    // parameter in `errors`.
    for (q, names, status) in [
        ("status=lapsed", "status", 400),
        ("from=2026-02-30", "from", 400),
        ("method=pigeon", "method", 400),
        ("from=2026-03-02&to=2026-03-01", "\"field\":\"to\"", 422),
    ] {
        let r = get(&t, &reviewer, &only(q)).await;
        assert_eq!(r.status(), status, "{q}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json"));
        assert!(r.text().await.unwrap().contains(names), "{q}");
        let r = get(
            &t,
            &reviewer,
            &format!("/studies/{}/consent-register.csv?{q}", s.study),
        )
        .await;
        assert_eq!(r.status(), status, "{q}");
    }
    let (_, mut pages) = member(&t, &admin, &s.study, "Val Reviewer", "reviewer", &[]).await;
    let page = pages.get(&format!("{base}?from=27/03/2026")).await;
    page.assert_status(422);
    assert!(page.text.contains("Give a date as YYYY-MM-DD"));
    assert!(page.text.contains("href=\"#field-from\""));
}

async fn the_csv_reads_back_defuses_formulas_and_is_audited(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let admin = t.admin().await;
    let (reviewer, mut pages) =
        member(&t, &admin, &s.study, "Vera Reviewer", "reviewer", &[]).await;
    let r = take(&t, &s, &answers(&s, &[s.optional[0].as_str()], "")).await;
    assert_eq!(r.status(), 200);
    let record = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let evil = "=HYPERLINK(\"http://evil.example\",\"a, b\")";
    let evil_version = t.publish_copy(&s.form_version, evil, 1).await;
    let other = take_on(&t, &s, &s.participant, &evil_version).await;

    let r = get(
        &t,
        &reviewer,
        &format!("/studies/{}/consent-register.csv", s.study),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    let text = r.text().await.unwrap();
    let rows = read_csv(&text);
    let header = &rows[0];
    assert_eq!(
        &header[..8],
        [
            "study_code",
            "record_id",
            "form_id",
            "form_version",
            "language",
            "method",
            "consented_at",
            "status"
        ]
    );
    for k in s.mandatory.iter().chain(&s.optional) {
        assert_eq!(
            header
                .iter()
                .filter(|h| **h == format!("clause_{k}"))
                .count(),
            1,
            "one column for {k}"
        );
    }
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let first = rows.iter().find(|r| r[col("record_id")] == record).unwrap();
    assert!(first[col("study_code")].starts_with("RC-"));
    assert_eq!(first[col("status")], "superseded");
    assert_eq!(first[col("language")], "en-GB");
    assert_eq!(
        first[col("consented_at")].len(),
        "2026-03-27T10:00:00Z".len()
    );
    assert!(first[col("consented_at")].ends_with('Z'));
    assert_eq!(first[col(&format!("clause_{}", s.mandatory[0]))], "yes");
    assert_eq!(first[col(&format!("clause_{}", s.optional[0]))], "yes");
    assert_eq!(first[col(&format!("clause_{}", s.optional[1]))], "blank");
    let second = rows.iter().find(|r| r[col("record_id")] == other).unwrap();
    assert_eq!(second[col("form_id")], format!("'{evil}"));
    assert_eq!(second[col("status")], "current");
    for cell in rows.iter().flatten() {
        assert!(
            !cell.starts_with(['=', '+', '-', '@']),
            "formula cell {cell}"
        );
    }

    // The same through the pages, filtered; each download is audited with filter and count only.
    pages
        .get(&format!("/studies/{}/consent-register", s.study))
        .await
        .assert_status(200);
    let page = pages
        .get(&format!(
            "/studies/{}/consent-register.csv?status=current",
            s.study
        ))
        .await;
    page.assert_status(200);
    assert_eq!(read_csv(&page.text).len(), 2);
    let exports = sqlx::query("SELECT details, entity_type FROM audit_log WHERE action = 'consent.register_export' ORDER BY seq")
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap();
    assert_eq!(exports.len(), 2);
    let details: Vec<Value> = exports
        .iter()
        .map(|r| serde_json::from_str(&r.get::<String, _>(0)).unwrap())
        .collect();
    assert_eq!(details[0], json!({ "filter": {}, "rows": 2 }));
    assert_eq!(
        details[1],
        json!({ "filter": { "status": "current" }, "rows": 1 })
    );

    // No identity in anything the register gives out.
    let register = get(
        &t,
        &reviewer,
        &format!("/studies/{}/consent-register", s.study),
    )
    .await
    .text()
    .await
    .unwrap();
    let register_page = pages
        .get(&format!("/studies/{}/consent-register", s.study))
        .await;
    let record_page = pages
        .get(&format!("/studies/{}/consent-records/{record}", s.study))
        .await;
    record_page.assert_status(200);
    for body in [
        &register,
        &text,
        &page.text,
        &register_page.text,
        &record_page.text,
    ] {
        for secret in [NAME, "Okonkwo", EMAIL, "Someone Typed"] {
            assert!(!body.contains(secret), "{secret} leaked");
        }
    }
}

/// A record's page: answers in the form's order and words, the records it
/// replaced and was replaced by linked both ways, staff named and the
/// participant never.
async fn a_record_page_reads_as_the_form_and_links_its_neighbours(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let admin = t.admin().await;
    let id = |r: Value| r["id"].as_str().unwrap().to_owned();
    let first = id(take(&t, &s, &answers(&s, &[], "no"))
        .await
        .json()
        .await
        .unwrap());
    let second = id(take(&t, &s, &answers(&s, &[], "yes"))
        .await
        .json()
        .await
        .unwrap());
    let (_, mut pages) = member(&t, &admin, &s.study, "Vera Reviewer", "reviewer", &[]).await;
    let page = |record: &str| format!("/studies/{}/consent-records/{record}", s.study);
    let older = pages.get(&page(&first)).await;
    older.assert_status(200);
    assert!(
        older.text.contains(&format!("href=\"{}\"", page(&second))),
        "{}",
        older.text
    );
    let newer = pages.get(&page(&second)).await;
    assert!(
        newer.text.contains(&format!("href=\"{}\"", page(&first))),
        "{}",
        newer.text
    );
    // The form's first two statements, in its order, in its words.
    let read = older
        .text
        .find("I confirm that I have read and understood")
        .unwrap();
    let asked = older
        .text
        .find("I have had the chance to think about the information")
        .unwrap();
    assert!(read < asked);
    assert!(
        older.text.contains("<strong>Declined</strong>")
            && newer.text.contains("<strong>Agreed</strong>")
    );
    let researcher: String =
        sqlx::query_scalar("SELECT display_name FROM accounts WHERE email = $1")
            .bind(&s.researcher_email)
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    assert!(
        older.text.contains(&format!("<td>{researcher}</td>")),
        "{}",
        older.text
    );
    assert!(!older.text.contains("account:"), "{}", older.text);
    assert!(!older.text.contains(NAME));
    // The register summarises each record's answers, every one a click away,
    // and its filters say what an empty choice means.
    let register = pages
        .get(&format!("/studies/{}/consent-register", s.study))
        .await;
    assert!(
        register.text.contains("Agreed 14 of 14."),
        "{}",
        register.text
    );
    assert!(
        register
            .text
            .contains("Agreed 5 of 14; said no to audio recording, video recording"),
        "{}",
        register.text
    );
    assert!(register
        .text
        .contains(r#"<option value="">All statuses</option>"#));
    assert!(
        register.text.contains("(participation)</option>"),
        "{}",
        register.text
    );
}

async fn reviewers_reach_the_register_and_copies_but_no_identity(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let admin = t.admin().await;
    let record = take(&t, &s, &answers(&s, &[], "no"))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (reviewer, mut pages) =
        member(&t, &admin, &s.study, "Vera Reviewer", "reviewer", &[]).await;
    let study_page = pages.get(&format!("/studies/{}", s.study)).await;
    assert!(study_page
        .text
        .contains(&format!("href=\"/studies/{}/consent-register\"", s.study)));
    // The study says which consent forms are published, and reads its values.
    for wanted in [
        "<code>participation</code>, version 1",
        "<code>participation-easy-read</code>, version 1, easy read",
        "Public task: UK GDPR Art 6(1)(e)",
    ] {
        assert!(
            study_page.text.contains(wanted),
            "{wanted}:\n{}",
            study_page.text
        );
    }
    let page = pages
        .get(&format!("/studies/{}/consent-register", s.study))
        .await;
    page.assert_status(200);
    assert!(
        page.text.contains("Audit trail checked just now"),
        "{}",
        page.text
    );
    assert!(page.text.contains(&format!(
        "/studies/{}/consent-records/{record}/pdf",
        s.study
    )));
    assert!(page.text.contains("<caption id=\"records-caption\">"));
    let detail = pages
        .get(&format!("/studies/{}/consent-records/{record}", s.study))
        .await;
    detail.assert_status(200);
    assert!(detail.text.contains("consent: record"), "{}", detail.text);
    assert!(!detail.text.contains("participant.enrol"));
    let pdf = pages
        .get(&format!(
            "/studies/{}/consent-records/{record}/pdf",
            s.study
        ))
        .await;
    pdf.assert_status(200);
    assert_eq!(pdf.header("content-type"), "application/pdf");
    let r = t
        .api(
            Method::POST,
            &format!(
                "/studies/{}/participants/{}/identity",
                s.study, s.participant
            ),
            Some(&reviewer),
        )
        .json(&json!({ "reason": "curious" }))
        .send()
        .await
        .unwrap();
    assert!(matches!(r.status().as_u16(), 403 | 404));
    assert_eq!(
        get(&t, &reviewer, &format!("/studies/{}/participants", s.study))
            .await
            .status(),
        403
    );

    // A researcher limited to another site sees none of this site's records.
    let other_site = t.site(&admin, &s.study, "Elsewhere").await;
    let (away, mut away_pages) = member(
        &t,
        &admin,
        &s.study,
        "Sid Site",
        "researcher",
        &[&other_site],
    )
    .await;
    let theirs = t
        .get_json(&away, &format!("/studies/{}/consent-register", s.study))
        .await;
    assert!(record_ids(&theirs).is_empty());
    away_pages
        .get(&format!("/studies/{}/consent-records/{record}", s.study))
        .await
        .assert_status(404);

    // Analysts and participants are refused; outsiders do not see the study.
    for (role, status) in [("analyst", 403), ("participant", 403), ("", 404)] {
        let (token, mut p) = member(&t, &admin, &s.study, "Nobody Here", role, &[]).await;
        for path in ["consent-register", "consent-register.csv"] {
            let path = format!("/studies/{}/{path}", s.study);
            assert_eq!(
                get(&t, &token, &path).await.status(),
                status,
                "{role} {path}"
            );
            p.get(&path).await.assert_status(status);
        }
        p.get(&format!("/studies/{}/consent-records/{record}", s.study))
            .await
            .assert_status(status);
    }
    let exports: i64 =
        sqlx::query("SELECT COUNT(*) FROM audit_log WHERE action = 'consent.register_export'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap()
            .get(0);
    assert_eq!(exports, 0, "refused downloads are not exports");
}

on_both_engines!(
    statuses_follow_records_forms_and_withdrawals,
    the_csv_reads_back_defuses_formulas_and_is_audited,
    reviewers_reach_the_register_and_copies_but_no_identity,
    a_record_page_reads_as_the_form_and_links_its_neighbours,
);
