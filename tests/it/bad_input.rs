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

/// Sends the request and reads the problem it is answered with.
async fn sent(rb: reqwest::RequestBuilder) -> (u16, Value) {
    problem(rb.send().await.unwrap()).await
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
        // PostgreSQL cannot store a NUL character; it is refused as malformed.
        {
            let mut v = study_json();
            v["title"] = json!("Designing\u{0}Together");
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
    // Found by schemathesis: a NUL in a sign-in address was a 500 on PostgreSQL.
    let sign_in = t
        .api(Method::POST, "/sessions", None)
        .json(&json!({ "email": "a\u{0}@example.ac.uk", "password": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(sign_in).await.0, 400);
    let reason = t
        .api(
            Method::PUT,
            "/studies/01a20df2-9508-7659-9ea5-d950a681cd34?reason=a%00b",
            Some(&admin),
        )
        .json(&study_json())
        .send()
        .await
        .unwrap();
    assert_eq!(problem(reason).await.0, 400);
    assert_eq!(count(&t, "studies").await, 0);
}

async fn a_refused_change_writes_nothing_and_names_every_bad_field(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let entries_before = count(&t, "audit_log").await;
    // What the schema declares (enumerations, patterns, ranges) is refused as
    // malformed (400) and names the field; what only the rules know (a title
    // of spaces, a control character) is refused with every field named (422).
    for (field, body) in [
        (
            "slug",
            json!({ "title": "T", "slug": "Not A Slug", "lawful_basis": "public_task", "retention_years": 1, "status": "setup" }),
        ),
        (
            "vibes",
            json!({ "title": "T", "slug": "ok-slug", "lawful_basis": "vibes", "retention_years": 1, "status": "setup" }),
        ),
        (
            "retention_years",
            json!({ "title": "T", "slug": "ok-slug", "lawful_basis": "public_task", "retention_years": 0, "status": "setup" }),
        ),
    ] {
        let (status, p) = sent(t.api(Method::POST, "/studies", Some(&admin)).json(&body)).await;
        assert_eq!(status, 400, "{p}");
        assert!(p["detail"].as_str().unwrap().contains(field), "{p}");
    }
    let body = json!({ "title": "   ", "slug": "ok-slug", "rec_reference": "24/LO\u{7}/0123",
                       "lawful_basis": "public_task", "retention_years": 10, "status": "setup" });
    let (status, p) = sent(t.api(Method::POST, "/studies", Some(&admin)).json(&body)).await;
    assert_eq!(status, 422);
    assert_eq!(p["type"], "urn:fieldkit:problem:validation");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "rec_reference"]);
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
    let (status, p) = sent(
        t.api(Method::POST, "/studies", Some(&admin))
            .json(&study_json()),
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
    let (status, p) = sent(t.api(Method::POST, "/studies", Some(&admin)).json(&big)).await;
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
    let (status, p) = sent(t.api(Method::GET, "/no-such-thing", Some(&admin))).await;
    assert_eq!(
        (status, p["type"].as_str().unwrap()),
        (404, "urn:fieldkit:problem:not-found")
    );
    let r = t
        .api(Method::PATCH, "/studies", Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "GET, HEAD, POST");
    assert_eq!(problem(r).await.0, 405);
    let r = t.http.delete(t.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD, POST");
    // Headers past 16 KiB: 431, before anything else is read.
    let (status, p) = sent(
        t.api(Method::GET, "/studies", Some(&admin))
            .header("x-padding", "x".repeat(17 * 1024)),
    )
    .await;
    assert_eq!(
        (status, p["type"].as_str().unwrap()),
        (431, "urn:fieldkit:problem:request-header-fields-too-large")
    );
    // An administrator's token for a study that does not exist (found by
    // schemathesis as a 500 from the foreign key).
    let (status, _) = sent(t.api(Method::POST, "/me/tokens", Some(&admin))
            .json(&json!({ "name": "script", "study_id": uuid::Uuid::now_v7().to_string(), "permissions": ["view_study"], "days": 30 }))).await;
    assert_eq!(status, 404);
    // An id that is not an id is malformed (400); one that is but names
    // nothing you can see is not found (404).
    for (id, status) in [
        ("not-an-id", 400),
        ("' OR 1=1 --", 400),
        (uuid::Uuid::now_v7().to_string().as_str(), 404),
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
        assert_eq!(problem(r).await.0, status, "{id}");
    }
    let page = t.http.get(t.url("/no/such/page")).send().await.unwrap();
    assert_eq!(page.status(), 404);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<h1")
            && html.contains("Page not found")
            && html.contains("check you copied the whole address"),
        "{html}"
    );
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
    let (status, p) = sent(t.api(Method::GET, &format!("/studies/{theirs}"), Some(&session))).await;
    assert_eq!(
        (status, p["type"].as_str().unwrap()),
        (404, "urn:fieldkit:problem:not-found")
    );
    let (status, _) = sent(t.api(
        Method::GET,
        &format!("/studies/{theirs}/members"),
        Some(&session),
    ))
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
        let (status, p) = sent(t.api(Method::GET, "/me", token)).await;
        assert_eq!(
            (status, p["type"].as_str().unwrap()),
            (401, "urn:fieldkit:problem:unauthenticated"),
            "{token:?}"
        );
    }
    t.app.clock.advance(13 * fieldkit::clock::HOUR);
    let (status, _) = sent(t.api(Method::GET, "/me", Some(&admin))).await;
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
    // A form body as sent, raw, with the page's cookies.
    let post = |body: Vec<u8>| {
        t.http
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
            .body(body)
            .send()
    };
    let r = post(vec![b'e', b'm', b'a', b'i', b'l', b'=', 0xff, 0xfe])
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("not valid UTF-8"), "{html}");
    let csrf = page.csrf.clone().unwrap();
    let r = post(format!("csrf_token={csrf}&email=a%00b&password=x").into_bytes())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("NUL character"));
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
