//! Re-consent and changes of mind (issue 3): who is due on a newer form
//! version and their bulk invitation; a participant's own page and API, where
//! they change optional choices (a new record superseding the old) or withdraw,
//! and reach nothing of anyone else's.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::races::{assert_linear, chain, seqs};
use crate::support::{spawn, Engine, TestApp, PASSWORD};
use fieldkit::consent::forms::model::DataUse;

struct Setup {
    study: String,
    researcher: String,
    researcher_email: String,
    form_version: String,
    /// Two participants, each linked to their own account: (participant id, session).
    a: (String, String),
    b: (String, String),
    a_email: String,
    /// Their first consent records.
    a_record: String,
    b_record: String,
}

/// A recovery-college study with the shipped forms, a researcher, and two
/// participants with accounts who consented in person (audio yes, other options no).
async fn setup(t: &TestApp) -> Setup {
    let admin = t.admin().await;
    let study = t.study(&admin, "recovery-college-codesign").await;
    let site = t.site(&admin, &study, "College").await;
    let (rid, remail) = t.person(&admin, "Rhea Researcher").await;
    t.member(&admin, &study, &rid, "researcher", &[]).await;
    let researcher = t.sign_in(&remail, PASSWORD).await;
    let form = t.consent_form(&researcher, &study, "participation").await;
    let answers: serde_json::Map<String, Value> = form["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let key = c["key"].as_str().unwrap();
            let yes = c["mandatory"] == true || key == "audio_recording";
            (key.to_owned(), json!(if yes { "yes" } else { "no" }))
        })
        .collect();
    let mut people = Vec::new();
    for name in ["Pat Participant", "Sam Someone"] {
        let (account, email) = t.person(&admin, name).await;
        t.member(&admin, &study, &account, "participant", &[]).await;
        let r = t
            .api(Method::POST, &format!("/studies/{study}/participants"), Some(&researcher))
            .json(&json!({ "site_id": site, "stakeholder_group": "student", "name": name, "account_id": account }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = t
            .api(Method::POST, &format!("/studies/{study}/participants/{id}/consents"), Some(&researcher))
            .json(&json!({ "form_version_id": form["id"], "method": "in_person_witnessed", "answers": answers, "signature": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let record = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let session = t.sign_in(&email, PASSWORD).await;
        people.push((id, session, email, record));
    }
    let (b_id, b_session, _, b_record) = people.pop().unwrap();
    let (a_id, a_session, a_email, a_record) = people.pop().unwrap();
    Setup {
        study,
        researcher,
        researcher_email: remail,
        form_version: form["id"].as_str().unwrap().to_owned(),
        a: (a_id, a_session),
        b: (b_id, b_session),
        a_email,
        a_record,
        b_record,
    }
}

async fn get_json(t: &TestApp, path: &str, session: &str) -> (u16, Value) {
    let r = t
        .api(Method::GET, path, Some(session))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post_json(t: &TestApp, path: &str, session: &str, body: Value) -> (u16, Value) {
    let r = t
        .api(Method::POST, path, Some(session))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn record_hash(t: &TestApp, record: &str) -> (String, i64) {
    let r = sqlx::query("SELECT record_hash, (SELECT COUNT(*) FROM consent_answers WHERE record_id = $1 AND agreed = 1) FROM consent_records WHERE id = $1")
        .bind(record)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

async fn a_new_form_version_lists_those_due_and_invites_them_in_bulk(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let due_path = format!("/studies/{}/reconsent-due", s.study);
    let invite_path = format!("/studies/{}/reconsent-invitations", s.study);
    let (status, due) = get_json(&t, &due_path, &s.researcher).await;
    assert_eq!(status, 200);
    assert_eq!(
        due,
        json!({ "items": [], "next": null }),
        "nobody is due while their version is current"
    );

    t.publish_copy(&s.form_version, "participation", 2).await;
    let (_, page) = get_json(&t, &due_path, &s.researcher).await;
    let due = &page["items"];
    let ids: Vec<&str> = due
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["participant_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [s.a.0.as_str(), s.b.0.as_str()]);
    assert_eq!(due[0]["agreed_version"], 1);
    assert_eq!(due[0]["current_version"], 2);

    // Nothing chosen, or someone not due: refused, nothing sent.
    let (status, _) = post_json(&t, &invite_path, &s.researcher, json!({})).await;
    assert_eq!(status, 422);
    let (status, _) = post_json(
        &t,
        &invite_path,
        &s.researcher,
        json!({ "participant_ids": ["nobody"] }),
    )
    .await;
    assert_eq!(status, 400, "not an id");
    let (status, _) = post_json(
        &t,
        &invite_path,
        &s.researcher,
        json!({ "participant_ids": [uuid::Uuid::now_v7().to_string()] }),
    )
    .await;
    assert_eq!(status, 422, "not due");
    let (status, links) = post_json(
        &t,
        &invite_path,
        &s.researcher,
        json!({ "participant_ids": [s.a.0] }),
    )
    .await;
    assert_eq!(status, 200, "{links}");
    assert_eq!(links.as_array().unwrap().len(), 1);
    assert_eq!(links[0]["participant_id"], s.a.0.as_str());

    // A re-consents on version 2 through the link: a new record linked to the old one.
    let link = links[0]["link"].as_str().unwrap();
    let path = &link[link.find("/consent").unwrap()..];
    let token = path.split_once("token=").unwrap().1;
    let mut page = t.pages();
    let html = page.get(path).await.assert_status(200).text.clone();
    assert!(html.contains("Form version 2"));
    let forms: Value = get_json(
        &t,
        &format!("/studies/{}/consent-forms", s.study),
        &s.researcher,
    )
    .await
    .1;
    let v2 = forms
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["form_id"] == "participation" && f["version"] == 2)
        .unwrap();
    let mut fields: Vec<(String, String)> = v2["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!("answer.{}", c["key"].as_str().unwrap()),
                if c["mandatory"] == true { "yes" } else { "no" }.to_owned(),
            )
        })
        .collect();
    fields.push(("token".into(), token.into()));
    fields.push(("signature".into(), "Pat Participant".into()));
    fields.push(("go".into(), "sign".into()));
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let done = page.post("/consent", &refs).await;
    assert!(done.text.contains("Thank you"), "{}", done.text);
    let before = record_hash(&t, &s.a_record).await;
    let (_, mine) = get_json(&t, &format!("/my/studies/{}", s.study), &s.a.1).await;
    assert_eq!(mine["records"].as_array().unwrap().len(), 2);
    assert_eq!(mine["records"][0]["form_version"], 2);
    assert_eq!(mine["records"][0]["supersedes_id"], s.a_record.as_str());
    assert_eq!(
        record_hash(&t, &s.a_record).await,
        before,
        "the old record is kept as it was"
    );

    // The participants page links to the re-consent page, which lists B as
    // due, nobody ticked, and invites B.
    let mut page = t.pages();
    page.sign_in(&s.researcher_email, PASSWORD)
        .await
        .assert_status(303);
    let reconsent = format!("/studies/{}/reconsent", s.study);
    assert!(page
        .get(&format!("/studies/{}/participants", s.study))
        .await
        .assert_status(200)
        .text
        .contains(&format!("href=\"{reconsent}\"")));
    let html = page.get(&reconsent).await.assert_status(200).text.clone();
    assert!(html.contains("Due for re-consent"));
    assert!(
        html.contains(&format!("name=\"participant_id\" value=\"{}\">", s.b.0)),
        "not pre-ticked"
    );
    assert!(
        !html.contains(&format!("value=\"{}\">", s.a.0)),
        "A has re-consented"
    );
    let r = page
        .post(&invite_path, &[("participant_id", s.b.0.as_str())])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("consent?token=fkc_"), "{}", r.text);

    // A is no longer due; B withdraws from contact and is no longer due either.
    let (status, _) = post_json(
        &t,
        &format!("/studies/{}/participants/{}/withdrawals", s.study, s.b.0),
        &s.researcher,
        json!({ "no_contact": true }),
    )
    .await;
    assert_eq!(status, 200);
    let (_, due) = get_json(&t, &due_path, &s.researcher).await;
    assert_eq!(due, json!({ "items": [], "next": null }));
}

async fn a_participant_changes_an_optional_choice(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let base = format!("/my/studies/{}", s.study);
    let (status, mine) = get_json(&t, &base, &s.a.1).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["records"].as_array().unwrap().len(), 1);
    let audio = mine["choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "audio_recording")
        .unwrap();
    assert_eq!(audio["agreed"], true, "prefilled from the current answers");
    assert!(t.may(&s.a.0, DataUse::AudioRecording).await.is_ok());
    let old = record_hash(&t, &s.a_record).await;

    // A mandatory clause cannot be dropped here (that is a withdrawal).
    let mandatory = mine["choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["mandatory"] == true)
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = post_json(
        &t,
        &format!("{base}/choices"),
        &s.a.1,
        json!({ "answers": { mandatory.clone(): "no" }, "signature": "Pat Participant" }),
    )
    .await;
    assert_eq!(status, 422);

    let (status, created) = post_json(&t, &format!("{base}/choices"), &s.a.1, json!({ "answers": { "audio_recording": "no", "video_recording": "yes" }, "signature": "Pat Participant" })).await;
    assert_eq!(status, 200, "{created}");
    let (_, mine) = get_json(&t, &base, &s.a.1).await;
    assert_eq!(mine["records"].as_array().unwrap().len(), 2);
    assert_eq!(mine["records"][0]["id"], created["id"]);
    assert_eq!(mine["records"][0]["method"], "online");
    assert_eq!(mine["records"][0]["supersedes_id"], s.a_record.as_str());
    assert!(
        t.may(&s.a.0, DataUse::AudioRecording).await.is_err(),
        "the gate follows the new choice"
    );
    assert!(t.may(&s.a.0, DataUse::VideoRecording).await.is_ok());
    assert!(
        t.may(&s.a.0, DataUse::TakePart).await.is_ok(),
        "mandatory clauses stay agreed"
    );
    assert_eq!(
        record_hash(&t, &s.a_record).await,
        old,
        "the old record is unchanged"
    );
    let actor: String = sqlx::query(
        "SELECT actor FROM audit_log WHERE action = 'consent.record' AND entity_id = $1",
    )
    .bind(created["id"].as_str().unwrap())
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(
        actor,
        format!("participant:{}", s.a.0),
        "the audit names the participant by id only"
    );

    // The same through the page: the form offers only the optional clauses, prefilled.
    let mut page = t.pages();
    page.sign_in(&s.a_email, PASSWORD).await.assert_status(303);
    let html = page.get(&base).await.assert_status(200).text.clone();
    assert!(html.contains("Your part in"));
    assert!(html.contains(
        "id=\"answer-video_recording-yes\" name=\"answer.video_recording\" value=\"yes\" checked"
    ));
    assert!(!html.contains(&format!("name=\"answer.{mandatory}\"")));
    let r = page
        .post(
            &format!("{base}/choices"),
            &[
                ("answer.video_recording", "no"),
                ("signature", "Pat Participant"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(t.may(&s.a.0, DataUse::VideoRecording).await.is_err());
    let r = page
        .post(
            &format!("{base}/choices"),
            &[("answer.video_recording", "yes"), ("signature", "")],
        )
        .await;
    assert_eq!(r.status, 422, "no signature, no new record");
    assert!(t.may(&s.a.0, DataUse::VideoRecording).await.is_err());
}

async fn a_participant_reaches_only_their_own_records(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let base = format!("/my/studies/{}", s.study);
    let (status, _) = get_json(
        &t,
        &format!("{base}/consent-records/{}/pdf", s.a_record),
        &s.a.1,
    )
    .await;
    assert_eq!(status, 200);
    let r = t
        .api(
            Method::GET,
            &format!("{base}/consent-records/{}/pdf", s.b_record),
            Some(&s.a.1),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "another participant's copy is not found");
    for path in [
        format!("/studies/{}/participants", s.study),
        format!("/studies/{}/participants/{}/consent", s.study, s.b.0),
        format!("/studies/{}/consent-records/{}/pdf", s.study, s.b_record),
        format!("/studies/{}/reconsent-due", s.study),
    ] {
        let (status, _) = get_json(&t, &path, &s.a.1).await;
        assert!(matches!(status, 403 | 404), "{path}: {status}");
    }
    let (status, _) = get_json(&t, &base, &s.researcher).await;
    assert_eq!(status, 403, "researchers use their own routes");
    let mut page = t.pages();
    page.sign_in(&s.a_email, PASSWORD).await.assert_status(303);
    page.get(&format!("{base}/consent-records/{}/pdf", s.b_record))
        .await
        .assert_status(404);
    page.get(&format!("/studies/{}/participants/{}", s.study, s.b.0))
        .await
        .assert_status(403);
    let html = page.get("/").await.assert_status(200).text.clone();
    assert!(
        html.contains(&format!("href=\"{base}\"")),
        "the dashboard links the participant's page"
    );
    // A's page never shows B's records.
    let html = page.get(&base).await.assert_status(200).text.clone();
    assert!(html.contains(&s.a_record) && !html.contains(&s.b_record));
}

async fn a_participant_withdraws_themselves(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let base = format!("/my/studies/{}", s.study);
    let (status, _) = post_json(&t, &format!("{base}/withdrawals"), &s.a.1, json!({})).await;
    assert_eq!(status, 422, "a scope is needed");
    let (status, _) = post_json(
        &t,
        &format!("{base}/withdrawals"),
        &s.a.1,
        json!({ "no_collection": true, "reason": "too much on" }),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        t.may(&s.a.0, DataUse::TakePart).await.is_err(),
        "further collection refused at once"
    );
    assert!(
        t.may(&s.b.0, DataUse::TakePart).await.is_ok(),
        "nobody else's"
    );
    let (_, p) = get_json(
        &t,
        &format!("/studies/{}/participants/{}", s.study, s.a.0),
        &s.researcher,
    )
    .await;
    assert_eq!(p["status"], "withdrawn");
    let (_, mine) = get_json(&t, &base, &s.a.1).await;
    assert_eq!(mine["withdrawn"]["no_collection"], true);
    assert_eq!(
        mine["choices"],
        json!([]),
        "no choices to change after withdrawing"
    );
    let (status, _) = post_json(
        &t,
        &format!("{base}/choices"),
        &s.a.1,
        json!({ "answers": {}, "signature": "Pat Participant" }),
    )
    .await;
    assert_eq!(status, 409);
    let row = sqlx::query("SELECT w.recorded_by, a.actor FROM withdrawals w JOIN audit_log a ON a.entity_id = w.participant_id AND a.action = 'consent.withdraw' WHERE w.participant_id = $1")
        .bind(&s.a.0)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let (by, actor): (String, String) = (row.get(0), row.get(1));
    assert!(
        actor.ends_with(&by),
        "recorded by the participant's own account: {actor}"
    );
}

/// Changes of mind sent together, and a withdrawal among them: one line of
/// records, none recorded after the acknowledged withdrawal, and the
/// withdrawal in force afterwards.
async fn changes_of_mind_at_once_make_one_line_and_yield_to_a_withdrawal(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let base = format!("/my/studies/{}", s.study);
    let choices = format!("{base}/choices");
    let change = |audio: &str| {
        post_json(
            &t,
            &choices,
            &s.a.1,
            json!({ "answers": { "audio_recording": audio }, "signature": "Pat Participant" }),
        )
    };
    let before = seqs(&t, "consent.record").await.len();
    let changes = join_all((0..10).map(|i| change(if i % 2 == 0 { "no" } else { "yes" })));
    let withdrawal = async {
        // Sent once a change has landed, so it meets the others in flight.
        while seqs(&t, "consent.record").await.len() == before {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        post_json(
            &t,
            &format!("{base}/withdrawals"),
            &s.a.1,
            json!({ "no_collection": true }),
        )
        .await
    };
    let (changes, (withdrawn, _)) = tokio::join!(changes, withdrawal);
    assert_eq!(withdrawn, 200);
    let accepted = changes.iter().filter(|(status, _)| *status == 200).count();
    assert!(accepted >= 1, "at least the change waited for landed");
    assert!(
        changes
            .iter()
            .all(|(status, _)| [200, 409].contains(status)),
        "{changes:?}"
    );
    let records = chain(&t, &s.a.0).await;
    assert_linear(&records);
    assert_eq!(records.len(), 1 + accepted);
    let withdrawal_at = seqs(&t, "consent.withdraw").await;
    let recorded_at = seqs(&t, "consent.record").await;
    assert!(
        recorded_at.iter().all(|r| r < &withdrawal_at[0]),
        "a change landed after the withdrawal: {recorded_at:?} {withdrawal_at:?}"
    );
    assert!(t.may(&s.a.0, DataUse::TakePart).await.is_err());
    let (status, _) = change("yes").await;
    assert_eq!(status, 409, "no change of mind after withdrawing");
}

on_both_engines!(
    a_new_form_version_lists_those_due_and_invites_them_in_bulk,
    a_participant_changes_an_optional_choice,
    a_participant_reaches_only_their_own_records,
    a_participant_withdraws_themselves,
    changes_of_mind_at_once_make_one_line_and_yield_to_a_withdrawal,
);
