//! Rendering pages: every page gets the same common context (title, viewer,
//! CSRF token, field problems, notice), so templates cannot forget one.
//! Notices after a redirect are fixed messages chosen by key, never text
//! taken from the URL.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use serde_json::{json, Value};

use super::viewer::Viewer;
use crate::app::App;
use crate::error::{AppError, FieldProblem};

const NOTICES: &[(&str, &str)] = &[
    ("signed-out", "You have signed out."),
    (
        "password-changed",
        "Your password has been changed. Sign in with the new one.",
    ),
    (
        "password-set",
        "Your password has been saved. You can sign in now.",
    ),
    (
        "admin-created",
        "The administrator account has been created. Sign in to continue.",
    ),
    ("invited", "The invitation has been sent."),
    ("account-changed", "The account has been updated."),
    (
        "token-revoked",
        "The token has been revoked; scripts using it will stop working.",
    ),
    ("study-saved", "The study has been saved."),
    ("site-added", "The site has been added."),
    ("team-added", "The team has been added."),
    ("member-added", "The person has been added to the study."),
    (
        "member-removed",
        "The person has been removed from the study.",
    ),
];

pub fn notice(key: Option<&str>) -> Option<&'static str> {
    key.and_then(|k| NOTICES.iter().find(|(n, _)| *n == k))
        .map(|(_, m)| *m)
}

/// A page to render: template, title and its own context.
pub struct Page {
    template: &'static str,
    title: String,
    ctx: Value,
    status: StatusCode,
    problems: Vec<FieldProblem>,
    notice: Option<&'static str>,
}

impl Page {
    pub fn new(template: &'static str, title: impl Into<String>, ctx: Value) -> Page {
        Page {
            template,
            title: title.into(),
            ctx,
            status: StatusCode::OK,
            problems: Vec::new(),
            notice: None,
        }
    }

    /// Shows the problems of a refused form (422), or passes other errors on:
    /// a refusal for lack of permission stays a 403 error page.
    pub fn problems(mut self, err: AppError) -> Result<Page, AppError> {
        match err {
            AppError::Invalid(p) => {
                self.problems = p;
                self.status = StatusCode::UNPROCESSABLE_ENTITY;
                Ok(self)
            }
            AppError::Conflict(detail) => {
                self.status = StatusCode::UNPROCESSABLE_ENTITY;
                self.problems = vec![FieldProblem {
                    field: "form".into(),
                    detail,
                }];
                Ok(self)
            }
            other => Err(other),
        }
    }

    pub fn notice(mut self, key: Option<&str>) -> Page {
        self.notice = notice(key);
        self
    }

    pub fn render(self, app: &App, viewer: &Viewer) -> Result<Response, AppError> {
        let mut ctx = json!({
            "title": self.title,
            "user": viewer.actor.as_ref().map(|a| json!({ "display_name": a.display_name, "is_admin": a.is_admin })),
            "csrf": viewer.csrf,
            "problems": self.problems,
            "notice": self.notice,
        });
        if let (Some(base), Value::Object(extra)) = (ctx.as_object_mut(), self.ctx) {
            base.extend(extra);
        }
        let html = app
            .templates
            .render(self.template, &ctx)
            .map_err(AppError::internal)?;
        Ok(poem::web::Html(html)
            .with_status(self.status)
            .into_response())
    }
}

/// After a successful form: 303 to a page, optionally with a notice key.
pub fn see_other(path: &str, notice_key: Option<&str>) -> Response {
    let location = match notice_key {
        Some(k) => format!("{path}?done={k}"),
        None => path.to_owned(),
    };
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", location)
        .finish()
}

/// Sends a signed-out visitor to the sign-in page.
pub fn to_login() -> Response {
    see_other("/login", None)
}
