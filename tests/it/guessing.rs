//! Password guessing, probed as an attacker would: many guesses at once, the
//! right one hidden among them, the answer time of unknown accounts, and a
//! stolen session guessing the current password. Each guess is counted, in
//! the database, before its password is checked.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;
use sqlx::Row;

use crate::support::{spawn, Engine, TestApp, PASSWORD};

const WRONG: &str = "not the password at all";

/// The sign-in threshold per account (auth::service::ACCOUNT_THRESHOLD).
const PER_ACCOUNT: usize = 5;

fn unique_email(name: &str) -> String {
    format!("{name}-{}@example.ac.uk", uuid::Uuid::new_v4().simple())
}

async fn sign_in(t: &TestApp, email: &str, password: &str) -> u16 {
    t.api(Method::POST, "/sessions", None)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn actions(t: &TestApp, action: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0)
}

async fn an_account(t: &TestApp, name: &str) -> String {
    let email = unique_email(name);
    fieldkit::auth::service::create_admin_directly(&t.app, &email, "Target Person", PASSWORD)
        .await
        .unwrap();
    email
}

async fn parallel_guesses_at_one_account_each_cost_an_attempt(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let email = an_account(&t, "target").await;
    let statuses = join_all((0..100).map(|_| sign_in(&t, &email, WRONG))).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (checked, refused),
        (PER_ACCOUNT, 100 - PER_ACCOUNT),
        "only the first {PER_ACCOUNT} are checked: {statuses:?}"
    );
    assert_eq!(actions(&t, "auth.login_failed").await, PER_ACCOUNT as i64);
    assert_eq!(
        sign_in(&t, &email, PASSWORD).await,
        429,
        "the account is blocked"
    );
}

/// What the database shows of a burst: attempts counted on the most
/// counted key, and failed sign-ins audited (each after its Argon2 check).
async fn burst_state(t: &TestApp) -> (i64, i64) {
    let counted: Option<i64> = sqlx::query("SELECT MAX(attempts) FROM login_throttle")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
    (counted.unwrap_or(0), actions(t, "auth.login_failed").await)
}

