//! Withdrawal confirmations (issue 13, part 2), on both engines: after "no
//! further contact" no email is queued unless the participant asked for one;
//! other scopes are confirmed as before; the confirmation is shown on screen,
//! and the participant keeps their withdrawal record as a PDF.

use reqwest::Method;
use serde_json::{json, Value};

use crate::consent::{count, pdf_text, setup, site, withdraw, Setup};
use crate::support::{spawn, Engine, TestApp, PASSWORD};

const CONFIRMATIONS: &str =
    "SELECT COUNT(*) FROM outbox WHERE template = 'withdrawal_confirmation'";

/// A researcher's withdrawal, which must succeed: what the API answered.
async fn withdrawn(t: &TestApp, s: &Setup, body: Value) -> Value {
    let r = withdraw(t, s, body).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Recorded by a researcher: "no further contact" queues nothing unless the
/// participant asked; once they asked for no contact, later withdrawals are
/// not emailed either unless asked.
async fn no_further_contact_queues_no_email_unless_asked(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let done = withdrawn(&t, &s, json!({ "no_contact": true })).await;
    assert_eq!(done["confirmation_emailed"], false);
    assert_eq!(count(&t, CONFIRMATIONS).await, 0);

    let done = withdrawn(
        &t,
        &s,
        json!({ "no_contact": true, "email_confirmation": true }),
    )
    .await;
    assert_eq!(done["confirmation_emailed"], true);
    assert_eq!(count(&t, CONFIRMATIONS).await, 1);

    let done = withdrawn(
        &t,
        &s,
        json!({ "remove_identifiable": true, "erasure_refused_because": "already analysed" }),
    )
    .await;
    assert_eq!(
        done["confirmation_emailed"], false,
        "they asked for no contact earlier"
    );
    assert_eq!(count(&t, CONFIRMATIONS).await, 1);

    let listed: Value = t
        .get_json(
            &s.researcher,
            &format!("/studies/{}/consent-register/withdrawals", s.study),
        )
        .await;
    let emailed: Vec<&Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["confirmation_emailed"])
        .collect();
    assert_eq!(emailed, [&json!(false), &json!(true), &json!(false)]);
    let trail = sqlx::query_scalar::<_, String>(
        "SELECT details FROM audit_log WHERE action = 'consent.withdraw' ORDER BY seq",
    )
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap();
    assert!(
        trail[0].contains("\"confirmation_emailed\":false")
            && trail[1].contains("\"confirmation_emailed\":true")
    );
}

/// Any other scope is confirmed by email, as before, without asking.
async fn other_scopes_are_confirmed_as_before(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let done = withdrawn(&t, &s, json!({ "no_collection": true })).await;
    assert_eq!(done["confirmation_emailed"], true);
    assert_eq!(count(&t, CONFIRMATIONS).await, 1);
}

/// A participant with an account, enrolled with an email address; their session.
async fn participant_with_account(t: &TestApp, s: &Setup, name: &str) -> (String, String) {
    let admin = t.admin().await;
    let (account, email) = t.person(&admin, name).await;
    t.member(&admin, &s.study, &account, "participant", &[])
        .await;
    let site = site(t, &s.researcher, &s.study).await;
    let r = t
        .api(Method::POST, &format!("/studies/{}/participants", s.study), Some(&s.researcher))
        .json(&json!({ "site_id": site, "stakeholder_group": "student", "name": name, "email": email, "account_id": account }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    (
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        email,
    )
}

/// The participant withdraws on their own page: "no further contact" without
/// the box ticked queues no email, the page says so and lists the withdrawal
/// with its PDF record, which is theirs alone; with the box ticked, an email.
async fn a_participant_sees_their_withdrawal_and_keeps_its_record(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let (_, email) = participant_with_account(&t, &s, "Pat Participant").await;
    let mut page = t.pages();
    page.sign_in(&email, PASSWORD).await.assert_status(303);
    let own = format!("/my/studies/{}", s.study);
    page.get(&own).await.assert_status(200);
    let done = page
        .post(
            &format!("{own}/withdrawals"),
            &[("no_contact", "on"), ("withdrawal_reason", "")],
        )
        .await;
    done.assert_status(303);
    assert!(
        done.location().ends_with("done=withdrawn-self-not-emailed"),
        "{}",
        done.location()
    );
    assert_eq!(count(&t, CONFIRMATIONS).await, 0);
    let shown = page.get(done.location()).await;
    shown.assert_status(200);
    assert!(
        shown.text.contains("We have not emailed you"),
        "{}",
        shown.text
    );
    assert!(shown.text.contains("Your withdrawals"));
    let pdf_path = shown
        .text
        .split("href=\"")
        .map(|h| h.split('"').next().unwrap())
        .find(|h| h.contains("/withdrawals/") && h.ends_with("/pdf"))
        .expect("a link to the withdrawal record")
        .to_owned();

    let pdf = page.get(&pdf_path).await;
    pdf.assert_status(200);
    assert_eq!(pdf.header("content-type"), "application/pdf");
    assert!(pdf.header("content-disposition").contains("withdrawal-"));
    let bytes = t
        .http
        .get(t.url(&pdf_path))
        .header("cookie", page.cookie_header())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let text = pdf_text(&bytes);
    for expected in [
        "RC-0002",
        "No further contact from the research team.",
        "You, online",
        "No confirmation was emailed to you.",
    ] {
        assert!(
            text.contains(expected),
            "{expected} is missing from: {text}"
        );
    }
    assert_eq!(
        text.matches("Your withdrawal from").count(),
        1,
        "the title once: {text}"
    );
    assert!(
        !text.contains("Pat") && !text.contains(&email),
        "no identity in the record"
    );

    // Someone else's record is not found, to another participant or by guessing.
    let (_, other_email) = participant_with_account(&t, &s, "Sam Someone").await;
    let other = t.sign_in(&other_email, PASSWORD).await;
    let id = pdf_path.rsplit('/').nth(1).unwrap();
    let r = t
        .api(
            Method::GET,
            &format!("/my/studies/{}/withdrawals/{id}/pdf", s.study),
            Some(&other),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Ticking "email me a confirmation" sends one, even with no further contact.
    let r = t
        .api(
            Method::POST,
            &format!("/my/studies/{}/withdrawals", s.study),
            Some(&other),
        )
        .json(&json!({ "no_contact": true, "email_confirmation": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["confirmation_emailed"], true);
    assert_eq!(count(&t, CONFIRMATIONS).await, 1);
    let mine: Value = t
        .get_json(&other, &format!("/my/studies/{}", s.study))
        .await;
    assert_eq!(mine["withdrawals"][0]["id"], done["id"]);
    assert_eq!(mine["withdrawals"][0]["by_you"], true);
    assert_eq!(mine["withdrawals"][0]["basis"], "request");
}

on_both_engines!(
    no_further_contact_queues_no_email_unless_asked,
    other_scopes_are_confirmed_as_before,
    a_participant_sees_their_withdrawal_and_keeps_its_record,
);
