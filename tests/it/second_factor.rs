//! A second factor for staff (issue 7): enrolment, the code step of
//! sign-in, its throttle and replay guard, recovery codes, an
//! administrator's reset, the policy of who needs one, and the password
//! policy's lengths and zxcvbn check. Through the HTTP surface, on both engines.

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::support::{spawn, totp_code, Engine, TestApp, PASSWORD};

/// The password step through the API: (status, body).
async fn password_step(t: &TestApp, email: &str, password: &str) -> (u16, Value) {
    let r = t
        .api(Method::POST, "/sessions", None)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A pending token from a right password, for an account with a factor.
async fn pending(t: &TestApp, email: &str) -> String {
    let (status, body) = password_step(t, email, PASSWORD).await;
    assert_eq!(status, 202, "{body}");
    body["pending_token"].as_str().unwrap().to_owned()
}

async fn code_step(t: &TestApp, pending: &str, code: &str) -> (u16, Value) {
    let r = t
        .api(Method::POST, "/sessions/second-factor", None)
        .json(&json!({ "pending_token": pending, "code": code }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(t: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = t
        .api(Method::POST, path, Some(token))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An administrator made at the command line, not yet signed in: its email.
async fn new_admin(t: &TestApp) -> String {
    let email = format!("admin-{}@example.ac.uk", uuid::Uuid::new_v4().simple());
    fieldkit::auth::service::create_admin_directly(&t.app, &email, "Ada Admin", PASSWORD)
        .await
        .unwrap();
    email
}

/// A staff account with `role` in a new study, signed in (and enrolled if
/// the role needs it): (email, session token).
async fn staff(t: &TestApp, admin: &str, role: &str) -> (String, String) {
    let study = t
        .study(
            admin,
            &format!("sf-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        )
        .await;
    let (id, email) = t.person(admin, &format!("Staff {role}")).await;
    t.member(admin, &study, &id, role, &[]).await;
    let token = t.sign_in(&email, PASSWORD).await;
    (email, token)
}

async fn audit_count(t: &TestApp, action: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get::<i64, _>(0)
}

async fn an_administrator_must_enrol_before_anything_else_then_signs_in_with_a_code(
    engine: Engine,
) {
    let Some(t) = spawn(engine).await else { return };
    let email = new_admin(&t).await;
    let (status, body) = password_step(&t, &email, PASSWORD).await;
    assert_eq!(status, 200, "no factor yet: a session, {body}");
    let token = body["token"].as_str().unwrap().to_owned();

    // Anything but enrolment is refused with a problem saying what to do.
    let r = t
        .api(Method::GET, "/accounts", Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:fieldkit:problem:second-factor-enrolment-required"
    );
    let me = t.get_json(&token, "/me").await;
    assert_eq!(
        me["second_factor"],
        json!({ "enrolled": false, "required": true })
    );

    // Enrolment: the secret, then a wrong code refused, then a right one.
    let (status, started) = post(&t, &token, "/me/second-factor", json!({})).await;
    assert_eq!(status, 200, "{started}");
    let secret = started["secret"].as_str().unwrap();
    assert!(started["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/fieldkit:"));
    let stored: String = sqlx::query("SELECT totp_secret FROM second_factors")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
    assert!(!stored.contains(secret), "the secret is stored sealed");
    let (status, _) = post(
        &t,
        &token,
        "/me/second-factor/confirmation",
        json!({ "code": "000000" }),
    )
    .await;
    assert_eq!(status, 422);
    t.authenticator.remember(&email, secret);
    let code = t.authenticator.code(&email).await.unwrap();
    let (status, codes) = post(
        &t,
        &token,
        "/me/second-factor/confirmation",
        json!({ "code": code }),
    )
    .await;
    assert_eq!(status, 200, "{codes}");
    assert_eq!(codes["recovery_codes"].as_array().unwrap().len(), 10);
    assert_eq!(
        t.get_json(&token, "/accounts")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(audit_count(&t, "second_factor.enrol").await, 1);

    // From now on the password alone gives a pending token, not a session.
    let pending = pending(&t, &email).await;
    assert!(pending.starts_with("fkp_"));
    let code = t.authenticator.code(&email).await.unwrap();
    let (status, session) = code_step(&t, &pending, &code).await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap();
    assert_eq!(
        t.get_json(token, "/me").await["second_factor"]["enrolled"],
        true
    );
    let login: String =
        sqlx::query("SELECT details FROM audit_log WHERE action = 'auth.login' ORDER BY seq DESC")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap()
            .get(0);
    assert_eq!(login, r#"{"second_factor":"totp"}"#);
}

async fn wrong_codes_are_counted_first_throttled_and_audited(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let email = new_admin(&t).await;
    t.sign_in(&email, PASSWORD).await;
    let pending = pending(&t, &email).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(code_step(&t, &pending, "123456").await.0);
    }
    assert_eq!(statuses[..5], [422; 5], "{statuses:?}");
    assert_eq!(statuses[5], 429, "{statuses:?}");
    assert_eq!(audit_count(&t, "auth.second_factor_failed").await, 5);
    // Blocked means blocked: even the right code waits.
    let code = t.authenticator.code(&email).await.unwrap();
    assert_eq!(code_step(&t, &pending, &code).await.0, 429);
}

async fn a_code_is_not_accepted_twice(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let email = new_admin(&t).await;
    t.sign_in(&email, PASSWORD).await;
    let code = t.authenticator.code(&email).await.unwrap();
    assert_eq!(
        code_step(&t, &pending(&t, &email).await, &code).await.0,
        200
    );
    let (status, problem) = code_step(&t, &pending(&t, &email).await, &code).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "code");
}

async fn twenty_parallel_submissions_of_one_code_start_one_session(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let email = new_admin(&t).await;
    t.sign_in(&email, PASSWORD).await;
    let mut tokens = Vec::new();
    for _ in 0..20 {
        tokens.push(pending(&t, &email).await);
    }
    let code = t.authenticator.code(&email).await.unwrap();
    let answers =
        futures_util::future::join_all(tokens.iter().map(|p| code_step(&t, p, &code))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 422, 429].contains(s)),
        "{statuses:?}"
    );
    let sessions: i64 = sqlx::query(
        "SELECT COUNT(*) FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE a.email = $1",
    )
    .bind(&email)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap()
    .get(0);
    // The enrolment's session, and exactly one from the twenty.
    assert_eq!(sessions, 2);
}

async fn a_recovery_code_signs_in_once(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (email, token) = staff(&t, &admin, "analyst").await;
    let codes = t.enrol(&token, &email).await;
    let (status, _) = code_step(&t, &pending(&t, &email).await, &codes[3].to_uppercase()).await;
    assert_eq!(status, 200, "a recovery code, however it is typed");
    let (status, _) = code_step(&t, &pending(&t, &email).await, &codes[3]).await;
    assert_eq!(status, 422, "used up");
    let stored: i64 = sqlx::query("SELECT COUNT(*) FROM recovery_codes WHERE code_hash = $1")
        .bind(&codes[0])
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0, "stored only hashed");
}

async fn an_administrator_resets_a_second_factor_with_a_reason_and_ends_sessions(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (email, token) = staff(&t, &admin, "researcher").await;
    let id = t.get_json(&token, "/me").await["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/accounts/{id}/changes");
    let (status, problem) = post(
        &t,
        &admin,
        &path,
        json!({ "change": "reset_second_factor" }),
    )
    .await;
    assert_eq!(status, 422, "a reason is needed: {problem}");
    assert_eq!(problem["errors"][0]["field"], "reason");
    let (status, _) = post(
        &t,
        &admin,
        &path,
        json!({ "change": "reset_second_factor", "reason": "phone lost on a home visit" }),
    )
    .await;
    assert_eq!(status, 204);
    let r = t
        .api(Method::GET, "/me", Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "their sessions ended");
    let row =
        sqlx::query("SELECT reason, details FROM audit_log WHERE action = 'second_factor.reset'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    assert_eq!(row.get::<String, _>(0), "phone lost on a home visit");
    assert_eq!(row.get::<String, _>(1), r#"{"had_one":true}"#);
    // The password alone signs in again, and they must set up a new one.
    let (status, body) = password_step(&t, &email, PASSWORD).await;
    assert_eq!(status, 200);
    let me = t.get_json(body["token"].as_str().unwrap(), "/me").await;
    assert_eq!(
        me["second_factor"],
        json!({ "enrolled": false, "required": true })
    );
}

async fn only_those_whose_role_does_not_need_it_may_turn_it_off_and_participants_are_never_offered_one(
    engine: Engine,
) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (researcher, r_token) = staff(&t, &admin, "researcher").await;
    let code = t.authenticator.code(&researcher).await.unwrap();
    let (status, _) = post(
        &t,
        &r_token,
        "/me/second-factor/removal",
        json!({ "code": code }),
    )
    .await;
    assert_eq!(status, 403);

    let (analyst, a_token) = staff(&t, &admin, "analyst").await;
    assert_eq!(
        t.get_json(&a_token, "/me").await["second_factor"]["required"],
        false
    );
    t.enrol(&a_token, &analyst).await;
    let a_token = t.sign_in(&analyst, PASSWORD).await;
    let code = t.authenticator.code(&analyst).await.unwrap();
    let (status, _) = post(
        &t,
        &a_token,
        "/me/second-factor/removal",
        json!({ "code": code }),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(password_step(&t, &analyst, PASSWORD).await.0, 200);

    let (_, p_token) = staff(&t, &admin, "participant").await;
    let (status, _) = post(&t, &p_token, "/me/second-factor", json!({})).await;
    assert_eq!(status, 403);
    let mut page = t.pages();
    page.sign_in(&email_of_token(&t, &p_token).await, PASSWORD)
        .await
        .assert_status(303);
    assert!(!page
        .get("/account")
        .await
        .text
        .contains("/account/second-factor"));
}

async fn email_of_token(t: &TestApp, token: &str) -> String {
    let id = t.get_json(token, "/me").await["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sqlx::query("SELECT email FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0)
}

async fn a_password_that_no_longer_meets_the_policy_is_asked_to_change(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (email, _) = staff(&t, &admin, "analyst").await;
    // Chosen under the old 12-character rule: 14 characters, no second factor.
    let weak = "tidy owl 4 mug";
    let hash = {
        use argon2::password_hash::{PasswordHasher, SaltString};
        argon2::Argon2::default()
            .hash_password(
                weak.as_bytes(),
                &SaltString::generate(&mut rand::thread_rng()),
            )
            .unwrap()
            .to_string()
    };
    sqlx::query("UPDATE accounts SET password_hash = $1 WHERE email = $2")
        .bind(hash)
        .bind(&email)
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    let (status, body) = password_step(&t, &email, weak).await;
    assert_eq!(status, 200, "it still signs in");
    assert_eq!(body["password_change_due"], true);
    let token = body["token"].as_str().unwrap();
    assert_eq!(t.get_json(token, "/me").await["password_change_due"], true);

    let mut page = t.pages();
    let answer = page.sign_in(&email, weak).await;
    assert_eq!(answer.location(), "/account?done=password-change-due");
    let elsewhere = page.get("/").await;
    assert_eq!(elsewhere.location(), "/account?done=password-change-due");
    let account = page.get("/account?done=password-change-due").await;
    account.assert_status(200);
    assert!(account
        .text
        .contains("Our password rules have become stricter"));
    page.post(
        "/account/password",
        &[
            ("current_password", weak),
            ("new_password", "quartz meadow bicycle ferry"),
        ],
    )
    .await
    .assert_status(303);
    let (_, body) = password_step(&t, &email, "quartz meadow bicycle ferry").await;
    assert_eq!(body["password_change_due"], false);
}

/// A password of 12 to 14 characters is allowed only beside a second
/// factor. Changing to one while the factor is turned off in parallel: the
/// change is either refused or stored before the factor went, never after
/// (the factor is checked with the account locked, in the transaction that
/// stores the password, not when the request began).
async fn a_short_password_is_never_stored_after_the_factor_it_relies_on_was_turned_off(
    engine: Engine,
) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let mut both = 0;
    for round in 0..6u64 {
        let (analyst, token) = staff(&t, &admin, "analyst").await;
        t.enrol(&token, &analyst).await;
        let token = t.sign_in(&analyst, PASSWORD).await;
        // A step of its own for the code, without waiting for it.
        t.app.clock.advance(30_000);
        let code = t.authenticator.code(&analyst).await.unwrap();
        let change = post(
            &t,
            &token,
            "/me/password",
            json!({ "current_password": PASSWORD, "new_password": "plum kestrel 9" }),
        );
        let turn_off = async {
            tokio::time::sleep(std::time::Duration::from_millis(round * 15)).await;
            post(
                &t,
                &token,
                "/me/second-factor/removal",
                json!({ "code": code }),
            )
            .await
        };
        let ((changed, problem), (off, _)) = tokio::join!(change, turn_off);
        assert!([204, 422].contains(&changed), "{changed} {problem}");
        assert!([204, 401].contains(&off), "{off}");
        let account: String = sqlx::query("SELECT id FROM accounts WHERE email = $1")
            .bind(&analyst)
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap()
            .get(0);
        let order: Vec<String> = sqlx::query(
            "SELECT action FROM audit_log WHERE entity_id = $1
               AND action IN ('auth.password_change', 'second_factor.remove') ORDER BY seq",
        )
        .bind(&account)
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
        if changed == 204 && off == 204 {
            both += 1;
            assert_eq!(
                order,
                ["auth.password_change", "second_factor.remove"],
                "round {round}: a 14-character password was stored after its factor was gone"
            );
        }
        if changed == 422 {
            assert!(
                problem["errors"][0]["detail"]
                    .as_str()
                    .unwrap()
                    .contains("15"),
                "{problem}"
            );
        }
    }
    eprintln!("{both} of 6 rounds changed the password and turned the factor off");
}

async fn passwords_need_fifteen_characters_alone_and_a_zxcvbn_score_of_three(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let (_, token) = staff(&t, &admin, "analyst").await;
    let change = |new: &'static str| {
        let token = token.clone();
        let t = &t;
        async move {
            post(
                t,
                &token,
                "/me/password",
                json!({ "current_password": PASSWORD, "new_password": new }),
            )
            .await
        }
    };
    let (status, problem) = change("velvet gorge 7").await;
    assert_eq!(status, 422);
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("at least 15"),
        "{problem}"
    );
    assert_eq!(problem["errors"][0]["field"], "new_password");
    let (status, problem) = change("iloveyoubaby1234").await;
    assert_eq!(status, 422);
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("guessed too quickly"),
        "{problem}"
    );
    assert_eq!(change("quartz meadow bicycle ferry").await.0, 204);
}

async fn the_pages_enrol_then_ask_for_a_code_at_sign_in(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let email = new_admin(&t).await;
    let mut page = t.pages();
    page.get("/login").await;
    let answer = page
        .post("/login", &[("email", &email), ("password", PASSWORD)])
        .await;
    assert_eq!(answer.location(), "/");
    assert_eq!(
        page.get("/admin/accounts").await.location(),
        "/account/second-factor?done=second-factor-needed"
    );
    page.get("/account/second-factor").await.assert_status(200);
    page.post("/account/second-factor", &[])
        .await
        .assert_status(303);
    let enrol = page.get("/account/second-factor").await;
    enrol.assert_status(200);
    assert!(enrol.text.contains("<svg") && enrol.text.contains("autocomplete=\"one-time-code\""));
    assert!(enrol.text.contains("inputmode=\"numeric\""));
    let at = enrol.text.find("id=\"totp-secret\">").unwrap() + 17;
    let secret = enrol.text[at..].split('<').next().unwrap().to_owned();
    let wrong = page
        .post("/account/second-factor/confirmation", &[("code", "000000")])
        .await;
    wrong.assert_status(422);
    assert!(wrong
        .text
        .contains("aria-describedby=\"field-code-hint field-code-error\""));
    let step = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30) as i64;
    let done = page
        .post(
            "/account/second-factor/confirmation",
            &[("code", &totp_code(&secret, step))],
        )
        .await;
    done.assert_status(200);
    assert!(done.text.contains("Your recovery codes"));
    page.get("/admin/accounts").await.assert_status(200);

    page.post("/logout", &[]).await.assert_status(303);
    page.get("/login").await;
    let answer = page
        .post(
            "/login",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("next", "/admin/accounts"),
            ],
        )
        .await;
    assert!(
        answer.location().starts_with("/login/second-factor"),
        "{}",
        answer.location()
    );
    page.get(answer.location()).await.assert_status(200);
    let signed_in = page
        .post(
            "/login/second-factor",
            &[
                ("code", &totp_code(&secret, step + 1)),
                ("next", "/admin/accounts"),
            ],
        )
        .await;
    assert_eq!(signed_in.location(), "/admin/accounts");
    page.get("/admin/accounts").await.assert_status(200);
}

on_both_engines!(
    a_short_password_is_never_stored_after_the_factor_it_relies_on_was_turned_off,
    an_administrator_must_enrol_before_anything_else_then_signs_in_with_a_code,
    wrong_codes_are_counted_first_throttled_and_audited,
    a_code_is_not_accepted_twice,
    twenty_parallel_submissions_of_one_code_start_one_session,
    a_recovery_code_signs_in_once,
    an_administrator_resets_a_second_factor_with_a_reason_and_ends_sessions,
    only_those_whose_role_does_not_need_it_may_turn_it_off_and_participants_are_never_offered_one,
    a_password_that_no_longer_meets_the_policy_is_asked_to_change,
    passwords_need_fifteen_characters_alone_and_a_zxcvbn_score_of_three,
    the_pages_enrol_then_ask_for_a_code_at_sign_in,
);
