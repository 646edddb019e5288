//! Consent emails to participants, on both engines: the invitation (only when
//! the vault holds an address), the copy with the PDF attached (only when
//! asked for; delivered to a real SMTP server), and the withdrawal
//! confirmation (queued before the identity is erased). Reading the address
//! is a system use of the identity, audited without the value.

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::consent::{answers, count, setup, submit_online, take, withdraw, Setup, NAME};
use crate::support::{
    aiosmtpd_available, free_port, parse_message, spawn, spawn_with, Engine, SmtpServer, TempDir,
    TestApp,
};

const EMAIL: &str = "zoe@example.org";

async fn invite(t: &TestApp, s: &Setup, participant: &str) -> Value {
    let r = t
        .api(
            Method::POST,
            &format!(
                "/studies/{}/participants/{participant}/consent-invitations",
                s.study
            ),
            Some(&s.researcher),
        )
        .json(&json!({ "form_id": "participation" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The file name of RC-0001's copy of the participation form signed today.
fn copy_name(t: &TestApp) -> String {
    let day = fieldkit::clock::local_date(t.app.clock.now_ms());
    format!("RC-0001-participation-v1-{day}.pdf")
}

async fn consent_online(t: &TestApp, s: &Setup, link: &str, send_copy: bool) {
    let mut page = t.pages();
    let path = link.strip_prefix(&t.base).unwrap();
    page.get(path).await.assert_status(200);
    let done = submit_online(&mut page, s, link, send_copy).await;
    done.assert_status(200);
    // Asked for, the copy is said to be on its way; never otherwise.
    assert_eq!(
        done.text.contains("We have emailed a copy to you"),
        send_copy,
        "{}",
        done.text
    );
}

async fn an_invitation_is_emailed_only_when_there_is_an_address(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let sent = invite(&t, &s, &s.participant).await;
    assert_eq!(sent["emailed"], true);
    let link = sent["link"].as_str().unwrap();
    let (subject, text, html) = t.last_email_to(EMAIL).await;
    assert!(!subject.contains("Zoë") && !subject.contains("Okonkwo"));
    let token = link.split_once("token=").unwrap().1;
    assert!(text.contains(link) && html.contains(token));

    let site: String = sqlx::query("SELECT site_id FROM participants WHERE id = $1")
        .bind(&s.participant)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{}/participants", s.study),
            Some(&s.researcher),
        )
        .json(&json!({ "site_id": site, "stakeholder_group": "carer", "name": "Ada No-Email" }))
        .send()
        .await
        .unwrap();
    let without = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = invite(&t, &s, &without).await;
    assert_eq!(sent["emailed"], false);
    assert!(sent["link"].as_str().unwrap().contains("/consent?token="));
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM outbox WHERE template = 'consent_invitation'"
        )
        .await,
        1
    );
}

async fn a_copy_asked_for_online_arrives_over_smtp_with_the_pdf(engine: Engine) {
    if !aiosmtpd_available() {
        return;
    }
    let dir = TempDir::new();
    let smtp = SmtpServer::start(free_port(), &dir.0);
    let port = smtp.port;
    let Some(t) = spawn_with(engine, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))
    })
    .await
    else {
        return;
    };
    let s = setup(&t).await;
    // The researcher's own account invitation goes out first.
    assert_eq!(t.send_mail().await, 1);
    invite(&t, &s, &s.participant).await;
    assert_eq!(t.send_mail().await, 1);

    // The participant follows the link in the email that arrived.
    let delivered = |smtp: &SmtpServer, subject: &str| {
        smtp.delivered()
            .iter()
            .map(|f| parse_message(f))
            .find(|m| m["subject"] == subject)
            .unwrap_or_else(|| panic!("no message {subject:?} arrived"))
    };
    let invitation = delivered(&smtp, "Your invitation to a research consent form");
    assert!(invitation["rcpt_to"].as_str().unwrap().contains(EMAIL));
    let text = invitation["parts"][0]["body"].as_str().unwrap();
    let at = text.find(&t.base).expect("a link in the invitation");
    let link = text[at..].split_whitespace().next().unwrap().to_owned();
    consent_online(&t, &s, &link, true).await;
    assert_eq!(t.send_mail().await, 1);

    let copy = delivered(&smtp, "Your copy of your consent form");
    assert_eq!(copy["content_type"], "multipart/mixed", "{copy:#}");
    assert!(copy["rcpt_to"].as_str().unwrap().contains(EMAIL));
    let parts = copy["parts"].as_array().unwrap();
    let types: Vec<&str> = parts
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text/plain", "text/html", "application/pdf"]);
    // Named for whose form, which form, which version and the day.
    let name = copy_name(&t);
    assert!(parts[0]["body"].as_str().unwrap().contains(&name));
    assert_eq!(parts[2]["filename"], name.as_str());
    let stored: String = sqlx::query("SELECT pdf_sha256 FROM consent_records")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(parts[2]["sha256"], stored.as_str());

    // Once sent, the outbox keeps only the fact of it.
    let row = sqlx::query(
        "SELECT status, to_addr, body_text, body_html, attachment_name, attachment_type, attachment
         FROM outbox WHERE template = 'consent_copy'",
    )
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>(0), "sent");
    let kept: [Option<String>; 5] = [row.get(1), row.get(2), row.get(3), row.get(4), row.get(5)];
    assert_eq!(kept, [None, None, None, None, None]);
    assert_eq!(row.get::<Option<Vec<u8>>, _>(6), None);
}

