//! Signing in and staying safe: first-run setup, sign-in answers that give
//! nothing away, throttling, sessions and their cookie, CSRF, password rules
//! and rehashing, API tokens, password resets, invitations and audited role
//! changes. Everything goes through HTTP; the database is only read to check
//! what was stored.

use fieldkit::clock::{DAY, HOUR, MINUTE};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::support::{spawn, spawn_with, Engine, PageClient, TestApp, PASSWORD};

const SESSION_COOKIE: &str = "__Host-fieldkit_session";
const NEW_PASSWORD: &str = "violet harbour copper meadow";

// Helpers for this file.

/// A sign-in through the API, answer unread.
async fn try_sign_in(t: &TestApp, email: &str, password: &str) -> reqwest::Response {
    try_sign_in_from(t, None, email, password).await
}

/// A sign-in through the API with an X-Forwarded-For header, answer unread.
async fn try_sign_in_from(
    t: &TestApp,
    forwarded_for: Option<&str>,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let mut rb = t
        .api(Method::POST, "/sessions", None)
        .json(&json!({ "email": email, "password": password }));
    if let Some(xff) = forwarded_for {
        rb = rb.header("x-forwarded-for", xff);
    }
    rb.send().await.unwrap()
}

/// The status of GET /api/v1/me with a token: 200 while it works, 401 once it does not.
async fn me_status(t: &TestApp, token: &str) -> u16 {
    t.api(Method::GET, "/me", Some(token))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn me(t: &TestApp, token: &str) -> Value {
    let r = t.api(Method::GET, "/me", Some(token)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// An administrator's change to an account through the API; returns the status.
async fn change_account(t: &TestApp, admin: &str, account: &str, change: &str) -> u16 {
    t.api(
        Method::POST,
        &format!("/accounts/{account}/changes"),
        Some(admin),
    )
    .json(&json!({ "change": change }))
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

/// Changes one's own password through the API: (status, body or Null).
async fn change_password(t: &TestApp, session: &str, current: &str, new: &str) -> (u16, Value) {
    let r = t
        .api(Method::POST, "/me/password", Some(session))
        .json(&json!({ "current_password": current, "new_password": new }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

fn session_in(browser: &PageClient) -> String {
    browser
        .cookies
        .get(SESSION_COOKIE)
        .cloned()
        .expect("the browser holds a session cookie")
}

/// Posts a form with the browser's cookies but no csrf_token field at all.
async fn post_without_csrf(
    t: &TestApp,
    browser: &PageClient,
    path: &str,
    fields: &[(&str, &str)],
) -> u16 {
    let cookies = browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    t.http
        .post(t.url(path))
        .header("cookie", cookies)
        .form(fields)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn count(t: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query(sql)
        .bind(bind)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get::<i64, _>(0)
}

/// Audit entries with an action, oldest first, each as JSON with every column.
async fn audit_entries(t: &TestApp, action: &str) -> Vec<Value> {
    sqlx::query(
        "SELECT actor, role, entity_type, entity_id, study_id, reason, details, prev_hash, hash
         FROM audit_log WHERE action = $1 ORDER BY seq",
    )
    .bind(action)
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        json!({
            "actor": r.get::<String, _>(0),
            "role": r.get::<String, _>(1),
            "entity_type": r.get::<String, _>(2),
            "entity_id": r.get::<String, _>(3),
            "study_id": r.get::<Option<String>, _>(4),
            "reason": r.get::<Option<String>, _>(5),
            "details": serde_json::from_str::<Value>(&r.get::<String, _>(6)).unwrap(),
            "prev_hash": r.get::<String, _>(7),
            "hash": r.get::<String, _>(8),
        })
    })
    .collect()
}

fn unique_email(name: &str) -> String {
    format!("{name}-{}@example.ac.uk", uuid::Uuid::new_v4().simple())
}

/// A password of exactly `bytes` bytes (ending in a two-byte character, so
/// bytes and characters differ) that breaks no other rule.
fn password_of_bytes(bytes: usize) -> String {
    let mut p: String = "correct horse battery staple ".repeat(40)[..bytes - 2].to_owned();
    p.push('é');
    assert_eq!(p.len(), bytes);
    p
}

/// The path and the token of a one-time link (as found in an email).
fn split_link(link: &str) -> (&str, &str) {
    let (path, query) = link.split_once('?').expect("a link with a query");
    (path, query.strip_prefix("token=").expect("a token"))
}

// 1. First-run setup

/// A fresh setup link, as a path and query.
async fn setup_link(t: &TestApp) -> String {
    let link = fieldkit::auth::service::setup_link_if_needed(&t.app)
        .await
        .unwrap()
        .expect("a setup link while there is no administrator");
    link.strip_prefix(&t.base)
        .expect("a link to this server")
        .to_owned()
}

async fn the_setup_link_creates_the_first_administrator_and_works_only_once(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let link = fieldkit::auth::service::setup_link_if_needed(&t.app)
        .await
        .unwrap()
        .expect("a setup link while there is no administrator");
    let path_and_query = link.strip_prefix(&t.base).expect("a link to this server");
    let (path, token) = split_link(path_and_query);
    assert_eq!(path, "/setup");

    let mut browser = t.pages();
    let form = browser.get(path_and_query).await;
    form.assert_status(200);
    assert!(form.text.contains("Create the first administrator"));
    let email = unique_email("first.admin");
    let r = browser
        .post(
            "/setup",
            &[
                ("token", token),
                ("email", &email),
                ("display_name", "Grace Hopper"),
                ("password", PASSWORD),
            ],
        )
        .await;
    r.assert_status(303);
    assert_eq!(r.location(), "/login?done=admin-created");

    let session = t.sign_in(&email, PASSWORD).await;
    let who = me(&t, &session).await;
    assert_eq!(who["is_admin"], true);
    assert_eq!(who["display_name"], "Grace Hopper");

    // The same link, a second time: refused, and nobody else becomes admin.
    let r = browser.get(path_and_query).await;
    r.assert_status(403);
    assert!(
        r.text.contains("expired or has already been used"),
        "{}",
        r.text
    );
    let mut other = t.pages();
    other.get("/login").await.assert_status(200);
    let intruder = unique_email("second.admin");
    let r = other
        .post(
            "/setup",
            &[
                ("token", token),
                ("email", &intruder),
                ("display_name", "Mallory"),
                ("password", PASSWORD),
            ],
        )
        .await;
    r.assert_status(403);
    assert!(
        r.text.contains("expired or has already been used"),
        "{}",
        r.text
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM accounts WHERE email = $1",
            &intruder
        )
        .await,
        0
    );
    assert_eq!(try_sign_in(&t, &intruder, PASSWORD).await.status(), 401);

    // With an administrator in place there is no setup link any more.
    assert_eq!(
        fieldkit::auth::service::setup_link_if_needed(&t.app)
            .await
            .unwrap(),
        None
    );
}

async fn a_setup_link_older_than_an_hour_or_replaced_by_a_newer_one_is_refused(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let old = setup_link(&t).await;
    let mut browser = t.pages();
    browser.get(&old).await.assert_status(200);
    t.app.clock.advance(HOUR + MINUTE);
    let r = browser.get(&old).await;
    r.assert_status(403);
    assert!(
        r.text.contains("expired or has already been used"),
        "{}",
        r.text
    );
    // Posting the form that was opened in time does not help either.
    let email = unique_email("late.admin");
    let r = browser
        .post(
            "/setup",
            &[
                ("token", split_link(&old).1),
                ("email", &email),
                ("display_name", "Late Larry"),
                ("password", PASSWORD),
            ],
        )
        .await;
    r.assert_status(403);
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM accounts WHERE email = $1", &email).await,
        0
    );

    // A fresh link works within the hour, but only the newest one does.
    let first = setup_link(&t).await;
    let second = setup_link(&t).await;
    browser.get(&first).await.assert_status(403);
    browser.get(&second).await.assert_status(200);
    t.app.clock.advance(59 * MINUTE);
    browser.get(&second).await.assert_status(200);
}

// 2. Sign-in answers give nothing away

async fn unknown_account_wrong_password_and_disabled_account_get_the_same_answer(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, known) = t.person(&admin, "Wrong Password").await;
    let (disabled_id, disabled) = t.person(&admin, "Disabled Person").await;
    assert_eq!(
        change_account(&t, &admin, &disabled_id, "disable").await,
        204
    );
    let unknown = unique_email("nobody");
    let attempts = [
        (unknown.as_str(), PASSWORD),
        (known.as_str(), "not the password at all"),
        // A disabled account is refused even with its right password.
        (disabled.as_str(), PASSWORD),
    ];

    let mut api_answers = Vec::new();
    for (email, password) in attempts {
        let r = try_sign_in(&t, email, password).await;
        assert_eq!(r.status(), 401, "{email}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{email}"
        );
        let mut body: Value = r.json().await.unwrap();
        assert!(body.get("token").is_none());
        body.as_object_mut().unwrap().remove("request_id");
        api_answers.push(body);
    }
    assert_eq!(
        api_answers[0]["type"],
        "urn:fieldkit:problem:unauthenticated"
    );
    assert_eq!(api_answers[0], api_answers[1], "unknown vs wrong password");
    assert_eq!(api_answers[0], api_answers[2], "unknown vs disabled");

    let mut browser = t.pages();
    browser.get("/login").await.assert_status(200);
    let mut page_answers = Vec::new();
    for (email, password) in attempts {
        let r = browser
            .post("/login", &[("email", email), ("password", password)])
            .await;
        r.assert_status(401);
        assert!(!browser.cookies.contains_key(SESSION_COOKIE));
        assert!(
            r.text
                .contains("The email address or password is not right."),
            "{}",
            r.text
        );
        // The form echoes the address typed; apart from that the pages are identical.
        page_answers.push(r.text.replace(email, "EMAIL"));
    }
    assert_eq!(
        page_answers[0], page_answers[1],
        "unknown vs wrong password"
    );
    assert_eq!(page_answers[0], page_answers[2], "unknown vs disabled");
}

// 3. Throttling per account

async fn five_failed_sign_ins_lock_an_account_with_growing_delays_until_an_admin_unlocks_it(
    engine: Engine,
) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (id, email) = t.person(&admin, "Locked Out").await;
    for attempt in 1..=5 {
        let r = try_sign_in(&t, &email, "a wrong guess, again").await;
        assert_eq!(r.status(), 401, "failed attempt {attempt}");
    }

    // The sixth attempt is refused even with the right password.
    let r = try_sign_in(&t, &email, PASSWORD).await;
    assert_eq!(r.status(), 429);
    let first_delay = retry_after(&r);
    assert!((1..=30).contains(&first_delay), "{first_delay}");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "urn:fieldkit:problem:too-many-requests");
    // Pages say the same.
    let mut browser = t.pages();
    let r = browser.sign_in(&email, PASSWORD).await;
    r.assert_status(429);
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert!(r.text.contains("Too many attempts"), "{}", r.text);
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));

    // After the delay, one more failure blocks for longer.
    t.app.clock.advance((first_delay as i64 + 1) * 1000);
    assert_eq!(
        try_sign_in(&t, &email, "still the wrong guess")
            .await
            .status(),
        401
    );
    let r = try_sign_in(&t, &email, PASSWORD).await;
    assert_eq!(r.status(), 429);
    let second_delay = retry_after(&r);
    assert!(
        second_delay > first_delay,
        "{second_delay} after {first_delay}"
    );

    // An administrator's unlock lets the right password in again.
    assert_eq!(change_account(&t, &admin, &id, "unlock").await, 204);
    assert_eq!(try_sign_in(&t, &email, PASSWORD).await.status(), 200);
    assert_eq!(audit_entries(&t, "auth.unlock").await.len(), 1);

    // Every failure is in the audit trail, by account id and never by address;
    // an unknown address is named by a keyed reference.
    let unknown = unique_email("never.registered");
    assert_eq!(try_sign_in(&t, &unknown, PASSWORD).await.status(), 401);
    let failures = audit_entries(&t, "auth.login_failed").await;
    assert_eq!(failures.len(), 7, "{failures:#?}");
    for entry in &failures[..6] {
        assert_eq!(entry["entity_id"], id.as_str());
    }
    assert!(failures[6]["entity_id"]
        .as_str()
        .unwrap()
        .starts_with("email-ref:"));
    for entry in &failures {
        let all_columns = entry.to_string().to_lowercase();
        for secret in [&email, &unknown] {
            let local_part = secret.split('@').next().unwrap();
            assert!(
                !all_columns.contains(local_part),
                "{secret} in the audit trail: {entry}"
            );
        }
    }
}

