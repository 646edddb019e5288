//! Capacity under the Mental Capacity Act (DOMAIN.md C7) through the API, on
//! both engines: assessments per decision, consultees' advice only in an
//! approved study for someone lacking capacity, objections that withdraw at
//! once, and the "capacity changed" flag.

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::consent::{answers, count, invitation_path, setup, submit_online, take, Setup, NAME};
use crate::races::{assert_linear, chain, seqs};
use crate::support::{spawn, Engine, TestApp, PASSWORD};

const CONSULTEE: &str = "Priya Okonkwo";

fn base(s: &Setup) -> String {
    format!("/studies/{}/participants/{}", s.study, s.participant)
}

async fn post(t: &TestApp, s: &Setup, what: &str, body: Value) -> reqwest::Response {
    t.api(
        Method::POST,
        &format!("{}/{what}", base(s)),
        Some(&s.researcher),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

async fn assess(t: &TestApp, s: &Setup, decision: &str, on: &str, outcome: &str) {
    let r = post(t, s, "capacity-assessments", json!({ "decision": decision, "assessed_on": on, "outcome": outcome, "notes": "Could not retain the information sheet." })).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Approves the study under the Mental Capacity Act on the study form.
async fn approve(t: &TestApp, s: &Setup) {
    let admin = t.admin().await;
    let r = t
        .api(Method::PUT, &format!("/studies/{}", s.study), Some(&admin))
        .json(&json!({ "title": "Designing Together", "slug": "recovery-college-codesign", "code_prefix": "RC",
                       "lawful_basis": "public_task", "retention_years": 10, "status": "recruiting", "mca_approved": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let study: Value = t.get_json(&admin, &format!("/studies/{}", s.study)).await;
    assert_eq!(study["mca_approved"], true);
}

async fn capacity(t: &TestApp, s: &Setup) -> Value {
    t.get_json(&s.researcher, &format!("{}/capacity", base(s)))
        .await
}

/// Every audit entry with this action, as text.
async fn audit_details(t: &TestApp, action: &str) -> Vec<String> {
    sqlx::query("SELECT details FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

fn advice(s: &Setup, advice: &str) -> Value {
    json!({ "consultee_kind": "personal", "advice": advice, "consultee_name": CONSULTEE,
            "form_version_id": s.form_version, "answers": answers(s, &[], "no") })
}

async fn an_assessment_is_per_decision_and_clears_the_capacity_flag(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let r = post(&t, &s, "capacity-changed", json!({})).await;
    assert_eq!(r.status(), 204);
    assert_eq!(capacity(&t, &s).await["capacity_flag"], true);
    assert_eq!(audit_details(&t, "capacity.changed").await.len(), 1);

    // Lacking capacity for one use of data is not lacking it for taking part.
    assess(&t, &s, "audio_recording", "2026-01-10", "lacks_capacity").await;
    let c = capacity(&t, &s).await;
    assert_eq!(c["capacity_flag"], false, "an assessment clears the flag");
    let a = &c["assessments"][0];
    assert_eq!(a["decision"], "audio_recording");
    assert_eq!(a["assessed_on"], "2026-01-10");
    assert_eq!(a["outcome"], "lacks_capacity");
    assert_eq!(a["assessor"], "Rhea Researcher");
    assert_eq!(a["notes_given"], true);
    assert!(
        !c.to_string().contains("retain"),
        "no sealed value is shown"
    );
    let r = take(&t, &s, &answers(&s, &[], "no")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let notes: String = sqlx::query("SELECT notes_sealed FROM capacity_assessments")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
    assert!(notes.starts_with('v') && !notes.contains("retain"));
    let entries = audit_details(&t, "capacity.assess").await;
    assert_eq!(entries.len(), 1);
    assert!(entries[0].contains("RC-0001") && entries[0].contains("lacks_capacity"));
    assert!(!entries[0].contains("retain") && !entries[0].contains("Zo"));

    for (field, status, body) in [
        (
            "decision",
            422,
            json!({ "decision": "", "assessed_on": "2026-01-10", "outcome": "has_capacity" }),
        ),
        (
            "assessed_on",
            422,
            json!({ "decision": "take_part", "assessed_on": "2999-01-01", "outcome": "has_capacity" }),
        ),
        (
            "assessed_on",
            400,
            json!({ "decision": "take_part", "assessed_on": "10/01/2026", "outcome": "has_capacity" }),
        ),
    ] {
        let r = post(&t, &s, "capacity-assessments", body).await;
        assert_eq!(r.status(), status);
        assert!(r.text().await.unwrap().contains(field));
    }
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM capacity_assessments").await,
        1
    );
    // On the page the date is typed in day, month and year boxes.
    let mut page = t.pages();
    page.sign_in(&s.researcher_email, PASSWORD)
        .await
        .assert_status(303);
    let path = format!(
        "/studies/{}/participants/{}/capacity-assessments",
        s.study, s.participant
    );
    page.get(&format!(
        "/studies/{}/participants/{}",
        s.study, s.participant
    ))
    .await
    .assert_status(200);
    let typed = |day: &'static str| {
        [
            ("decision", "take_part"),
            ("assessed_on-day", day),
            ("assessed_on-month", "2"),
            ("assessed_on-year", "2026"),
            ("outcome", "has_capacity"),
        ]
    };
    let refused = page.post(&path, &typed("30")).await;
    refused.assert_status(422);
    assert!(
        refused.text.contains("for example 27 3 1984"),
        "{}",
        refused.text
    );
    page.post(&path, &typed("3")).await.assert_status(303);
    let on: String = sqlx::query_scalar(
        "SELECT assessed_on FROM capacity_assessments WHERE assessed_on <> '2026-01-10'",
    )
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    assert_eq!(on, "2026-02-03");
}

async fn lacking_capacity_to_take_part_refuses_ordinary_consent(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let path = invitation_path(&t, &s).await;
    assess(&t, &s, "take_part", "2026-01-10", "lacks_capacity").await;

    let r = take(&t, &s, &answers(&s, &[], "no")).await;
    assert_eq!(r.status(), 409);
    let problem = r.text().await.unwrap();
    assert!(
        problem.contains("consultee") && problem.contains("s.32"),
        "{problem}"
    );

    let mut page = t.pages();
    page.get(&path).await.assert_status(200);
    let refused = submit_online(&mut page, &s, &path, false).await;
    // The participant is told to speak with the research team; the reason,
    // worded for the team, is theirs to explain.
    refused.assert_status(409);
    assert!(
        refused
            .text
            .contains("We cannot record your consent online"),
        "{}",
        refused.text
    );
    assert!(!refused.text.contains("consultee"), "{}", refused.text);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consent_records").await, 0);

    // The latest assessment counts: regained capacity, they consent themselves.
    assess(&t, &s, "take_part", "2026-02-01", "has_capacity").await;
    let r = take(&t, &s, &answers(&s, &[], "no")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn consultee_advice_needs_a_study_approved_under_the_act(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    assess(&t, &s, "take_part", "2026-01-10", "lacks_capacity").await;
    let r = post(&t, &s, "consultee-advice", advice(&s, "take_part")).await;
    assert_eq!(r.status(), 409);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("This study is not approved under the Mental Capacity Act"));
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consultee_advice").await, 0);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consent_records").await, 0);
}

async fn consultee_advice_needs_an_assessment_finding_a_lack_of_capacity(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    approve(&t, &s).await;
    let r = post(&t, &s, "consultee-advice", advice(&s, "take_part")).await;
    assert_eq!(r.status(), 409, "no assessment yet");
    assess(&t, &s, "take_part", "2026-01-10", "lacks_capacity").await;
    assess(&t, &s, "take_part", "2026-01-20", "has_capacity").await;
    let r = post(&t, &s, "consultee-advice", advice(&s, "take_part")).await;
    assert_eq!(r.status(), 409, "the latest assessment finds capacity");
    assert!(r.text().await.unwrap().contains("lacking capacity"));
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consultee_advice").await, 0);
}

async fn consultee_advice_to_take_part_is_recorded_as_consent(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    approve(&t, &s).await;
    assess(&t, &s, "take_part", "2026-01-10", "lacks_capacity").await;

    // Every mandatory clause still needs a yes, or nothing is stored.
    let mut refused = advice(&s, "take_part");
    refused["answers"][&s.mandatory[0]] = json!("no");
    let r = post(&t, &s, "consultee-advice", refused).await;
    assert_eq!(r.status(), 422);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consultee_advice").await, 0);

    let r = post(&t, &s, "consultee-advice", advice(&s, "take_part")).await;
    assert_eq!(r.status(), 200);
    let record = r.json::<Value>().await.unwrap()["consent_record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let method: String = sqlx::query("SELECT method FROM consent_records WHERE id = $1")
        .bind(&record)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(method, "consultee_advice");
    let consent: Value = t
        .get_json(&s.researcher, &format!("{}/consent", base(&s)))
        .await;
    assert_eq!(consent["record_id"], record.as_str());
    assert!(consent["agreed"]
        .as_array()
        .unwrap()
        .contains(&json!("take_part")));
    let p = fieldkit::participants::store::get(
        &t.app.db.pool,
        &fieldkit::ids::StudyId::parse(&s.study).unwrap(),
        &fieldkit::ids::ParticipantId::parse(&s.participant).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(p.status.as_str(), "consented");
    t.may(&s.participant, "take_part".to_owned().into())
        .await
        .expect("the gate answers from the consultee's record");

    let c = capacity(&t, &s).await;
    let given = c["consultee_advice"].as_array().unwrap();
    assert_eq!(given.len(), 1);
    assert_eq!(given[0]["advice"], "take_part");
    assert_eq!(given[0]["effect"], "consent_recorded");
    assert_eq!(given[0]["form_version_id"], s.form_version.as_str());
    assert!(!c.to_string().contains("Priya"));
    let sealed: Vec<String> = sqlx::query("SELECT consultee_name_sealed FROM consultee_advice")
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(sealed
        .iter()
        .all(|v| v.starts_with('v') && !v.contains("Priya")));
    let entries = audit_details(&t, "consultee.advice").await;
    assert_eq!(entries.len(), 1);
    assert!(entries
        .iter()
        .all(|e| e.contains("RC-0001") && !e.contains("Priya")));
    assert_eq!(audit_details(&t, "consent.record").await.len(), 1);
}

async fn an_objection_withdraws_at_once(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let r = take(&t, &s, &answers(&s, &[], "no")).await;
    assert_eq!(r.status(), 200);
    let r = post(&t, &s, "objections", json!({ "description": " " })).await;
    assert_eq!(r.status(), 422);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM withdrawals").await, 0);

    let r = post(
        &t,
        &s,
        "objections",
        json!({ "description": "Pushed the recorder away and said stop." }),
    )
    .await;
    assert_eq!(r.status(), 204);
    let consent: Value = t
        .get_json(&s.researcher, &format!("{}/consent", base(&s)))
        .await;
    assert_eq!(consent["withdrawn"]["no_collection"], true);
    assert!(
        t.may(&s.participant, "take_part".to_owned().into())
            .await
            .is_err(),
        "no further data collection"
    );
    let r = take(&t, &s, &answers(&s, &[], "no")).await;
    assert_eq!(r.status(), 409);

    assert_eq!(
        capacity(&t, &s).await["objections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let sealed: String = sqlx::query("SELECT description_sealed FROM objections")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
    assert!(!sealed.contains("recorder"));
    let objection = audit_details(&t, "consent.objection").await;
    assert_eq!(objection.len(), 1);
    assert!(objection[0].contains("RC-0001") && !objection[0].contains("recorder"));
    assert_eq!(
        audit_details(&t, "consent.withdraw").await.len(),
        1,
        "the one withdrawal path"
    );
}

async fn the_register_lists_capacity_advice_and_objections_without_names(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    approve(&t, &s).await;
    assess(&t, &s, "take_part", "2026-01-10", "lacks_capacity").await;
    assert_eq!(
        post(&t, &s, "consultee-advice", advice(&s, "take_part"))
            .await
            .status(),
        200
    );
    let r = post(
        &t,
        &s,
        "objections",
        json!({ "description": "Pushed the camera away and said no." }),
    )
    .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let register = t
        .api(
            Method::GET,
            &format!("/studies/{}/consent-register/capacity", s.study),
            Some(&s.researcher),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parsed: Value = serde_json::from_str(&register).unwrap();
    let kinds: Vec<&str> = parsed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["assessment", "consultee_advice", "objection"]);
    assert!(parsed["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["study_code"] == "RC-0001"));
    assert_eq!(parsed["items"][0]["detail"], "take_part: lacks capacity");
    for secret in [CONSULTEE, NAME, "camera", "retain the information"] {
        assert!(!register.contains(secret), "{secret} is in the register");
    }
}

/// The participant's status, as the store reads it.
async fn status(t: &TestApp, s: &Setup) -> String {
    sqlx::query("SELECT status FROM participants WHERE id = $1")
        .bind(&s.participant)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0)
}

/// The withdrawal rows' bases and whether a confirmation was emailed.
async fn withdrawals(t: &TestApp) -> Vec<(String, Option<i16>)> {
    sqlx::query("SELECT basis, confirmation_emailed FROM withdrawals ORDER BY recorded_at, id")
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Makes every insert into `table` fail, as a fault between two writes of
/// one transaction would; `heal` takes it away again.
async fn inject_fault(t: &TestApp, table: &str) {
    let statements = match t.engine {
        Engine::Sqlite => vec![format!(
            "CREATE TRIGGER inject_fault BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        )],
        Engine::Postgres => vec![
            "CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$".into(),
            format!("CREATE TRIGGER inject_fault BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION inject_fault()"),
        ],
    };
    for sql in statements {
        sqlx::query(&sql).execute(&t.app.db.pool).await.unwrap();
    }
}

async fn heal(t: &TestApp, table: &str) {
    let sql = match t.engine {
        Engine::Sqlite => "DROP TRIGGER inject_fault".to_owned(),
        Engine::Postgres => format!("DROP TRIGGER inject_fault ON {table}"),
    };
    sqlx::query(&sql).execute(&t.app.db.pool).await.unwrap();
}

/// s.32(5), before any consent: advice against keeps them out of every
/// consent path (online, in person, a consultee's advice to take part), even
/// after they regain capacity, and cancels the open link; no email goes to
/// someone who lacks capacity and did not ask.
async fn advice_against_before_consent_blocks_every_consent_path(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    approve(&t, &s).await;
    let path = invitation_path(&t, &s).await;
    // The link is open in their browser when the advice is recorded.
    let mut page = t.pages();
    page.get(&path).await.assert_status(200);
    assess(&t, &s, "take_part", "2026-01-10", "lacks_capacity").await;
    let emails_before = count(&t, "SELECT COUNT(*) FROM outbox").await;

    let r = post(&t, &s, "consultee-advice", advice(&s, "not_take_part")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        r.json::<Value>().await.unwrap()["consent_record_id"],
        Value::Null
    );
    assert_eq!(status(&t, &s).await, "withdrawn");
    assert_eq!(
        withdrawals(&t).await,
        [("consultee_advice".to_owned(), Some(0))]
    );
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM outbox").await,
        emails_before,
        "no email"
    );
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM consent_invitations WHERE cancelled_at IS NULL AND used_at IS NULL").await,
        0,
        "the open link is cancelled"
    );

    // Online: the form already open is refused when sent, and the link no
    // longer opens.
    let refused = submit_online(&mut page, &s, &path, false).await;
    assert_eq!(refused.status, 410, "{}", refused.text);
    t.pages().get(&path).await.assert_status(410);
    // A new link is refused too.
    let r = post(
        &t,
        &s,
        "consent-invitations",
        json!({ "form_id": "participation" }),
    )
    .await;
    assert_eq!(r.status(), 409);
    // A consultee's advice to take part, later, does not bring them in.
    let r = post(&t, &s, "consultee-advice", advice(&s, "take_part")).await;
    assert_eq!(r.status(), 409);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("withdrawn from further data collection"));
    // Nor does consent in person after they regain capacity.
    assess(&t, &s, "take_part", "2026-02-01", "has_capacity").await;
    let r = take(&t, &s, &answers(&s, &[], "no")).await;
    assert_eq!(r.status(), 409);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consent_records").await, 0);
    assert!(t
        .may(&s.participant, "take_part".to_owned().into())
        .await
        .is_err());

    // The register shows the advice and what it did; the trail says why.
    let c = capacity(&t, &s).await;
    assert_eq!(c["consultee_advice"][0]["effect"], "kept_from_taking_part");
    let register: Value = t
        .get_json(
            &s.researcher,
            &format!("/studies/{}/consent-register/capacity", s.study),
        )
        .await;
    let advice_row = register["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "consultee_advice")
        .unwrap()
        .clone();
    assert!(
        advice_row["detail"]
            .as_str()
            .unwrap()
            .contains("kept from taking part"),
        "{advice_row}"
    );
    let listed: Value = t
        .get_json(
            &s.researcher,
            &format!("/studies/{}/consent-register/withdrawals", s.study),
        )
        .await;
    assert_eq!(listed["items"][0]["basis"], "consultee_advice");
    assert_eq!(listed["items"][0]["confirmation_emailed"], false);
    let withdraw = audit_details(&t, "consent.withdraw").await;
    assert_eq!(withdraw.len(), 1);
    assert!(
        withdraw[0].contains("\"basis\":\"consultee_advice\""),
        "{}",
        withdraw[0]
    );
    assert!(audit_details(&t, "consultee.advice").await[0].contains("kept_from_taking_part"));
}

/// s.32(5), while taking part (after their capacity changed): advice against
/// withdraws them at once, in the advice's own transaction; later collection
/// is refused; a second advice against changes nothing more.
async fn advice_against_while_taking_part_withdraws_at_once(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    approve(&t, &s).await;
    assert_eq!(
        take(&t, &s, &answers(&s, &["audio_recording"], "no"))
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&t, &s, "capacity-changed", json!({})).await.status(),
        204
    );
    assess(&t, &s, "take_part", "2026-03-01", "lacks_capacity").await;

    // A fault between the advice and the withdrawal leaves neither.
    inject_fault(&t, "withdrawals").await;
    let r = post(&t, &s, "consultee-advice", advice(&s, "not_take_part")).await;
    assert_eq!(r.status(), 500);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consultee_advice").await, 0);
    assert_eq!(status(&t, &s).await, "consented");
    heal(&t, "withdrawals").await;

    let r = post(&t, &s, "consultee-advice", advice(&s, "not_take_part")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(status(&t, &s).await, "withdrawn");
    assert!(t
        .may(&s.participant, "audio_recording".to_owned().into())
        .await
        .is_err());
    assert_eq!(take(&t, &s, &answers(&s, &[], "no")).await.status(), 409);
    assert_eq!(
        withdrawals(&t).await,
        [("consultee_advice".to_owned(), Some(0))]
    );
    assert_eq!(
        capacity(&t, &s).await["consultee_advice"][0]["effect"],
        "withdrawn"
    );

    // One transaction: the advice and the withdrawal are neighbours in the trail.
    let (advised, withdrawn) = (
        seqs(&t, "consultee.advice").await,
        seqs(&t, "consent.withdraw").await,
    );
    assert_eq!(withdrawn, [advised[0] + 1], "{advised:?} {withdrawn:?}");

    let r = post(&t, &s, "consultee-advice", advice(&s, "not_take_part")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(withdrawals(&t).await.len(), 1, "no second withdrawal");
    assert_eq!(
        capacity(&t, &s).await["consultee_advice"][0]["effect"],
        "already_withdrawn"
    );
}

/// s.33: an objection and its withdrawal are one transaction; a fault between
/// them leaves neither, and nothing queued.
async fn an_objection_and_its_withdrawal_land_together_or_not_at_all(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    assert_eq!(take(&t, &s, &answers(&s, &[], "no")).await.status(), 200);
    let emails_before = count(&t, "SELECT COUNT(*) FROM outbox").await;
    let object = || {
        post(
            &t,
            &s,
            "objections",
            json!({ "description": "Turned away and said no more." }),
        )
    };

    inject_fault(&t, "objections").await;
    assert_eq!(object().await.status(), 500);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM withdrawals").await, 0);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM objections").await, 0);
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM outbox").await,
        emails_before
    );
    assert_eq!(status(&t, &s).await, "consented");
    assert!(audit_details(&t, "consent.withdraw").await.is_empty());
    heal(&t, "objections").await;

    assert_eq!(object().await.status(), 204);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM objections").await, 1);
    assert_eq!(withdrawals(&t).await, [("objection".to_owned(), Some(1))]);
    assert_eq!(status(&t, &s).await, "withdrawn");
}

/// Twenty consultees' advice to take part and one advice against, at once:
/// no consent lands after the withdrawal the advice against makes, the chain
/// of those that landed before it stays linear, and the withdrawal holds.
async fn advice_against_racing_advice_to_take_part_holds(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    approve(&t, &s).await;
    assess(&t, &s, "take_part", "2026-01-10", "lacks_capacity").await;
    let yes = (0..20).map(|_| post(&t, &s, "consultee-advice", advice(&s, "take_part")));
    let no = post(&t, &s, "consultee-advice", advice(&s, "not_take_part"));
    let (yes, no) = tokio::join!(futures_util::future::join_all(yes), no);
    assert_eq!(no.status(), 200);
    for r in &yes {
        assert!([200, 409].contains(&r.status().as_u16()), "{}", r.status());
    }
    let withdrawn = seqs(&t, "consent.withdraw").await;
    assert_eq!(withdrawn.len(), 1);
    let recorded = seqs(&t, "consent.record").await;
    assert!(
        recorded.iter().all(|seq| *seq < withdrawn[0]),
        "a consent landed after the withdrawal: {recorded:?} then {withdrawn:?}"
    );
    let accepted = yes.iter().filter(|r| r.status() == 200).count();
    assert_eq!(
        recorded.len(),
        accepted,
        "every acknowledged advice is a record"
    );
    if accepted > 0 {
        assert_linear(&chain(&t, &s.participant).await);
    }
    assert_eq!(status(&t, &s).await, "withdrawn");
    assert!(t
        .may(&s.participant, "take_part".to_owned().into())
        .await
        .is_err());
}

on_both_engines!(
    the_register_lists_capacity_advice_and_objections_without_names,
    an_assessment_is_per_decision_and_clears_the_capacity_flag,
    lacking_capacity_to_take_part_refuses_ordinary_consent,
    consultee_advice_needs_a_study_approved_under_the_act,
    consultee_advice_needs_an_assessment_finding_a_lack_of_capacity,
    consultee_advice_to_take_part_is_recorded_as_consent,
    an_objection_withdraws_at_once,
    advice_against_before_consent_blocks_every_consent_path,
    advice_against_while_taking_part_withdraws_at_once,
    an_objection_and_its_withdrawal_land_together_or_not_at_all,
    advice_against_racing_advice_to_take_part_holds,
);
