//! Page and email templates, compiled into the binary so a deployment cannot
//! lose them. Autoescaping is on for every .html template.

use minijinja::{Environment, Value};
use serde::Serialize;

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

/// Every template file; a unit test checks this list against the folder.
const TEMPLATES: &[(&str, &str)] = embedded!(
    "layout.html",
    "error.html",
    "login.html",
    "login_second_factor.html",
    "second_factor.html",
    "setup.html",
    "password_reset_request.html",
    "password_reset.html",
    "notice.html",
    "account.html",
    "dashboard.html",
    "study.html",
    "admin_accounts.html",
    "admin_study_form.html",
    "macros.html",
    "participants.html",
    "participant.html",
    "consent.html",
    "consent_online.html",
    "consent_done.html",
    "consent_link.html",
    "fidelity.html",
    "instruments.html",
    "response.html",
    "consent_register.html",
    "consent_record.html",
    "my_study.html",
    "fieldwork.html",
    "encounter.html",
    "media.html",
    "quotes.html",
    "reconsent.html",
    "reconsent_sent.html",
    "email/layout.html",
    "email/password_reset.txt",
    "email/password_reset.html",
    "email/invitation.txt",
    "email/invitation.html",
    "email/consent_invitation.txt",
    "email/consent_invitation.html",
    "email/consent_copy.txt",
    "email/consent_copy.html",
    "email/withdrawal_confirmation.txt",
    "email/withdrawal_confirmation.html",
    "email/takedown_flag.txt",
    "email/takedown_flag.html",
);

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn load() -> Result<Templates, minijinja::Error> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        env.add_filter("datetime", |ms: i64| crate::clock::rfc3339(ms));
        // A moment as people in the UK write it: "24 November 2026, 12:43",
        // from Unix milliseconds or an RFC 3339 time (as the register has it).
        env.add_filter("when", |moment: Value| match moment.as_str() {
            Some(iso) => chrono::DateTime::parse_from_rfc3339(iso)
                .map(|t| crate::clock::spoken(t.timestamp_millis()))
                .unwrap_or_else(|_| iso.to_owned()),
            None => i64::try_from(moment).map_or_else(|_| String::new(), crate::clock::spoken),
        });
        // Form text written as Markdown, as escaped HTML (raw HTML shown as text).
        env.add_filter("markdown", |text: &str| {
            Value::from_safe_string(crate::markdown::to_html(text))
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        Ok(Templates { env })
    }

    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, minijinja::Error> {
        self.env
            .get_template(name)?
            .render(Value::from_serialize(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    on_disk.push(
                        path.strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = TEMPLATES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn html_is_escaped() {
        let t = Templates::load().unwrap();
        let html = t
            .render("error.html", serde_json::json!({"title": "<script>", "detail": "x", "status": 400, "user": null, "csrf": null}))
            .unwrap();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