// 4. Throttling per client address

async fn thirty_failures_from_one_address_behind_a_trusted_proxy_block_that_address_only(
    engine: Engine,
) {
    let Some(t) = spawn_with(engine, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]
    })
    .await
    else {
        return;
    };
    let real = unique_email("real.person");
    fieldkit::auth::service::create_admin_directly(&t.app, &real, "Real Person", PASSWORD)
        .await
        .unwrap();
    let attacker = "203.0.113.9";
    for i in 0..30 {
        let r = try_sign_in_from(
            &t,
            Some(attacker),
            &unique_email(&format!("guess{i}")),
            PASSWORD,
        )
        .await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = try_sign_in_from(&t, Some(attacker), &unique_email("guess30"), PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r) >= 1);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "urn:fieldkit:problem:too-many-requests");
    // Even a real account with its right password is refused from there...
    assert_eq!(
        try_sign_in_from(&t, Some(attacker), &real, PASSWORD)
            .await
            .status(),
        429
    );
    // ...and an address the client put in front of the proxy's entry changes nothing.
    let spoofed = format!("198.51.100.50, {attacker}");
    assert_eq!(
        try_sign_in_from(&t, Some(&spoofed), &real, PASSWORD)
            .await
            .status(),
        429
    );

    // Other clients behind the same proxy are not affected.
    let neighbour = "198.51.100.7";
    let r = try_sign_in_from(&t, Some(neighbour), &unique_email("typo"), PASSWORD).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        try_sign_in_from(&t, Some(neighbour), &real, PASSWORD)
            .await
            .status(),
        200
    );
}

