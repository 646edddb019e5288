//! Email through a real SMTP server: aiosmtpd (Python) listening on a local
//! port and storing what it receives in a maildir. The outbox sender delivers
//! a password-reset message to it, and retries with backoff while it is down.
//! Without aiosmtpd the tests say they were skipped; under CI=true they fail.

use std::time::Duration;

use sqlx::Row;

use crate::support::{
    aiosmtpd_available, free_port, parse_message, spawn_with, Engine, SmtpServer, TempDir, PASSWORD,
};

/// Creates an administrator whose address we know, and asks for a password reset.
async fn reset_requested(t: &crate::support::TestApp) -> String {
    let email = format!("reset-{}@example.ac.uk", uuid::Uuid::new_v4().simple());
    fieldkit::auth::service::create_admin_directly(&t.app, &email, "Rosa Reset", PASSWORD)
        .await
        .unwrap();
    fieldkit::auth::service::request_password_reset(&t.app, &email)
        .await
        .unwrap();
    email
}

/// Runs the sender until it has sent one message (bounded).
async fn send_one(t: &crate::support::TestApp) {
    for _ in 0..50 {
        match t.send_mail().await {
            0 => tokio::time::sleep(Duration::from_millis(100)).await,
            1 => return,
            n => panic!("expected one message, sent {n}"),
        }
    }
    panic!("the message was not sent within 50 rounds");
}

/// Checks the one delivered message is the reset email for `email`, and returns its link.
fn assert_reset_email(t: &crate::support::TestApp, smtp: &SmtpServer, email: &str) -> String {
    let files = smtp.delivered();
    assert_eq!(files.len(), 1, "expected one delivered message: {files:?}");
    let m = parse_message(&files[0]);
    assert_eq!(m["content_type"], "multipart/alternative", "{m:#}");
    assert!(m["to"].as_str().unwrap().contains(email), "{m:#}");
    assert!(m["rcpt_to"].as_str().unwrap().contains(email), "{m:#}");
    assert_eq!(m["subject"], "Reset your fieldkit password");
    let parts = m["parts"].as_array().unwrap();
    let types: Vec<&str> = parts
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text/plain", "text/html"], "{m:#}");
    let text = parts[0]["body"].as_str().unwrap();
    let html = parts[1]["unescaped"].as_str().unwrap();
    let hrefs = &parts[1]["hrefs"];
    let prefix = format!("{}/password-reset?token=", t.base);
    let at = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no reset link in:\n{text}"));
    let link = text[at..].split_whitespace().next().unwrap().to_owned();
    assert!(link.len() > prefix.len() + 20, "short link {link}");
    assert!(
        hrefs.as_array().unwrap().iter().any(|h| h == link.as_str()),
        "the HTML part does not link to {link}: {hrefs}\n{html}"
    );
    assert!(html.contains(&link), "the HTML part does not show {link}");
    assert!(html.contains("Rosa Reset") && text.contains("Rosa Reset"));
    link
}

async fn outbox_row(t: &crate::support::TestApp) -> (String, i32, i64, Option<String>) {
    let row = sqlx::query(
        "SELECT status, attempts, next_attempt_at, last_error FROM outbox WHERE template = 'password_reset'",
    )
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

async fn a_password_reset_is_delivered_over_smtp(engine: Engine) {
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
    let email = reset_requested(&t).await;
    send_one(&t).await;

    let link = assert_reset_email(&t, &smtp, &email);
    let (status, attempts, _, _) = outbox_row(&t).await;
    assert_eq!((status.as_str(), attempts), ("sent", 1));
    // Once sent, the outbox forgets the recipient and the body.
    let row = sqlx::query("SELECT to_addr, body_text, body_html FROM outbox")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let kept: [Option<String>; 3] = [row.get(0), row.get(1), row.get(2)];
    assert_eq!(kept, [None, None, None]);

    // The emailed link works.
    let path = link.strip_prefix(&t.base).unwrap();
    t.pages().get(path).await.assert_status(200);
}

async fn mail_waits_while_the_smtp_server_is_down_and_goes_later(engine: Engine) {
    if !aiosmtpd_available() {
        return;
    }
    let dir = TempDir::new();
    let port = free_port();
    let Some(t) = spawn_with(engine, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))
    })
    .await
    else {
        return;
    };
    let email = reset_requested(&t).await;

    // Nothing listens: the attempt fails and the message waits, with backoff.
    assert_eq!(t.send_mail().await, 0);
    let (status, attempts, next_attempt_at, last_error) = outbox_row(&t).await;
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    let now = t.app.now();
    assert!(
        next_attempt_at > now,
        "retry at {next_attempt_at} is not after now {now}"
    );
    assert!(last_error.is_some_and(|e| !e.is_empty() && !e.contains(&email)));

    // The server comes up, but the message is not due yet.
    let smtp = SmtpServer::start(port, &dir.0);
    assert_eq!(t.send_mail().await, 0);
    assert!(smtp.delivered().is_empty());

    // Once the backoff has passed, a later round delivers it.
    t.app.clock.advance(next_attempt_at - t.app.now() + 1_000);
    send_one(&t).await;
    assert_reset_email(&t, &smtp, &email);
    let (status, attempts, _, _) = outbox_row(&t).await;
    assert_eq!((status.as_str(), attempts), ("sent", 2));
}

on_both_engines!(
    a_password_reset_is_delivered_over_smtp,
    mail_waits_while_the_smtp_server_is_down_and_goes_later
);
