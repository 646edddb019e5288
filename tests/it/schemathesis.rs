//! schemathesis (https://schemathesis.io) at the whole API, once as each
//! role: generated requests, valid and invalid, must get the answers the
//! OpenAPI document promises (no server error, only documented statuses and
//! content types, bodies that match their schemas, invalid input refused,
//! valid input not refused as malformed, authentication not ignored).
//!
//! Each role's run is bounded by `--max-time` (FIELDKIT_SCHEMATHESIS_SECONDS,
//! 15 by default) with a fixed seed, so CI stays short and a failure can be
//! replayed; raise the budget for a deeper search. Install schemathesis with
//! `python3 -m pip install schemathesis` (.ci/run does).

use std::process::{Command, Stdio};

use reqwest::Method;

use crate::consent;
use crate::support::{missing_tool, Engine, TestApp, PASSWORD};

/// Whether `st` is installed (if not: one notice, or a failure under CI).
fn installed() -> bool {
    let probe = Command::new("st")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let found = probe.is_ok_and(|s| s.success());
    if !found {
        missing_tool("schemathesis (python3 -m pip install schemathesis)");
    }
    found
}

/// The ids schemathesis puts in paths, so requests reach real records.
struct Fixture {
    study: String,
    participant: String,
    record: String,
    /// An account the administrator's run may disable and re-enable.
    spare_account: String,
    /// (role, session token), in the order the runs go: the participant
    /// first and the administrator last, as later roles may withdraw the
    /// participant or change memberships.
    roles: Vec<(&'static str, String)>,
}

/// The study of `consent::setup`, a person in every role, and a participant
/// who has their own account and consented in person.
async fn fixture(t: &TestApp) -> Fixture {
    let s = consent::setup(t).await;
    let admin = t.admin().await;
    let mut roles = vec![("researcher", s.researcher.clone())];
    for role in ["reviewer", "analyst"] {
        let (id, email) = t.person(&admin, role).await;
        t.member(&admin, &s.study, &id, role, &[]).await;
        roles.push((role, t.sign_in(&email, PASSWORD).await));
    }
    let (account, email) = t.person(&admin, "Pat Participant").await;
    t.member(&admin, &s.study, &account, "participant", &[])
        .await;
    let site = consent::site(t, &admin, &s.study).await;
    let participant = consent::enrol(t, &s, &site, Some(&account)).await;
    let record = consent::take_on(t, &s, &participant, &s.form_version).await;
    roles.insert(0, ("participant", t.sign_in(&email, PASSWORD).await));
    roles.push(("administrator", admin.clone()));
    let (spare_account, _) = t.person(&admin, "Spare Account").await;
    Fixture {
        study: s.study,
        participant,
        record,
        spare_account,
        roles,
    }
}

async fn the_api_keeps_its_promises_to_every_role(engine: Engine) {
    if !installed() {
        return;
    }
    let Some(t) = crate::support::spawn(engine).await else {
        return;
    };
    let f = fixture(&t).await;
    let seconds = std::env::var("FIELDKIT_SCHEMATHESIS_SECONDS").unwrap_or_else(|_| "15".into());
    let config = t.dir.0.join("schemathesis.toml");
    for (role, token) in &f.roles {
        // The token works before the run, so a pass cannot come from
        // schemathesis seeing nothing but 401s.
        let me = t.api(Method::GET, "/me", Some(token)).send().await.unwrap();
        assert_eq!(me.status(), 200, "{role}'s token");
        // Configuration: the fixture's ids in paths; a 422 is an accepted
        // answer to schema-valid data, as it names a rule the schema cannot
        // state (an account that exists, a participant due for re-consent,
        // an email address's full shape).
        std::fs::write(
            &config,
            format!(
                r#"
[parameters]
"path.study_id" = "{study}"
"path.participant_id" = "{participant}"
"path.record_id" = "{record}"
"path.account_id" = "{spare}"

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
"#,
                study = f.study,
                participant = f.participant,
                record = f.record,
                spare = f.spare_account,
            ),
        )
        .unwrap();
        let out = tokio::task::spawn_blocking({
            let base = t.base.clone();
            let dir = t.dir.0.clone();
            let config = config.clone();
            let token = token.clone();
            let seconds = seconds.clone();
            move || {
                Command::new("st")
                    .current_dir(&dir)
                    .env("NO_COLOR", "1")
                    .arg("--config-file")
                    .arg(&config)
                    .args(["run", &format!("{base}/api/openapi.json")])
                    .args(["--url", &format!("{base}/api/v1")])
                    .args(["-H", &format!("Authorization: Bearer {token}")])
                    .args(["--checks", "all", "--seed", "1", "--workers", "1"])
                    .args(["--max-time", &seconds])
                    // Signing out would end the token the run uses.
                    .args(["--exclude-path", "/sessions/current"])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "schemathesis as the {role} on {engine:?} found problems:\n{report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(report.contains("Tested:"), "{report}");
    }
}

on_both_engines!(the_api_keeps_its_promises_to_every_role);