async fn without_a_trusted_proxy_x_forwarded_for_is_ignored(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    // Thirty failures, each claiming a different forwarded address.
    for i in 0..30 {
        let r = try_sign_in_from(
            &t,
            Some(&format!("203.0.113.{}", i + 1)),
            &unique_email(&format!("guess{i}")),
            PASSWORD,
        )
        .await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    // They all counted for the real peer, 127.0.0.1, whatever the header says.
    let r = try_sign_in_from(&t, Some("198.51.100.7"), &unique_email("fresh"), PASSWORD).await;
    assert_eq!(r.status(), 429);
    let r = try_sign_in_from(&t, None, &unique_email("plain"), PASSWORD).await;
    assert_eq!(r.status(), 429);
}

async fn concurrent_failures_below_the_threshold_block_nobody_and_all_count(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let real = unique_email("busy.office");
    fieldkit::auth::service::create_admin_directly(&t.app, &real, "Busy Office", PASSWORD)
        .await
        .unwrap();
    // 29 failures at once from one address (say, a shared office connection).
    let attempts: Vec<_> = (0..29)
        .map(|i| {
            let request = t
                .api(Method::POST, "/sessions", None)
                .json(&json!({ "email": unique_email(&format!("typo{i}")), "password": PASSWORD }));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    // Below the threshold, nobody at that address is kept out...
    assert_eq!(try_sign_in(&t, &real, PASSWORD).await.status(), 200);
    // ...and every one of the 29 was counted: the 30th failure blocks.
    assert_eq!(
        try_sign_in(&t, &unique_email("typo29"), PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(try_sign_in(&t, &real, PASSWORD).await.status(), 429);
}

// 5. Sessions

async fn every_sign_in_gets_a_new_token_and_a_browser_keeps_only_its_newest_session(
    engine: Engine,
) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Two Tabs").await;
    let a = t.sign_in(&email, PASSWORD).await;
    let b = t.sign_in(&email, PASSWORD).await;
    assert!(a.starts_with("fks_") && b.starts_with("fks_"));
    assert_ne!(a, b);
    // Stored only as a hash.
    let by_hash = "SELECT COUNT(*) FROM sessions WHERE token_hash = $1";
    assert_eq!(count(&t, by_hash, &a).await, 0);
    let hash = fieldkit::auth::service::secret_hash(&a);
    assert_eq!(count(&t, by_hash, &hash).await, 1);
    // Separate API clients keep their own sessions.
    assert_eq!(me_status(&t, &a).await, 200);
    assert_eq!(me_status(&t, &b).await, 200);

    let mut browser = t.pages();
    browser.sign_in(&email, PASSWORD).await.assert_status(303);
    let first = session_in(&browser);
    assert!(first != a && first != b);
    assert_eq!(me_status(&t, &first).await, 200);
    // Signing in again from the same browser: a new token, and the old one ends.
    browser.get("/").await.assert_status(200);
    browser
        .post("/login", &[("email", &email), ("password", PASSWORD)])
        .await
        .assert_status(303);
    let second = session_in(&browser);
    assert_ne!(first, second);
    assert_eq!(me_status(&t, &first).await, 401);
    assert_eq!(me_status(&t, &second).await, 200);
    assert_eq!(me_status(&t, &a).await, 200);
}

async fn logging_out_ends_the_session_from_pages_and_from_the_api(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Leaving Now").await;

    let mut browser = t.pages();
    browser.sign_in(&email, PASSWORD).await.assert_status(303);
    let token = session_in(&browser);
    assert_eq!(me_status(&t, &token).await, 200);
    browser.get("/account").await.assert_status(200);
    let r = browser.post("/logout", &[]).await;
    r.assert_status(303);
    assert_eq!(r.location(), "/login?done=signed-out");
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));
    assert_eq!(me_status(&t, &token).await, 401);
    // Putting the old cookie back does not sign the browser in again.
    browser.cookies.insert(SESSION_COOKIE.into(), token);
    let r = browser.get("/account").await;
    r.assert_status(303);
    assert_eq!(r.location(), "/login");

    let api = t.sign_in(&email, PASSWORD).await;
    let other = t.sign_in(&email, PASSWORD).await;
    let r = t
        .api(Method::DELETE, "/sessions/current", Some(&api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me_status(&t, &api).await, 401);
    // Only that session ended.
    assert_eq!(me_status(&t, &other).await, 200);
}

async fn a_session_ends_after_thirty_idle_minutes(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Coffee Break").await;
    let token = t.sign_in(&email, PASSWORD).await;
    // Activity keeps it alive...
    t.app.clock.advance(29 * MINUTE);
    assert_eq!(me_status(&t, &token).await, 200);
    t.app.clock.advance(29 * MINUTE);
    assert_eq!(me_status(&t, &token).await, 200);
    // ...thirty-one quiet minutes end it, for good.
    t.app.clock.advance(31 * MINUTE);
    assert_eq!(me_status(&t, &token).await, 401);
    assert_eq!(me_status(&t, &token).await, 401);

    let mut browser = t.pages();
    browser.sign_in(&email, PASSWORD).await.assert_status(303);
    browser.get("/account").await.assert_status(200);
    t.app.clock.advance(31 * MINUTE);
    let r = browser.get("/account").await;
    r.assert_status(303);
    assert_eq!(r.location(), "/login");
}

async fn a_session_ends_twelve_hours_after_sign_in_even_when_active(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Long Shift").await;
    let token = t.sign_in(&email, PASSWORD).await;
    // Active every twenty minutes for thirteen hours.
    for step in 1..=39 {
        t.app.clock.advance(20 * MINUTE);
        let expected = if step * 20 * MINUTE < 12 * HOUR {
            200
        } else {
            401
        };
        assert_eq!(
            me_status(&t, &token).await,
            expected,
            "after {} minutes",
            step * 20
        );
    }
}

async fn changing_the_password_ends_every_session_of_the_account(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Fresh Start").await;
    let (_, bystander) = t.person(&admin, "Bystander").await;
    let a = t.sign_in(&email, PASSWORD).await;
    let b = t.sign_in(&email, PASSWORD).await;
    let elsewhere = t.sign_in(&bystander, PASSWORD).await;
    let mut browser = t.pages();
    browser.sign_in(&email, PASSWORD).await.assert_status(303);
    browser.get("/account").await.assert_status(200);

    let (status, body) = change_password(&t, &a, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(me_status(&t, &a).await, 401);
    assert_eq!(me_status(&t, &b).await, 401);
    let r = browser.get("/account").await;
    r.assert_status(303);
    assert_eq!(r.location(), "/login");
    // Another account's session is untouched.
    assert_eq!(me_status(&t, &elsewhere).await, 200);
    assert_eq!(try_sign_in(&t, &email, PASSWORD).await.status(), 401);
    let c = t.sign_in(&email, NEW_PASSWORD).await;
    assert_eq!(me_status(&t, &c).await, 200);
}

async fn disabling_an_account_ends_its_sessions_for_good(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (id, email) = t.person(&admin, "Leaver").await;
    let token = t.sign_in(&email, PASSWORD).await;
    let mut browser = t.pages();
    browser.sign_in(&email, PASSWORD).await.assert_status(303);
    browser.get("/account").await.assert_status(200);

    assert_eq!(change_account(&t, &admin, &id, "disable").await, 204);
    assert_eq!(me_status(&t, &token).await, 401);
    let r = browser.get("/account").await;
    r.assert_status(303);
    assert_eq!(r.location(), "/login");
    assert_eq!(try_sign_in(&t, &email, PASSWORD).await.status(), 401);

    // Enabling the account again does not bring the old sessions back.
    assert_eq!(change_account(&t, &admin, &id, "enable").await, 204);
    assert_eq!(me_status(&t, &token).await, 401);
    browser.get("/account").await.assert_status(303);
    let fresh = t.sign_in(&email, PASSWORD).await;
    assert_eq!(me_status(&t, &fresh).await, 200);
}

async fn after_sign_in_only_same_site_paths_are_followed(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Link Follower").await;
    let cases = [
        ("/account", "/account"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        // Browsers drop tabs and newlines inside a URL, so these are "//evil.example/".
        ("/\t/evil.example/", "/"),
        ("/\n/evil.example/", "/"),
        ("/\r\n/evil.example/", "/"),
    ];
    for (next, expected) in cases {
        let mut browser = t.pages();
        browser.get("/login").await.assert_status(200);
        let r = browser
            .post(
                "/login",
                &[("email", &email), ("password", PASSWORD), ("next", next)],
            )
            .await;
        r.assert_status(303);
        assert_eq!(r.location(), expected, "next = {next:?}");
    }
}

// 6. The session cookie

async fn the_session_cookie_is_host_prefixed_secure_http_only_and_same_site_lax(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Cookie Check").await;
    let mut browser = t.pages();
    let r = browser.sign_in(&email, PASSWORD).await;
    r.assert_status(303);
    let set_cookies: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let cookie = set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")))
        .unwrap_or_else(|| panic!("no session cookie in {set_cookies:?}"));
    let mut parts = cookie.split(';').map(str::trim);
    let value = parts.next().unwrap().split_once('=').unwrap().1;
    assert!(value.starts_with("fks_") && value.len() >= 40, "{cookie}");
    let attrs: Vec<String> = parts.map(str::to_ascii_lowercase).collect();
    let has = |a: &str| attrs.iter().any(|x| x == a);
    assert!(has("secure"), "{cookie}");
    assert!(has("httponly"), "{cookie}");
    assert!(has("samesite=lax"), "{cookie}");
    assert!(has("path=/"), "{cookie}");
    assert!(
        !attrs.iter().any(|a| a.starts_with("domain")),
        "a __Host- cookie has no Domain: {cookie}"
    );
    assert_eq!(me_status(&t, value).await, 200);
}

// 7. CSRF

async fn forms_without_the_right_csrf_token_are_refused_and_change_nothing(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin_email = unique_email("csrf.admin");
    fieldkit::auth::service::create_admin_directly(&t.app, &admin_email, "Csrf Admin", PASSWORD)
        .await
        .unwrap();
    // Someone else's perfectly valid token is still the wrong one.
    let mut attacker = t.pages();
    attacker.get("/login").await.assert_status(200);
    let foreign = attacker.csrf.clone().unwrap();

    // POST /login
    let mut browser = t.pages();
    browser.get("/login").await.assert_status(200);
    let credentials = [("email", admin_email.as_str()), ("password", PASSWORD)];
    assert_eq!(
        post_without_csrf(&t, &browser, "/login", &credentials).await,
        403
    );
    let mut wrong = credentials.to_vec();
    wrong.push(("csrf_token", foreign.as_str()));
    let r = browser.post("/login", &wrong).await;
    r.assert_status(403);
    assert!(r.text.contains("did not come from this site"), "{}", r.text);
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));
    assert!(audit_entries(&t, "auth.login").await.is_empty());
    browser
        .sign_in(&admin_email, PASSWORD)
        .await
        .assert_status(303);
    let session = session_in(&browser);

    // POST /logout
    browser.get("/").await.assert_status(200);
    assert_eq!(post_without_csrf(&t, &browser, "/logout", &[]).await, 403);
    browser
        .post("/logout", &[("csrf_token", foreign.as_str())])
        .await
        .assert_status(403);
    assert_eq!(me_status(&t, &session).await, 200);

    // POST /account/password
    browser.get("/account").await.assert_status(200);
    let change = [
        ("current_password", PASSWORD),
        ("new_password", NEW_PASSWORD),
    ];
    assert_eq!(
        post_without_csrf(&t, &browser, "/account/password", &change).await,
        403
    );
    let mut wrong = change.to_vec();
    wrong.push(("csrf_token", foreign.as_str()));
    browser
        .post("/account/password", &wrong)
        .await
        .assert_status(403);
    assert_eq!(me_status(&t, &session).await, 200);
    assert_eq!(
        try_sign_in(&t, &admin_email, NEW_PASSWORD).await.status(),
        401
    );
    // Right, and the administrator's second factor comes next.
    assert_eq!(try_sign_in(&t, &admin_email, PASSWORD).await.status(), 202);

    // POST /admin/accounts
    browser.get("/admin/accounts").await.assert_status(200);
    let invitee = unique_email("csrf.invitee");
    let invite = [("email", invitee.as_str()), ("display_name", "Not Invited")];
    assert_eq!(
        post_without_csrf(&t, &browser, "/admin/accounts", &invite).await,
        403
    );
    let mut wrong = invite.to_vec();
    wrong.push(("csrf_token", foreign.as_str()));
    browser
        .post("/admin/accounts", &wrong)
        .await
        .assert_status(403);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM accounts WHERE email = $1",
            &invitee
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM outbox WHERE to_addr = $1",
            &invitee
        )
        .await,
        0
    );

    // The API never acts on the cookie, so it needs no CSRF token: without a
    // bearer token the same request is simply unauthenticated.
    let cookies = format!("{SESSION_COOKIE}={session}");
    let r = t
        .http
        .post(t.url("/api/v1/accounts"))
        .header("cookie", cookies)
        .json(&json!({ "email": invitee, "display_name": "Not Invited" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM accounts WHERE email = $1",
            &invitee
        )
        .await,
        0
    );

    // With the page's own token the same forms work.
    browser.get("/admin/accounts").await.assert_status(200);
    let r = browser.post("/admin/accounts", &invite).await;
    r.assert_status(303);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM accounts WHERE email = $1",
            &invitee
        )
        .await,
        1
    );
}