async fn no_copy_is_sent_unless_asked_for(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let link = invite(&t, &s, &s.participant).await["link"]
        .as_str()
        .unwrap()
        .to_owned();
    consent_online(&t, &s, &link, false).await;
    let copies = "SELECT COUNT(*) FROM outbox WHERE template = 'consent_copy'";
    assert_eq!(count(&t, copies).await, 0);

    // Consent taken by a researcher: a copy only when the participant wants one.
    let r = take(&t, &s, &answers(&s, &[], "no")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(count(&t, copies).await, 0);
    let r = t
        .api(
            Method::POST,
            &format!(
                "/studies/{}/participants/{}/consents",
                s.study, s.participant
            ),
            Some(&s.researcher),
        )
        .json(
            &json!({ "form_version_id": s.form_version, "method": "in_person_witnessed",
                       "answers": answers(&s, &[], "no"), "signature": NAME, "send_copy": true }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let row = sqlx::query(
        "SELECT to_addr, attachment_name, attachment_type FROM outbox WHERE template = 'consent_copy'",
    )
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    let queued: (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        queued,
        (EMAIL.into(), copy_name(&t), "application/pdf".into())
    );
}

async fn withdrawal_is_confirmed_before_the_identity_is_erased(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    invite(&t, &s, &s.participant).await;
    let r = t
        .api(
            Method::POST,
            &format!(
                "/studies/{}/participants/{}/consents",
                s.study, s.participant
            ),
            Some(&s.researcher),
        )
        .json(
            &json!({ "form_version_id": s.form_version, "method": "in_person_witnessed",
                       "answers": answers(&s, &[], "no"), "signature": NAME, "send_copy": true }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = withdraw(
        &t,
        &s,
        json!({ "no_collection": true, "remove_identifiable": true }),
    )
    .await;
    assert_eq!(r.status(), 200);

    // The identity is gone, but the confirmation was queued first.
    let erased = "SELECT COUNT(*) FROM identities WHERE erased_at IS NOT NULL AND email_ct IS NULL";
    assert_eq!(count(&t, erased).await, 1);
    let policy: String =
        sqlx::query("SELECT withdrawal_policy FROM consent_form_versions WHERE id = $1")
            .bind(&s.form_version)
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap()
            .get(0);
    let (subject, text, html) = t.last_email_to(EMAIL).await;
    assert_eq!(subject, "Your withdrawal from the study is recorded");
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words(&text).contains(&words(&policy)), "{text}");
    assert!(text.contains("No further information to be collected about you."));
    assert!(html.contains("have been removed from our records"));
    // The policy is Markdown: its paragraphs stay paragraphs in the HTML part.
    assert!(
        html.contains("<p>You can stop taking part at any time")
            && html.contains("<p>Some things cannot be undone."),
        "{html}"
    );

    // Every read of the address is audited as a system use, never with the value.
    let uses = sqlx::query(
        "SELECT actor, role, details FROM audit_log WHERE action = 'identity.use' ORDER BY seq",
    )
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap();
    let purposes: Vec<String> = uses
        .iter()
        .map(|r| {
            assert_eq!(
                (r.get::<String, _>(0), r.get::<String, _>(1)),
                ("system".into(), "system".into())
            );
            let details: Value = serde_json::from_str(&r.get::<String, _>(2)).unwrap();
            details["purpose"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        purposes,
        [
            "consent_invitation",
            "consent_copy",
            "withdrawal_confirmation"
        ]
    );
    let trail = sqlx::query(
        "SELECT actor, role, action, entity_type, entity_id, study_id, reason, details FROM audit_log",
    )
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap();
    for row in &trail {
        for i in 0..8 {
            let value: Option<String> = row.get(i);
            assert!(
                !value.unwrap_or_default().to_lowercase().contains("zoe@"),
                "an address in the audit trail"
            );
        }
    }

    // Sending erases the address from the outbox too.
    assert!(t.send_mail().await >= 1);
    let left = "SELECT COUNT(*) FROM outbox WHERE to_addr IS NOT NULL OR attachment IS NOT NULL";
    assert_eq!(count(&t, left).await, 0);
}

on_both_engines!(
    an_invitation_is_emailed_only_when_there_is_an_address,
    a_copy_asked_for_online_arrives_over_smtp_with_the_pdf,
    no_copy_is_sent_unless_asked_for,
    withdrawal_is_confirmed_before_the_identity_is_erased,
);