/// The right password sent while a burst of guesses is still being checked
/// (each waits its turn for Argon2): it is sent once the guesses have
/// reached the limit but before that many have been checked, the moment
/// where, with attempts counted only after their check, the right password
/// met no block and got a session. A round that misses the moment (every
/// guess checked already) proves nothing and is run again with a new account.
async fn the_right_password_amid_a_burst_of_guesses_gets_no_session(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    const GUESSES: usize = 8;
    for _round in 0..3 {
        let email = an_account(&t, "target").await;
        let (_, failed_before) = burst_state(&t).await;
        let guesses = join_all((0..GUESSES).map(|_| sign_in(&t, &email, WRONG)));
        let right = async {
            loop {
                let (counted, failed) = burst_state(&t).await;
                if failed - failed_before >= PER_ACCOUNT as i64 {
                    return None;
                }
                if counted >= PER_ACCOUNT as i64 {
                    return Some(sign_in(&t, &email, PASSWORD).await);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let (guesses, right) = tokio::join!(guesses, right);
        assert!(
            guesses.iter().all(|s| [401, 429].contains(s)),
            "{guesses:?}"
        );
        let Some(right) = right else { continue };
        assert_eq!(right, 429, "the right password amid the burst");
        let sessions: i64 = sqlx::query("SELECT COUNT(*) FROM sessions")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(sessions, 0);
        return;
    }
    panic!("in three rounds the right password was never sent while guesses were being checked");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn timed(t: &TestApp, email: &str, password: &str) -> Duration {
    let started = Instant::now();
    let status = sign_in(t, email, password).await;
    let took = started.elapsed();
    assert_eq!(status, 401, "{email}");
    took
}

/// A measurement, not a stopwatch: the median answer time for accounts that
/// do not exist, are disabled or are not activated yet is compared with the
/// median for a wrong password, measured in the same rounds so that the
/// machine's load weighs on all alike. Every one runs Argon2, so the ratio is
/// near 1; without that it was about 0.1.
async fn the_answer_time_does_not_tell_whether_an_account_exists(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    // Two accounts of each kind, three tries at each: none reaches the
    // account's threshold, and 24 failures stay under the address's.
    const ROUNDS: usize = 6;
    let mut real = Vec::new();
    let mut disabled = Vec::new();
    let mut invitees = Vec::new();
    for _ in 0..2 {
        real.push(an_account(&t, "real").await);
        let email = an_account(&t, "disabled").await;
        let id: String = sqlx::query("SELECT id FROM accounts WHERE email = $1")
            .bind(&email)
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap()
            .get(0);
        let r = t
            .api(
                Method::POST,
                &format!("/accounts/{id}/changes"),
                Some(&admin),
            )
            .json(&json!({ "change": "disable" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        disabled.push(email);
        let invitee = unique_email("invitee");
        let r = t
            .api(Method::POST, "/accounts", Some(&admin))
            .json(&json!({ "email": invitee, "display_name": "Not Yet" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        invitees.push(invitee);
    }
    let mut samples: [Vec<Duration>; 4] = Default::default();
    for round in 0..ROUNDS {
        let which = round % 2;
        samples[0].push(timed(&t, &real[which], WRONG).await);
        samples[1].push(timed(&t, &unique_email("nobody"), WRONG).await);
        samples[2].push(timed(&t, &disabled[which], PASSWORD).await);
        samples[3].push(timed(&t, &invitees[which], PASSWORD).await);
    }
    let [wrong, unknown, disabled, inactive] = samples;
    let wrong = median(wrong);
    for (what, samples) in [
        ("unknown", unknown),
        ("disabled", disabled),
        ("not activated", inactive),
    ] {
        let m = median(samples);
        let ratio = m.as_secs_f64() / wrong.as_secs_f64();
        eprintln!(
            "sign-in answer time, median: {what} {m:?}, wrong password {wrong:?}, ratio {ratio:.2}"
        );
        assert!(
            ratio > 0.5,
            "{what} accounts answer in {m:?}, wrong passwords in {wrong:?}: the time tells them apart"
        );
    }
}

async fn change_password(t: &TestApp, session: &str, current: &str) -> u16 {
    t.api(Method::POST, "/me/password", Some(session))
        .json(
            &json!({ "current_password": current, "new_password": "plum kettle orbit lantern 2" }),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn a_stolen_session_cannot_guess_the_current_password(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let email = an_account(&t, "owner").await;
    let session = t.sign_in(&email, PASSWORD).await;
    let statuses = join_all((0..20).map(|_| change_password(&t, &session, WRONG))).await;
    let checked = statuses.iter().filter(|s| **s == 422).count();
    assert_eq!(checked, PER_ACCOUNT, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [422, 429].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(
        actions(&t, "auth.password_change_failed").await,
        PER_ACCOUNT as i64,
        "every wrong current password is audited"
    );
    // The right one is refused too now, and so is signing in: one throttle for one password.
    assert_eq!(change_password(&t, &session, PASSWORD).await, 429);
    assert_eq!(sign_in(&t, &email, PASSWORD).await, 429);
}

/// A guess that is refused is checked nowhere, so it counts nowhere: an
/// address already blocked cannot keep pushing someone's account into
/// longer blocks.
async fn a_blocked_address_adds_nothing_to_the_accounts_it_tries(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let victim = an_account(&t, "victim").await;
    // The address's threshold (auth::service::ADDRESS_THRESHOLD) of failures.
    for _ in 0..30 {
        assert_eq!(sign_in(&t, &unique_email("nobody"), WRONG).await, 401);
    }
    let keys = |t: &TestApp| {
        let pool = t.app.db.pool.clone();
        async move {
            let n: i64 = sqlx::query("SELECT COALESCE(SUM(attempts), 0) FROM login_throttle")
                .fetch_one(&pool)
                .await
                .unwrap()
                .get(0);
            n
        }
    };
    let before = keys(&t).await;
    for _ in 0..10 {
        assert_eq!(sign_in(&t, &victim, WRONG).await, 429);
    }
    assert_eq!(keys(&t).await, before, "refused guesses were counted");
}

on_both_engines!(
    a_blocked_address_adds_nothing_to_the_accounts_it_tries,
    parallel_guesses_at_one_account_each_cost_an_attempt,
    the_right_password_amid_a_burst_of_guesses_gets_no_session,
    the_answer_time_does_not_tell_whether_an_account_exists,
    a_stolen_session_cannot_guess_the_current_password,
);