// 8. Password rules

async fn password_rules_are_enforced_with_reasons_when_changing_a_password(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Bartholomew Featherstonehaugh").await;
    let session = t.sign_in(&email, PASSWORD).await;
    let too_long = password_of_bytes(1025);

    let refused = [
        ("short pass", "at least 15 characters"),
        ("password1234567", "common"),
        ("Featherstonehaugh Bartholomew 7", "your name, email"),
        // The email address itself, as a password, is refused for the same reason.
        (email.as_str(), "your name, email"),
        (too_long.as_str(), "at most 1024 bytes"),
    ];
    for (password, reason) in refused {
        let (status, body) = change_password(&t, &session, PASSWORD, password).await;
        assert_eq!(status, 422, "{password}: {body}");
        assert_eq!(body["type"], "urn:fieldkit:problem:validation");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(reason), "{password}: {detail}");
    }
    // Nothing changed and nobody was signed out.
    assert_eq!(me_status(&t, &session).await, 200);

    let longest = password_of_bytes(1024);
    let (status, body) = change_password(&t, &session, PASSWORD, &longest).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(try_sign_in(&t, &email, PASSWORD).await.status(), 401);
    t.sign_in(&email, &longest).await;
}

async fn the_invitation_page_refuses_weak_passwords_with_reasons_and_keeps_the_link(
    engine: Engine,
) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let email = unique_email("rosalind.franklin");
    let r = t
        .api(Method::POST, "/accounts", Some(&admin))
        .json(&json!({ "email": email, "display_name": "Rosalind Franklin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let link = t.link_in_last_email_to(&email).await;
    let (path, token) = split_link(&link);
    assert_eq!(path, "/invitation");
    let mut browser = t.pages();
    browser.get(&link).await.assert_status(200);
    let too_long = password_of_bytes(1025);

    let refused = [
        ("short pass", "at least 15 characters"),
        ("password1234567", "common"),
        ("Rosalind Franklin 1920", "your name, email"),
        (too_long.as_str(), "at most 1024 bytes"),
    ];
    for (password, reason) in refused {
        let r = browser
            .post(path, &[("token", token), ("password", password)])
            .await;
        r.assert_status(422);
        assert!(r.text.contains(reason), "{password}: {}", r.text);
        assert_eq!(try_sign_in(&t, &email, password).await.status(), 401);
    }

    let longest = password_of_bytes(1024);
    let r = browser
        .post(path, &[("token", token), ("password", &longest)])
        .await;
    r.assert_status(303);
    t.sign_in(&email, &longest).await;
}

// 9. Rehash on sign-in

async fn stored_hash(t: &TestApp, email: &str) -> String {
    sqlx::query("SELECT password_hash FROM accounts WHERE email = $1")
        .bind(email)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get::<String, _>(0)
}

async fn a_password_hashed_with_weaker_parameters_is_rehashed_at_sign_in(engine: Engine) {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};

    let Some(t) = spawn(engine).await else { return };
    let email = unique_email("old.hash");
    fieldkit::auth::service::create_admin_directly(&t.app, &email, "Old Hash", PASSWORD)
        .await
        .unwrap();
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).unwrap();
    let weak = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(8 * 1024, 1, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes(), &salt)
    .unwrap()
    .to_string();
    assert!(weak.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"), "{weak}");
    sqlx::query("UPDATE accounts SET password_hash = $1 WHERE email = $2")
        .bind(&weak)
        .bind(&email)
        .execute(&t.app.db.pool)
        .await
        .unwrap();

    // A failed sign-in changes nothing.
    assert_eq!(
        try_sign_in(&t, &email, "not the password").await.status(),
        401
    );
    assert_eq!(stored_hash(&t, &email).await, weak);

    t.sign_in(&email, PASSWORD).await;
    let fresh = stored_hash(&t, &email).await;
    assert!(
        fresh.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{fresh}"
    );
    // The new hash is for the same password.
    t.sign_in(&email, PASSWORD).await;
    assert_eq!(
        stored_hash(&t, &email).await,
        fresh,
        "a current hash is not rehashed again"
    );
}

// 10. API tokens

/// A study, and a researcher in it (and in a second study) signed in with a session:
/// (study, other study, researcher's account id, session).
async fn researcher_in_two_studies(t: &TestApp, admin: &str) -> (String, String, String, String) {
    let study = t.study(admin, "tokens-a").await;
    let other = t.study(admin, "tokens-b").await;
    let (id, email) = t.person(admin, "Script Writer").await;
    t.member(admin, &study, &id, "researcher", &[]).await;
    t.member(admin, &other, &id, "researcher", &[]).await;
    let session = t.sign_in(&email, PASSWORD).await;
    (study, other, id, session)
}

async fn create_token(
    t: &TestApp,
    auth: &str,
    study: &str,
    permissions: &[&str],
    days: i64,
) -> reqwest::Response {
    t.api(Method::POST, "/me/tokens", Some(auth))
        .json(&json!({
            "study_id": study, "name": "nightly export", "permissions": permissions, "days": days
        }))
        .send()
        .await
        .unwrap()
}

/// (secret, token id)
async fn new_token(
    t: &TestApp,
    session: &str,
    study: &str,
    permissions: &[&str],
    days: i64,
) -> (String, String) {
    let r = create_token(t, session, study, permissions, days).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("fkt_"), "{secret}");
    (secret, body["token"]["id"].as_str().unwrap().to_owned())
}

