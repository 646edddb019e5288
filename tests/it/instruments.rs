//! Instruments through the API on both engines: responses gated by consent,
//! scored on submit, one per subject, rater and time point whatever the
//! race; rater rules; rescoring that reports differences; the fidelity view
//! over teams, arms and three kinds of rater.

use reqwest::Method;
use serde_json::{json, Value};

use crate::consent::{answers, count, setup, take, withdraw};
use crate::support::{spawn, Engine, TestApp, PASSWORD};

async fn version_of(t: &TestApp, token: &str, study: &str, instrument: &str) -> String {
    let list = t
        .get_json(token, &format!("/studies/{study}/instruments"))
        .await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|i| i["instrument_id"] == instrument)
        .unwrap_or_else(|| panic!("{instrument} not in {list}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn start(t: &TestApp, token: &str, study: &str, body: Value) -> reqwest::Response {
    t.api(
        Method::POST,
        &format!("/studies/{study}/responses"),
        Some(token),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

async fn submit(
    t: &TestApp,
    token: &str,
    study: &str,
    id: &str,
    answers: Value,
) -> reqwest::Response {
    t.api(
        Method::POST,
        &format!("/studies/{study}/responses/{id}/submission"),
        Some(token),
    )
    .json(&json!({ "answers": answers }))
    .send()
    .await
    .unwrap()
}

fn score(response: &Value, key: &str) -> Value {
    response["scores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap()
        .clone()
}

async fn a_questionnaire_about_a_participant_is_gated_by_consent_and_scored(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let version = version_of(&t, &s.researcher, &s.study, "fieldkit-synthetic").await;
    let body = |tp: &str| {
        json!({ "instrument_version_id": version, "subject_id": s.participant,
                "rater_role": "researcher", "time_point": tp })
    };
    // No consent yet: refused, nothing stored.
    let r = start(&t, &s.researcher, &s.study, body("baseline")).await;
    assert_eq!(r.status(), 409, "{}", r.text().await.unwrap());
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM instrument_responses").await,
        0
    );

    assert_eq!(take(&t, &s, &answers(&s, &[], "no")).await.status(), 200);
    let r = start(&t, &s.researcher, &s.study, body("baseline")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let draft: Value = r.json().await.unwrap();
    let id = draft["id"].as_str().unwrap();
    assert_eq!(draft["status"], "draft");

    // Bad answers: each named, nothing stored.
    let r = submit(
        &t,
        &s.researcher,
        &s.study,
        id,
        json!({ "f1": 9, "nope": 1 }),
    )
    .await;
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"answers.nope") && fields.contains(&"answers.f1"),
        "{problem}"
    );
    assert!(
        fields.contains(&"answers.d1"),
        "a required item left out: {problem}"
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM instrument_responses WHERE status = 'submitted'"
        )
        .await,
        0
    );

    let all = json!({ "f1": 4, "f2": 5, "f3": 2, "f4": 3, "d1": 1, "d2": 4, "d3": 2, "d4": [1, 3], "d5": "Twice" });
    let r = submit(&t, &s.researcher, &s.study, id, all.clone()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["status"], "submitted");
    assert_eq!(score(&done, "feelings_metric")["value"], 23.0);
    assert_eq!(score(&done, "feelings_metric")["band"], "Middle");
    // Submitted means frozen, and a second response for the same subject,
    // rater and time point is refused.
    let r = submit(&t, &s.researcher, &s.study, id, all.clone()).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        start(&t, &s.researcher, &s.study, body("baseline"))
            .await
            .status(),
        409
    );

    // Six months on, and the outcome between the two.
    let later: Value = start(&t, &s.researcher, &s.study, body("month_6"))
        .await
        .json()
        .await
        .unwrap();
    let lower = json!({ "f1": 2, "f2": 2, "f3": 5, "d1": 0, "d3": 0 });
    let r = submit(
        &t,
        &s.researcher,
        &s.study,
        later["id"].as_str().unwrap(),
        lower,
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let outcomes = t
        .get_json(
            &s.researcher,
            &format!("/studies/{}/instruments/{version}/outcomes?score=feelings_metric&from=baseline&to=month_6", s.study),
        )
        .await;
    assert_eq!(outcomes[0]["change"]["change"], -13.5, "{outcomes}");
    assert_eq!(outcomes[0]["change"]["important"], true);
    assert!(outcomes[0]["subject"].as_str().unwrap().starts_with("RC-"));

    // After withdrawal the gate refuses a new response at once.
    assert_eq!(
        withdraw(&t, &s, json!({ "no_collection": true }))
            .await
            .status(),
        200
    );
    let r = start(&t, &s.researcher, &s.study, body("month_9")).await;
    assert_eq!(r.status(), 409, "{}", r.text().await.unwrap());
    // The trail holds counts and codes, never answers.
    let details: Vec<String> = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action LIKE 'instrument.response%' ORDER BY seq",
    )
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap();
    assert_eq!(details.len(), 4, "{details:?}");
    assert!(details.iter().all(|d| !d.contains("Twice")));
    assert!(t.verify_chain().await.problem.is_none());
}

