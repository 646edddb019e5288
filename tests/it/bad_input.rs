//! Bad input gets a clear 4xx (problem+json in the API, a readable page
//! otherwise) and leaves nothing half-written. Never a 500.

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::support::{spawn, spawn_with, Engine, TestApp};

async fn problem(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(
        ct, "application/problem+json",
        "status {status} with content type {ct}"
    );
    (status, r.json().await.unwrap())
}

async fn count(t: &TestApp, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0)
}

fn study_json() -> Value {
    json!({ "title": "T", "slug": "bad-input", "lawful_basis": "public_task", "retention_years": 10, "status": "setup" })
}

async fn malformed_json_wrong_types_and_unknown_fields_are_400_problems(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let send = |body: String| {
        t.api(Method::POST, "/studies", Some(&admin))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in [
        "{\"title\": ".to_owned(),
        json!({ "title": 5, "slug": "x", "lawful_basis": "public_task", "retention_years": "ten", "status": "setup" }).to_string(),
        {
            let mut v = study_json();
            v["surprise"] = json!(true);
            v.to_string()
        },
    ] {
        let (status, p) = problem(send(body.clone()).await.unwrap()).await;
        assert_eq!(status, 400, "{body}: {p}");
        assert_eq!(p["type"], "urn:fieldkit:problem:bad-request");
        assert!(!p["detail"].as_str().unwrap().is_empty());
        assert!(p["request_id"].as_str().is_some_and(|id| id.len() == 32));
    }
    let invalid_utf8 = t
        .api(Method::POST, "/studies", Some(&admin))
        .header("content-type", "application/json")
        .body(vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'])
        .send()
        .await
        .unwrap();
    assert_eq!(problem(invalid_utf8).await.0, 400);
    let wrong_type = t
        .api(Method::POST, "/studies", Some(&admin))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let (status, _) = problem(wrong_type).await;
    assert!((400..500).contains(&status), "{status}");
    assert_eq!(count(&t, "studies").await, 0);
}

async fn a_refused_change_writes_nothing_and_names_every_bad_field(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let entries_before = count(&t, "audit_log").await;
    let body = json!({ "title": "", "slug": "Not A Slug", "lawful_basis": "vibes", "retention_years": 0, "status": "setup" });
    let (status, p) = problem(
        t.api(Method::POST, "/studies", Some(&admin))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(p["type"], "urn:fieldkit:problem:validation");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "slug", "lawful_basis", "retention_years"]);
    assert_eq!(count(&t, "studies").await, 0);
    assert_eq!(
        count(&t, "audit_log").await,
        entries_before,
        "a refused change left an audit entry"
    );

    // A duplicate slug: refused as a conflict, and the first study is untouched.
    let ok = t
        .api(Method::POST, "/studies", Some(&admin))
        .json(&study_json())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let entries = count(&t, "audit_log").await;
    let (status, p) = problem(
        t.api(Method::POST, "/studies", Some(&admin))
            .json(&study_json())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, p["type"].as_str().unwrap()),
        (409, "urn:fieldkit:problem:conflict")
    );
    assert_eq!(count(&t, "studies").await, 1);
    assert_eq!(count(&t, "audit_log").await, entries);
}

async fn oversize_bodies_are_refused_with_413(engine: Engine) {
    let Some(t) = spawn_with(engine, |c| c.max_body_bytes = 4096).await else {
        return;
    };
    let admin = t.admin().await;
    let big = json!({ "title": "x".repeat(10_000), "slug": "big", "lawful_basis": "public_task", "retention_years": 10, "status": "setup" });
    let (status, p) = problem(
        t.api(Method::POST, "/studies", Some(&admin))
            .json(&big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, p["type"].as_str().unwrap()),
        (413, "urn:fieldkit:problem:payload-too-large")
    );
    // Without a Content-Length (chunked), the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 1000])).collect();
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = t
        .api(Method::POST, "/studies", Some(&admin))
        .header("content-type", "application/json")
        .body(stream)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, 413);
    let page = t
        .http
        .post(t.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=".repeat(5000))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 413);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(count(&t, "studies").await, 0);
}

async fn unknown_routes_methods_and_ids_are_clear_4xx(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (status, p) = problem(
        t.api(Method::GET, "/no-such-thing", Some(&admin))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, p["type"].as_str().unwrap()),
        (404, "urn:fieldkit:problem:not-found")
    );
    let r = t
        .api(Method::PATCH, "/studies", Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, 405);
    for id in [
        "not-an-id",
        "' OR 1=1 --",
        &uuid::Uuid::now_v7().to_string(),
    ] {
        let r = t
            .api(
                Method::GET,
                &format!("/studies/{}", urlencode(id)),
                Some(&admin),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 404, "{id}");
    }
    let page = t.http.get(t.url("/no/such/page")).send().await.unwrap();
    assert_eq!(page.status(), 404);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1") && html.contains("Not Found"), "{html}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn a_study_that_is_not_yours_is_not_found(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let mine = t.study(&admin, "mine").await;
    let theirs = t.study(&admin, "theirs").await;
    let (id, email) = t.person(&admin, "Rita Researcher").await;
    t.member(&admin, &mine, &id, "researcher", &[]).await;
    let session = t.sign_in(&email, crate::support::PASSWORD).await;
    assert_eq!(
        t.api(Method::GET, &format!("/studies/{mine}"), Some(&session))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, p) = problem(
        t.api(Method::GET, &format!("/studies/{theirs}"), Some(&session))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, p["type"].as_str().unwrap()),
        (404, "urn:fieldkit:problem:not-found")
    );
    let (status, _) = problem(
        t.api(
            Method::GET,
            &format!("/studies/{theirs}/members"),
            Some(&session),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let mut page = t.pages();
    page.sign_in(&email, crate::support::PASSWORD)
        .await
        .assert_status(303);
    page.get(&format!("/studies/{theirs}"))
        .await
        .assert_status(404);
}

async fn missing_expired_and_garbage_credentials_are_401_problems(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    for token in [None, Some("fks_garbage"), Some("fkt_garbage"), Some("")] {
        let (status, p) = problem(t.api(Method::GET, "/me", token).send().await.unwrap()).await;
        assert_eq!(
            (status, p["type"].as_str().unwrap()),
            (401, "urn:fieldkit:problem:unauthenticated"),
            "{token:?}"
        );
    }
    t.app.clock.advance(13 * fieldkit::clock::HOUR);
    let (status, _) = problem(
        t.api(Method::GET, "/me", Some(&admin))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    // A page behind sign-in sends a signed-out visitor to the sign-in page.
    let r = t.http.get(t.url("/account")).send().await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["location"].to_str().unwrap()
        ),
        (303, "/login")
    );
}

async fn forms_with_bad_encoding_get_a_readable_page(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let mut page = t.pages();
    page.get("/login").await.assert_status(200);
    let r = t
        .http
        .post(t.url("/login"))
        .header(
            "cookie",
            page.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'e', b'm', b'a', b'i', b'l', b'=', 0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("not valid UTF-8"), "{html}");
    let r = t
        .http
        .post(t.url("/login"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

on_both_engines!(
    malformed_json_wrong_types_and_unknown_fields_are_400_problems,
    a_refused_change_writes_nothing_and_names_every_bad_field,
    oversize_bodies_are_refused_with_413,
    unknown_routes_methods_and_ids_are_clear_4xx,
    a_study_that_is_not_yours_is_not_found,
    missing_expired_and_garbage_credentials_are_401_problems,
    forms_with_bad_encoding_get_a_readable_page,
);