async fn get_status(t: &TestApp, path: &str, token: &str) -> u16 {
    t.api(Method::GET, path, Some(token))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn an_api_token_reaches_only_its_study_and_permissions_and_every_use_is_audited(
    engine: Engine,
) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (study, other, account, session) = researcher_in_two_studies(&t, &admin).await;
    let (secret, token_id) = new_token(&t, &session, &study, &["view_study"], 30).await;
    // Stored only hashed.
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1",
            &secret
        )
        .await,
        0
    );

    let r = t
        .api(Method::GET, &format!("/studies/{study}"), Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], study.as_str());
    assert_eq!(
        get_status(&t, &format!("/studies/{study}"), &secret).await,
        200
    );
    let uses = audit_entries(&t, "api_token.used").await;
    assert_eq!(uses.len(), 2, "{uses:#?}");
    for entry in &uses {
        assert_eq!(entry["entity_id"], token_id.as_str());
        assert_eq!(entry["actor"], format!("account:{account}"));
        assert_eq!(entry["study_id"], study.as_str());
        assert_eq!(entry["details"]["method"], "GET");
        // The route, never the path as sent: nothing a client writes enters the trail.
        assert_eq!(entry["details"]["route"], "/api/v1/studies/{study_id}");
    }

    // The account is a member of the other study too, but the token is not for it.
    assert_eq!(
        get_status(&t, &format!("/studies/{other}"), &session).await,
        200
    );
    assert_eq!(
        get_status(&t, &format!("/studies/{other}"), &secret).await,
        404
    );
    // The account may list members here, but the token was not given that.
    assert_eq!(
        get_status(&t, &format!("/studies/{study}/members"), &session).await,
        200
    );
    assert_eq!(
        get_status(&t, &format!("/studies/{study}/members"), &secret).await,
        403
    );
    assert_eq!(audit_entries(&t, "api_token.used").await.len(), 4);
}