async fn parallel_responses_for_one_subject_rater_and_time_point_make_one(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    assert_eq!(take(&t, &s, &answers(&s, &[], "no")).await.status(), 200);
    let version = version_of(&t, &s.researcher, &s.study, "fieldkit-synthetic").await;
    let body = json!({ "instrument_version_id": version, "subject_id": s.participant,
                       "rater_role": "researcher", "time_point": "baseline" });
    let tries = (0..12).map(|_| start(&t, &s.researcher, &s.study, body.clone()));
    let statuses: Vec<u16> = futures_util::future::join_all(tries)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM instrument_responses").await,
        1
    );

    // Parallel submissions of the one draft: one is stored, the rest are told it is frozen.
    let id: String = sqlx::query_scalar("SELECT id FROM instrument_responses")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let a = json!({ "f1": 1, "f2": 1, "f3": 1, "f4": 1, "d1": 1 });
    let tries = (0..8).map(|_| submit(&t, &s.researcher, &s.study, &id, a.clone()));
    let statuses: Vec<u16> = futures_util::future::join_all(tries)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'instrument.response_submit'"
        )
        .await,
        1
    );
}

struct Teams {
    study: String,
    researcher: String,
    rater: String,
    analyst: String,
    teams: Vec<String>,
    version: String,
}

/// A study with two trusts, an intervention and a control team in each, a
/// researcher, a practitioner with the rater role and an analyst.
async fn teams(t: &TestApp) -> Teams {
    let admin = t.admin().await;
    let study = t.study(&admin, "connecting-people").await;
    let mut teams = Vec::new();
    for n in 1..=2 {
        let site = t.site(&admin, &study, &format!("Trust {n}")).await;
        for arm in ["intervention", "control"] {
            let r = t
                .api(
                    Method::POST,
                    &format!("/studies/{study}/sites/{site}/teams"),
                    Some(&admin),
                )
                .json(&json!({ "name": format!("CMHT {n} {arm}"), "kind": "CMHT", "arm": arm }))
                .send()
                .await
                .unwrap();
            teams.push(crate::support::created_id(r).await);
        }
    }
    let mut sessions = Vec::new();
    for (name, role) in [("Res", "researcher"), ("Prac", "rater"), ("Ana", "analyst")] {
        let (id, email) = t.person(&admin, name).await;
        t.member(&admin, &study, &id, role, &[]).await;
        sessions.push(t.sign_in(&email, PASSWORD).await);
    }
    let [researcher, rater, analyst] = sessions.try_into().unwrap();
    let version = version_of(t, &researcher, &study, "connecting-people-fidelity").await;
    Teams {
        study,
        researcher,
        rater,
        analyst,
        teams,
        version,
    }
}

/// Every item of the draft Connecting People checklist rated `v`, the cycle items `cycle`.
fn ratings(v: i64, cycle: i64) -> Value {
    let mut a = serde_json::Map::new();
    for k in [
        "assess_connections",
        "plan_connections",
        "support_plan",
        "review_progress",
    ] {
        a.insert(k.into(), json!(cycle));
    }
    for k in [
        "views_person",
        "boundaries",
        "community_knowledge",
        "overcoming_barriers",
        "trying_new_things",
        "moving_on",
        "linking_to_someone_new",
        "team_environment",
        "agency_links",
    ] {
        a.insert(k.into(), json!(v));
    }
    Value::Object(a)
}

