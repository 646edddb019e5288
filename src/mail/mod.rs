//! Email through an outbox: a message is rendered and stored in the same
//! transaction as the event that causes it, then a background sender claims
//! due rows (safely when several instances run), sends them over SMTP or into
//! files, and retries with backoff. Once a message is sent or given up on, its
//! recipient, body and attachment are erased; only the fact of it stays.
//! The mailer owns rendering and enqueueing; it knows the database and the
//! templates, never the application around it.

pub mod store;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{
    header::ContentType, Attachment as AttachmentPart, Mailbox, MultiPart, SinglePart,
};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use tokio::sync::Notify;

use crate::auth::model::Email;
use crate::clock::Clock;
use crate::config::{ServerConfig, Storage};
use crate::db::{Db, Tx};
use crate::ids::MessageId;
use crate::templates::Templates;

/// The messages fieldkit sends; each has `templates/email/<name>.txt` and `.html`.
#[derive(Clone, Copy, Debug)]
pub enum Template {
    Invitation,
    PasswordReset,
    ConsentInvitation,
    ConsentCopy,
    WithdrawalConfirmation,
    TakedownFlag,
}

impl Template {
    pub fn name(self) -> &'static str {
        match self {
            Template::Invitation => "invitation",
            Template::PasswordReset => "password_reset",
            Template::ConsentInvitation => "consent_invitation",
            Template::ConsentCopy => "consent_copy",
            Template::WithdrawalConfirmation => "withdrawal_confirmation",
            Template::TakedownFlag => "takedown_flag",
        }
    }
}

/// A file sent with a message (a participant's copy of their consent form).
#[derive(Clone, Debug)]
pub struct Attachment {
    pub name: String,
    /// A MIME type such as `application/pdf`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    wake: Arc<Notify>,
    templates: Arc<Templates>,
}

const MAX_ATTEMPTS: i32 = 8;

impl Mailer {
    pub fn new(
        server: &ServerConfig,
        storage: &Storage,
        templates: Arc<Templates>,
    ) -> anyhow::Result<Mailer> {
        let from: Mailbox = server
            .mail_from
            .parse()
            .context("FIELDKIT_MAIL_FROM is not an email address")?;
        let transport = match &server.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("FIELDKIT_SMTP_URL is not a valid SMTP URL")?
                    .timeout(Some(Duration::from_secs(30)))
                    .build(),
            ),
            None => {
                let dir = storage.outbox_dir();
                crate::config::private_dir(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                Transport::Files(AsyncFileTransport::new(dir))
            }
        };
        Ok(Mailer {
            transport,
            from,
            wake: Arc::new(Notify::new()),
            templates,
        })
    }

    /// Renders a message and stores it, with its attachment if any, in the
    /// outbox inside the caller's transaction. Wake the sender after commit.
    #[allow(clippy::too_many_arguments)]
    pub async fn enqueue(
        &self,
        tx: &mut Tx,
        template: Template,
        to: &Email,
        subject: &str,
        context: impl Serialize,
        attachment: Option<&Attachment>,
        now: i64,
    ) -> anyhow::Result<MessageId> {
        let ctx = serde_json::to_value(context)?;
        let text = self
            .templates
            .render(&format!("email/{}.txt", template.name()), &ctx)?;
        let html = self
            .templates
            .render(&format!("email/{}.html", template.name()), &ctx)?;
        let id = MessageId::new();
        store::insert(
            tx,
            &store::NewMessage {
                id: &id,
                template: template.name(),
                to: to.as_str(),
                subject,
                text: &text,
                html: &html,
                attachment,
            },
            now,
        )
        .await?;
        Ok(id)
    }

    /// Tells the sender there is new mail (after the enqueuing transaction committed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    async fn send(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: String,
        attachment: Option<Attachment>,
    ) -> anyhow::Result<()> {
        let body = MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html),
            );
        let body = match attachment {
            Some(a) => {
                MultiPart::mixed()
                    .multipart(body)
                    .singlepart(AttachmentPart::new(a.name).body(
                        a.bytes,
                        ContentType::parse(&a.content_type).context("bad attachment type")?,
                    ))
            }
            None => body,
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse().context("bad recipient")?)
            .subject(subject)
            .multipart(body)?;
        match &self.transport {
            Transport::Smtp(t) => {
                t.send(message).await?;
            }
            Transport::Files(t) => {
                t.send(message).await?;
            }
        }
        Ok(())
    }
}

fn backoff_ms(attempts: i32) -> i64 {
    (30_000i64 << attempts.clamp(0, 7)).min(3_600_000)
}

/// Sends every message that is due; returns how many were sent.
pub async fn send_due(db: &Db, mailer: &Mailer, clock: &Clock) -> anyhow::Result<usize> {
    let now = clock.now_ms();
    let claimed = store::claim(db, now, now + 5 * 60_000, 20).await?;
    let mut sent = 0;
    for m in claimed {
        let attempts = m.attempts + 1;
        match mailer
            .send(&m.to, &m.subject, m.text, m.html, m.attachment)
            .await
        {
            Ok(()) => {
                store::mark_sent(&db.pool, &m.id, attempts, clock.now_ms()).await?;
                sent += 1;
            }
            Err(e) => {
                // The error text can quote the recipient; keep only its first line, shortened.
                let reason: String = e
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                tracing::warn!(message_id = %m.id, attempts, "email not sent; will retry");
                let give_up = attempts >= MAX_ATTEMPTS;
                store::mark_failed(
                    &db.pool,
                    &m.id,
                    attempts,
                    clock.now_ms() + backoff_ms(attempts),
                    &reason,
                    give_up,
                )
                .await?;
            }
        }
    }
    Ok(sent)
}

/// The background sender: runs until `shutdown` fires.
pub async fn run_sender(
    db: Db,
    mailer: Mailer,
    clock: Clock,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = send_due(&db, &mailer, &clock).await {
            tracing::error!(error = format!("{e:#}"), "the email sender failed a round");
        }
        tokio::select! {
            _ = mailer.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_ms(1), 60_000);
        assert!(backoff_ms(3) > backoff_ms(2));
        assert_eq!(backoff_ms(20), 3_600_000);
    }
}