async fn tokens_never_exceed_their_makers_permissions_nor_make_tokens_or_passwords(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (study, _, _, session) = researcher_in_two_studies(&t, &admin).await;

    // A researcher cannot edit the study, so cannot give a token that permission.
    let r = create_token(&t, &session, &study, &["view_study", "edit_study"], 30).await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("edit_study"),
        "{body}"
    );
    let r = create_token(&t, &session, &study, &["manage_accounts"], 30).await;
    assert_eq!(r.status(), 422);
    // Nor a token for a study the account is not in.
    let elsewhere = t.study(&admin, "tokens-c").await;
    assert_eq!(
        create_token(&t, &session, &elsewhere, &["view_study"], 30)
            .await
            .status(),
        404
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM api_tokens WHERE study_id = $1",
            &study
        )
        .await,
        0
    );

    // A token cannot make tokens, even narrower ones.
    let (secret, _) = new_token(&t, &session, &study, &["view_study", "view_members"], 30).await;
    let r = create_token(&t, &secret, &study, &["view_study"], 1).await;
    assert_eq!(r.status(), 403);
    // Nor change the password of its account.
    let (status, body) = change_password(&t, &secret, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(me_status(&t, &session).await, 200);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM api_tokens WHERE study_id = $1",
            &study
        )
        .await,
        1
    );
}

async fn an_api_token_stops_working_when_revoked_expired_or_its_account_disabled(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (study, _, account, session) = researcher_in_two_studies(&t, &admin).await;
    let path = format!("/studies/{study}");
    let (revoked, revoked_id) = new_token(&t, &session, &study, &["view_study"], 30).await;
    let (expiring, _) = new_token(&t, &session, &study, &["view_study"], 2).await;
    let (kept, _) = new_token(&t, &session, &study, &["view_study"], 30).await;
    assert_eq!(get_status(&t, &path, &revoked).await, 200);

    let r = t
        .api(
            Method::DELETE,
            &format!("/me/tokens/{revoked_id}"),
            Some(&session),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(get_status(&t, &path, &revoked).await, 401);
    assert_eq!(get_status(&t, &path, &expiring).await, 200);

    // Tokens do not idle out like sessions, but end after their days.
    t.app.clock.advance(2 * DAY - HOUR);
    assert_eq!(get_status(&t, &path, &expiring).await, 200);
    t.app.clock.advance(HOUR + MINUTE);
    assert_eq!(get_status(&t, &path, &expiring).await, 401);
    assert_eq!(get_status(&t, &path, &kept).await, 200);

    // Disabling the account stops its tokens too (by an administrator signed
    // in now: the first one's session has long idled out).
    let admin = t.admin().await;
    assert_eq!(change_account(&t, &admin, &account, "disable").await, 204);
    assert_eq!(get_status(&t, &path, &kept).await, 401);
}

// 11. Password reset

async fn a_password_reset_answers_alike_for_every_address_and_mails_only_active_accounts(
    engine: Engine,
) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, known) = t.person(&admin, "Forgetful").await;
    let (disabled_id, disabled) = t.person(&admin, "Gone Away").await;
    assert_eq!(
        change_account(&t, &admin, &disabled_id, "disable").await,
        204
    );
    let unknown = unique_email("stranger");
    let mut answers = Vec::new();
    for email in [&unknown, &known, &disabled] {
        let r = t
            .api(Method::POST, "/password-resets", None)
            .json(&json!({ "email": email }))
            .send()
            .await
            .unwrap();
        answers.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, 202);
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
    let resets = "SELECT COUNT(*) FROM outbox WHERE template = 'password_reset' AND to_addr = $1";
    assert_eq!(count(&t, resets, &known).await, 1);
    assert_eq!(count(&t, resets, &unknown).await, 0);
    assert_eq!(count(&t, resets, &disabled).await, 0);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM outbox WHERE to_addr = $1",
            &unknown
        )
        .await,
        0
    );
}