#[allow(clippy::too_many_arguments)]
async fn rate(
    t: &TestApp,
    token: &str,
    f: &Teams,
    team: &str,
    role: &str,
    code: Option<&str>,
    tp: &str,
    a: Value,
) {
    let r = start(
        t,
        token,
        &f.study,
        json!({ "instrument_version_id": f.version, "subject_id": team,
        "rater_role": role, "rater_code": code, "time_point": tp }),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = submit(t, token, &f.study, &id, a).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn fidelity_by_team_from_three_kinds_of_rater(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let f = teams(&t).await;
    let team = f.teams[0].clone();
    // Who may rate in which role.
    let try_start = |token: &str, role: &str, code: Option<&str>| {
        let body = json!({ "instrument_version_id": f.version, "subject_id": team,
            "rater_role": role, "rater_code": code, "time_point": "baseline" });
        let token = token.to_owned();
        let study = f.study.clone();
        let t = &t;
        async move { start(t, &token, &study, body).await }
    };
    for (token, role, code, field) in [
        (&f.rater, "researcher", None, "rater_role"),
        (&f.rater, "practitioner", Some("PR-01"), "rater_code"),
        (&f.researcher, "practitioner", None, "rater_code"),
        (&f.researcher, "team_manager", Some("TM-01"), "rater_role"),
        (
            &f.researcher,
            "service_user",
            Some("Ann Smith"),
            "rater_code",
        ),
    ] {
        let r = try_start(token, role, code).await;
        assert_eq!(r.status(), 422, "{role} {code:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    assert_eq!(
        try_start(&f.analyst, "researcher", None).await.status(),
        403
    );
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM instrument_responses").await,
        0
    );

    // Team 1 (intervention): practitioner 2s, service user (paper, by code) 1s
    // and 2s, researcher 2s; then 9 months on. Team 2 (control) lower.
    rate(
        &t,
        &f.rater,
        &f,
        &team,
        "practitioner",
        None,
        "baseline",
        ratings(2, 2),
    )
    .await;
    rate(
        &t,
        &f.researcher,
        &f,
        &team,
        "service_user",
        Some("SU-01"),
        "baseline",
        ratings(1, 2),
    )
    .await;
    rate(
        &t,
        &f.researcher,
        &f,
        &team,
        "researcher",
        None,
        "baseline",
        ratings(2, 1),
    )
    .await;
    rate(
        &t,
        &f.rater,
        &f,
        &f.teams[1],
        "practitioner",
        None,
        "baseline",
        ratings(1, 0),
    )
    .await;
    rate(
        &t,
        &f.researcher,
        &f,
        &f.teams[1],
        "service_user",
        Some("SU-02"),
        "baseline",
        ratings(0, 0),
    )
    .await;
    rate(
        &t,
        &f.rater,
        &f,
        &team,
        "practitioner",
        None,
        "month_9",
        ratings(2, 2),
    )
    .await;

    let view = t
        .get_json(
            &f.analyst,
            &format!("/studies/{}/instruments/{}/fidelity", f.study, f.version),
        )
        .await;
    assert_eq!(view["score_key"], "fidelity");
    assert_eq!(view["threshold"], 1.5);
    let team_of = |id: &str| {
        view["teams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["team_id"] == id)
            .unwrap()
            .clone()
    };
    let t1 = &team_of(&team);
    assert_eq!(t1["arm"], "intervention");
    let base = &t1["points"][0];
    // Means over 13 items: practitioner 2; service user (4*2 + 9*1)/13;
    // researcher (4*1 + 9*2)/13. Combined: the mean of the three.
    let su = 17.0 / 13.0;
    let res = 22.0 / 13.0;
    let combined = (2.0 + su + res) / 3.0;
    assert!(
        (base["combined"].as_f64().unwrap() - combined).abs() < 1e-9,
        "{base}"
    );
    assert_eq!(base["band"], "High fidelity");
    assert!(base["agreement"].is_number(), "{base}");
    assert_eq!(t1["points"][1]["time_point"], "month_9");
    let t2 = &team_of(&f.teams[1]);
    assert_eq!(t2["arm"], "control");
    assert_eq!(t2["points"][0]["band"], "Low or moderate fidelity");
    assert_eq!(
        view["pairs"].as_array().unwrap().len(),
        3,
        "{}",
        view["pairs"]
    );

    // A rater sees only their own responses, and no results.
    let mine = t
        .get_json(&f.rater, &format!("/studies/{}/responses", f.study))
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);
    let r = t
        .api(
            Method::GET,
            &format!("/studies/{}/instruments/{}/fidelity", f.study, f.version),
            Some(&f.rater),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Rescoring finds nothing to change; a stored score edited by hand is
    // reported, not silently kept, and replaced only when asked.
    let rescore = |apply: bool| {
        t.api(
            Method::POST,
            &format!("/studies/{}/instruments/{}/rescore", f.study, f.version),
            Some(&f.researcher),
        )
        .json(&json!({ "apply": apply }))
        .send()
    };
    let report: Value = rescore(false).await.unwrap().json().await.unwrap();
    assert_eq!(report["responses"], 6);
    assert_eq!(report["differences"], json!([]));
    sqlx::query("UPDATE instrument_responses SET scores = REPLACE(scores, '\"value\":2.0', '\"value\":1.0') WHERE rater_code IS NULL AND time_point = 'month_9'")
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    let report: Value = rescore(false).await.unwrap().json().await.unwrap();
    assert_eq!(
        report["differences"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    assert_eq!(report["differences"][0]["stored"], 1.0);
    assert_eq!(report["differences"][0]["computed"], 2.0);
    assert_eq!(report["applied"], false);
    let report: Value = rescore(true).await.unwrap().json().await.unwrap();
    assert_eq!(report["applied"], true);
    let report: Value = rescore(false).await.unwrap().json().await.unwrap();
    assert_eq!(report["differences"], json!([]));
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'instrument.rescore'"
        )
        .await,
        1
    );
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/instruments");

fn import_body(file: &str, id: &str) -> Value {
    use base64::Engine as _;
    let bytes = std::fs::read(format!("{FIXTURES}/{file}")).unwrap();
    json!({
        "file_name": file, "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        "id": id, "version": 1, "licence": "Written for fieldkit's tests; CC0.",
        "subject": "participant", "rater_roles": ["researcher", "participant"],
        "time_points": [{ "key": "baseline", "label": "Baseline" }]
    })
}

async fn import(t: &TestApp, token: &str, study: &str, body: Value) -> reqwest::Response {
    t.api(
        Method::POST,
        &format!("/studies/{study}/instruments"),
        Some(token),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

async fn an_xlsform_and_a_redcap_dictionary_import_as_instruments_of_the_study(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let before = count(&t, "SELECT COUNT(*) FROM instrument_versions").await;
    for (file, id) in [
        ("wellbeing-short.xlsx", "wellbeing-xlsx"),
        ("wellbeing-short.xlsform.csv", "wellbeing-csv"),
        ("wellbeing-short.redcap.csv", "wellbeing-redcap"),
    ] {
        let r = import(&t, &s.researcher, &s.study, import_body(file, id)).await;
        assert_eq!(r.status(), 200, "{file}: {}", r.text().await.unwrap());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["instrument"]["instrument_id"], id);
    }
    // The three imports hold the same definition, apart from their ids.
    let definitions: Vec<Value> = {
        let list = t
            .get_json(&s.researcher, &format!("/studies/{}/instruments", s.study))
            .await;
        let mut out = Vec::new();
        for i in list.as_array().unwrap().iter().filter(|i| {
            i["instrument_id"]
                .as_str()
                .unwrap()
                .starts_with("wellbeing-")
        }) {
            let v = t
                .get_json(
                    &s.researcher,
                    &format!(
                        "/studies/{}/instruments/{}",
                        s.study,
                        i["id"].as_str().unwrap()
                    ),
                )
                .await;
            let mut d = v["definition"].clone();
            d["id"] = json!("");
            out.push(d);
        }
        out
    };
    assert_eq!(definitions.len(), 3);
    assert!(
        definitions.windows(2).all(|w| w[0] == w[1]),
        "{definitions:?}"
    );

    // The same id and version again: refused. Garbage and an unknown
    // calculation: refused with the place named. Nothing stored by any.
    let r = import(
        &t,
        &s.researcher,
        &s.study,
        import_body("wellbeing-short.xlsx", "wellbeing-xlsx"),
    )
    .await;
    assert_eq!(r.status(), 409);
    let mut garbage = import_body("wellbeing-short.xlsx", "garbage");
    garbage["content_base64"] = json!("UEsDBAoAAAAAAA==");
    let r = import(&t, &s.researcher, &s.study, garbage).await;
    assert_eq!(r.status(), 422, "{}", r.text().await.unwrap());
    let csv = std::fs::read_to_string(format!("{FIXTURES}/wellbeing-short.redcap.csv")).unwrap();
    let broken = csv.replacen("[f1]+[f2]+(6-[f3])+[f4]\"", "[f1]*[f2]\"", 1);
    assert_ne!(broken, csv, "the fixture has a total to break");
    let mut body = import_body("wellbeing-short.redcap.csv", "broken");
    {
        use base64::Engine as _;
        body["content_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(broken));
    }
    let r = import(&t, &s.researcher, &s.study, body).await;
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    let detail = problem["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("data dictionary, row "), "{detail}");
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM instrument_versions").await,
        before + 3
    );

    // Only those who manage the study's instruments import.
    let admin = t.admin().await;
    let (id, email) = t.person(&admin, "Ana Lyst").await;
    t.member(&admin, &s.study, &id, "analyst", &[]).await;
    let analyst = t.sign_in(&email, PASSWORD).await;
    let r = import(
        &t,
        &analyst,
        &s.study,
        import_body("wellbeing-short.xlsx", "by-analyst"),
    )
    .await;
    assert_eq!(r.status(), 403);
}

/// pyxform, the reference XLSForm reader, accepts the fixtures our importer
/// reads, so they are XLSForms as ODK and KoboToolbox know them.
#[test]
fn pyxform_reads_the_xlsform_fixtures() {
    let dir = crate::support::TempDir::new();
    for file in ["wellbeing-short.xlsx", "wellbeing-short.xlsform.csv"] {
        let out = dir.0.join(format!("{file}.xml"));
        let run = std::process::Command::new("xls2xform")
            .arg(format!("{FIXTURES}/{file}"))
            .arg(&out)
            .output();
        let Ok(run) = run else {
            crate::support::missing_tool("xls2xform (pip install pyxform)");
            return;
        };
        assert!(
            run.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let xml = std::fs::read_to_string(&out).unwrap();
        for item in ["f1", "f3", "sessions", "comments"] {
            assert!(
                xml.contains(&format!("/{item}\"")),
                "{file}: no {item} in {xml}"
            );
        }
    }
}

async fn a_used_version_is_frozen_and_an_unused_one_follows_its_file(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    assert_eq!(take(&t, &s, &answers(&s, &[], "no")).await.status(), 200);
    let dir = crate::support::TempDir::new();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/instruments/fieldkit-synthetic.v1.toml"
    ))
    .unwrap();
    let ours = shipped.replace("id = \"fieldkit-synthetic\"", "id = \"team-own\"");
    let file = dir.0.join("team-own.v1.toml");
    let load = || fieldkit::instruments::catalogue::load(&t.app.db, Some(&dir.0), t.app.now());
    std::fs::write(&file, &ours).unwrap();
    assert_eq!(load().await.unwrap().loaded.len(), 1);
    // Not used yet: a change to the file is taken up.
    std::fs::write(
        &file,
        ours.replace("Synthetic statement one", "Synthetic statement 1"),
    )
    .unwrap();
    assert_eq!(load().await.unwrap().updated.len(), 1);
    let version = version_of(&t, &s.researcher, &s.study, "team-own").await;
    let r = start(
        &t,
        &s.researcher,
        &s.study,
        json!({ "instrument_version_id": version,
        "subject_id": s.participant, "rater_role": "researcher", "time_point": "baseline" }),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Used now: the file may not change it, and nothing is loaded.
    std::fs::write(
        &file,
        ours.replace("Synthetic statement two", "Synthetic statement 2"),
    )
    .unwrap();
    let refused = load().await.unwrap_err().to_string();
    assert!(
        refused.contains("has responses, so it cannot change; put the change in team-own.v2.toml"),
        "{refused}"
    );
    let stored: String = sqlx::query_scalar(
        "SELECT definition FROM instrument_versions WHERE instrument_id = 'team-own'",
    )
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    assert!(stored.contains("Synthetic statement two"));
    // A broken file names its line, and stops the load.
    std::fs::write(
        &file,
        ours.replace("type = \"yes_no\"", "type = \"yes-no\""),
    )
    .unwrap();
    let refused = load().await.unwrap_err().to_string();
    assert!(refused.contains("team-own.v1.toml:"), "{refused}");
}

on_both_engines!(
    a_used_version_is_frozen_and_an_unused_one_follows_its_file,
    an_xlsform_and_a_redcap_dictionary_import_as_instruments_of_the_study,
    a_questionnaire_about_a_participant_is_gated_by_consent_and_scored,
    parallel_responses_for_one_subject_rater_and_time_point_make_one,
    fidelity_by_team_from_three_kinds_of_rater,
);