async fn a_password_reset_link_sets_a_new_password_once_and_ends_sessions(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Forgetful").await;
    let before = t.sign_in(&email, PASSWORD).await;
    // Forgot the password, tried too often, and got locked out.
    for _ in 0..5 {
        assert_eq!(
            try_sign_in(&t, &email, "was it this one?").await.status(),
            401
        );
    }
    assert_eq!(try_sign_in(&t, &email, PASSWORD).await.status(), 429);
    let r = t
        .api(Method::POST, "/password-resets", None)
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let (subject, _, _) = t.last_email_to(&email).await;
    assert_eq!(subject, "Reset your fieldkit password");
    let link = t.link_in_last_email_to(&email).await;
    let (path, token) = split_link(&link);
    assert_eq!(path, "/password-reset");

    let mut browser = t.pages();
    browser.get(&link).await.assert_status(200);
    let r = browser
        .post(path, &[("token", token), ("password", NEW_PASSWORD)])
        .await;
    r.assert_status(303);
    assert_eq!(r.location(), "/login?done=password-set");
    assert_eq!(me_status(&t, &before).await, 401);
    // The reset also lifts the lock.
    assert_eq!(try_sign_in(&t, &email, PASSWORD).await.status(), 401);
    t.sign_in(&email, NEW_PASSWORD).await;

    // The link is used up: neither its page nor its form work again.
    let r = browser.get(&link).await;
    r.assert_status(403);
    assert!(
        r.text.contains("expired or has already been used"),
        "{}",
        r.text
    );
    let mut again = t.pages();
    again.get("/login").await.assert_status(200);
    let r = again
        .post(
            path,
            &[("token", token), ("password", "another fine password")],
        )
        .await;
    r.assert_status(403);
    assert_eq!(
        try_sign_in(&t, &email, "another fine password")
            .await
            .status(),
        401
    );
    t.sign_in(&email, NEW_PASSWORD).await;
}

async fn a_reset_link_submitted_twice_at_once_sets_only_one_password(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Double Click").await;
    let r = t
        .api(Method::POST, "/password-resets", None)
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let link = t.link_in_last_email_to(&email).await;
    let (path, token) = split_link(&link);
    let (mut one, mut two) = (t.pages(), t.pages());
    one.get(&link).await.assert_status(200);
    two.get(&link).await.assert_status(200);
    let other_password = "another fine password";
    let first = [("token", token), ("password", NEW_PASSWORD)];
    let second = [("token", token), ("password", other_password)];
    let (a, b) = tokio::join!(one.post(path, &first), two.post(path, &second));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 403], "exactly one use of the link");
    let winner = if a.status == 303 {
        NEW_PASSWORD
    } else {
        other_password
    };
    let loser = if a.status == 303 {
        other_password
    } else {
        NEW_PASSWORD
    };
    assert_eq!(try_sign_in(&t, &email, loser).await.status(), 401);
    t.sign_in(&email, winner).await;
}

async fn one_time_links_expire_are_replaced_by_newer_ones_and_serve_one_purpose(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Link Keeper").await;
    let reset_request = || {
        t.api(Method::POST, "/password-resets", None)
            .json(&json!({ "email": email }))
            .send()
    };
    assert_eq!(reset_request().await.unwrap().status(), 202);
    let replaced = t.link_in_last_email_to(&email).await;
    assert_eq!(reset_request().await.unwrap().status(), 202);
    let reset = t.link_in_last_email_to(&email).await;
    assert_ne!(replaced, reset);
    let mut browser = t.pages();
    browser.get(&replaced).await.assert_status(403);
    // A reset link does not open an invitation (nor the other way round).
    let (_, token) = split_link(&reset);
    browser
        .get(&format!("/invitation?token={token}"))
        .await
        .assert_status(403);
    browser.get(&reset).await.assert_status(200);

    // A reset link lasts an hour.
    t.app.clock.advance(59 * MINUTE);
    browser.get(&reset).await.assert_status(200);
    t.app.clock.advance(2 * MINUTE);
    browser.get(&reset).await.assert_status(403);
    let r = browser
        .post(
            "/password-reset",
            &[("token", token), ("password", NEW_PASSWORD)],
        )
        .await;
    r.assert_status(403);

    // An invitation lasts seven days.
    let admin = t.admin().await;
    let invitee = unique_email("slow.reader");
    let r = t
        .api(Method::POST, "/accounts", Some(&admin))
        .json(&json!({ "email": invitee, "display_name": "Slow Reader" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let invitation = t.link_in_last_email_to(&invitee).await;
    t.app.clock.advance(7 * DAY - HOUR);
    browser.get(&invitation).await.assert_status(200);
    t.app.clock.advance(HOUR + MINUTE);
    browser.get(&invitation).await.assert_status(403);
    let (path, token) = split_link(&invitation);
    browser
        .post(path, &[("token", token), ("password", NEW_PASSWORD)])
        .await
        .assert_status(403);
    assert_eq!(try_sign_in(&t, &invitee, NEW_PASSWORD).await.status(), 401);
}

async fn sent_email_is_multipart_and_leaves_no_address_or_body_in_the_outbox(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, email) = t.person(&admin, "Mail Reader").await;
    let r = t
        .api(Method::POST, "/password-resets", None)
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let link = t.link_in_last_email_to(&email).await;

    let sent = t.send_mail().await;
    assert_eq!(sent, 2, "the invitation and the reset");
    let files: Vec<String> = std::fs::read_dir(t.storage.outbox_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(files.len(), 2);
    let reset = files
        .iter()
        .find(|m| m.contains("Subject: Reset your fieldkit password"))
        .expect("the reset message was written");
    assert!(reset.contains(&email), "addressed to the account");
    let lower = reset.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: multipart/alternative"),
        "{reset}"
    );
    let plain = lower
        .find("content-type: text/plain")
        .expect("a text/plain part");
    let html = lower
        .find("content-type: text/html")
        .expect("a text/html part");
    assert!(plain < html, "plain text first, then the preferred HTML");
    // The link survives transfer encoding in at least the plain part.
    let token = split_link(&link).1;
    assert!(
        reset
            .replace("=\r\n", "")
            .replace("=\n", "")
            .contains(&token[..20]),
        "{reset}"
    );

    let rows = sqlx::query("SELECT status, to_addr, body_text, body_html, subject FROM outbox")
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row.get::<String, _>(0), "sent");
        assert_eq!(row.get::<Option<String>, _>(1), None);
        assert_eq!(row.get::<Option<String>, _>(2), None);
        assert_eq!(row.get::<Option<String>, _>(3), None);
    }
    // Nothing is sent twice.
    assert_eq!(t.send_mail().await, 0);
}

// 12. Invitation

async fn an_invitee_can_sign_in_only_after_accepting_and_cannot_be_invited_twice(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let email = unique_email("new.colleague");
    let invite = |address: String| {
        t.api(Method::POST, "/accounts", Some(&admin))
            .json(&json!({ "email": address, "display_name": "New Colleague" }))
            .send()
    };
    let r = invite(email.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Before accepting there is no password that works, not even an empty one.
    assert_eq!(try_sign_in(&t, &email, PASSWORD).await.status(), 401);
    assert_eq!(try_sign_in(&t, &email, "").await.status(), 401);
    let accounts: Value = t.get_json(&admin, "/accounts").await;
    let listed = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .expect("the invitee is listed");
    assert_eq!(listed["active"], false);

    let link = t.link_in_last_email_to(&email).await;
    let (path, token) = split_link(&link);
    let mut browser = t.pages();
    browser.get(&link).await.assert_status(200);
    let r = browser
        .post(path, &[("token", token), ("password", PASSWORD)])
        .await;
    r.assert_status(303);
    assert_eq!(r.location(), "/login?done=password-set");
    let session = t.sign_in(&email, PASSWORD).await;
    let who = me(&t, &session).await;
    assert_eq!(who["account_id"], id.as_str());
    assert_eq!(who["is_admin"], false);
    browser.get(&link).await.assert_status(403);

    // The same address again, in any case, is a conflict.
    for again in [email.clone(), email.to_uppercase()] {
        let r = invite(again).await.unwrap();
        assert_eq!(r.status(), 409);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["type"], "urn:fieldkit:problem:conflict");
    }
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM accounts WHERE email = $1", &email).await,
        1
    );
}

// 13. Role changes

async fn role_changes_are_audited_and_an_admin_cannot_demote_themselves(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let admin_id = me(&t, &admin).await["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (id, email) = t.person(&admin, "Promoted Person").await;
    let session = t.sign_in(&email, PASSWORD).await;
    assert_eq!(get_status(&t, "/accounts", &session).await, 403);

    let r = t
        .api(
            Method::POST,
            &format!("/accounts/{id}/changes"),
            Some(&admin),
        )
        .json(&json!({ "change": "grant_admin", "reason": "new data manager" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // An administrator needs a second factor before anything else.
    assert_eq!(get_status(&t, "/accounts", &session).await, 403);
    t.enrol(&session, &email).await;
    assert_eq!(get_status(&t, "/accounts", &session).await, 200);
    assert_eq!(change_account(&t, &admin, &id, "revoke_admin").await, 204);
    assert_eq!(get_status(&t, "/accounts", &session).await, 403);

    let changes = audit_entries(&t, "account.role_change").await;
    assert_eq!(changes.len(), 2, "{changes:#?}");
    for entry in &changes {
        assert_eq!(entry["entity_type"], "account");
        assert_eq!(entry["entity_id"], id.as_str());
        assert_eq!(entry["actor"], format!("account:{admin_id}"));
        assert_eq!(entry["role"], "admin");
    }
    assert_eq!(changes[0]["details"]["old"]["is_admin"], false);
    assert_eq!(changes[0]["details"]["new"]["is_admin"], true);
    assert_eq!(changes[0]["reason"], "new data manager");
    assert_eq!(changes[1]["details"]["old"]["is_admin"], true);
    assert_eq!(changes[1]["details"]["new"]["is_admin"], false);

    assert_eq!(change_account(&t, &admin, &id, "disable").await, 204);
    let disabled = audit_entries(&t, "account.disable").await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["entity_id"], id.as_str());
    assert_eq!(disabled[0]["details"]["old"]["disabled"], false);
    assert_eq!(disabled[0]["details"]["new"]["disabled"], true);

    // An administrator cannot remove their own role, nor disable themselves.
    for change in ["revoke_admin", "disable"] {
        let r = t
            .api(
                Method::POST,
                &format!("/accounts/{admin_id}/changes"),
                Some(&admin),
            )
            .json(&json!({ "change": change }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409, "{change}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["type"], "urn:fieldkit:problem:conflict");
    }
    assert_eq!(me(&t, &admin).await["is_admin"], true);
    assert_eq!(audit_entries(&t, "account.role_change").await.len(), 2);
    assert_eq!(audit_entries(&t, "account.disable").await.len(), 1);
}

on_both_engines!(
    the_setup_link_creates_the_first_administrator_and_works_only_once,
    a_setup_link_older_than_an_hour_or_replaced_by_a_newer_one_is_refused,
    unknown_account_wrong_password_and_disabled_account_get_the_same_answer,
    five_failed_sign_ins_lock_an_account_with_growing_delays_until_an_admin_unlocks_it,
    thirty_failures_from_one_address_behind_a_trusted_proxy_block_that_address_only,
    without_a_trusted_proxy_x_forwarded_for_is_ignored,
    concurrent_failures_below_the_threshold_block_nobody_and_all_count,
    every_sign_in_gets_a_new_token_and_a_browser_keeps_only_its_newest_session,
    logging_out_ends_the_session_from_pages_and_from_the_api,
    a_session_ends_after_thirty_idle_minutes,
    a_session_ends_twelve_hours_after_sign_in_even_when_active,
    changing_the_password_ends_every_session_of_the_account,
    disabling_an_account_ends_its_sessions_for_good,
    after_sign_in_only_same_site_paths_are_followed,
    the_session_cookie_is_host_prefixed_secure_http_only_and_same_site_lax,
    forms_without_the_right_csrf_token_are_refused_and_change_nothing,
    password_rules_are_enforced_with_reasons_when_changing_a_password,
    the_invitation_page_refuses_weak_passwords_with_reasons_and_keeps_the_link,
    a_password_hashed_with_weaker_parameters_is_rehashed_at_sign_in,
    an_api_token_reaches_only_its_study_and_permissions_and_every_use_is_audited,
    tokens_never_exceed_their_makers_permissions_nor_make_tokens_or_passwords,
    an_api_token_stops_working_when_revoked_expired_or_its_account_disabled,
    a_password_reset_answers_alike_for_every_address_and_mails_only_active_accounts,
    a_password_reset_link_sets_a_new_password_once_and_ends_sessions,
    a_reset_link_submitted_twice_at_once_sets_only_one_password,
    one_time_links_expire_are_replaced_by_newer_ones_and_serve_one_purpose,
    sent_email_is_multipart_and_leaves_no_address_or_body_in_the_outbox,
    an_invitee_can_sign_in_only_after_accepting_and_cannot_be_invited_twice,
    role_changes_are_audited_and_an_admin_cannot_demote_themselves,
);
