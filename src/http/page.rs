//! Rendering pages: every page gets the same common context (title, viewer,
//! CSRF token, field problems, notice), so templates cannot forget one.
//! Notices after a redirect are fixed messages chosen by key, never text
//! taken from the URL.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::viewer::Viewer;
use crate::app::App;
use crate::error::{AppError, FieldProblem};

/// What a page says after a successful form, carried across the redirect by
/// key. The key is all the URL holds: never text taken from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    SignedOut,
    PasswordChanged,
    PasswordSet,
    AdminCreated,
    Invited,
    AccountChanged,
    TokenRevoked,
    StudySaved,
    SiteAdded,
    TeamAdded,
    MemberAdded,
    MemberRemoved,
    ParticipantEnrolled,
    ConsentRecorded,
    WithdrawalRecorded,
    WithdrawalRecordedNotEmailed,
    CapacityRecorded,
    ChoicesChanged,
    WithdrawnSelf,
    WithdrawnSelfNotEmailed,
    SecondFactorNeeded,
    PasswordChangeDue,
    SecondFactorOff,
}

impl Notice {
    const ALL: [Notice; 23] = [
        Notice::SignedOut,
        Notice::PasswordChanged,
        Notice::PasswordSet,
        Notice::AdminCreated,
        Notice::Invited,
        Notice::AccountChanged,
        Notice::TokenRevoked,
        Notice::StudySaved,
        Notice::SiteAdded,
        Notice::TeamAdded,
        Notice::MemberAdded,
        Notice::MemberRemoved,
        Notice::ParticipantEnrolled,
        Notice::ConsentRecorded,
        Notice::WithdrawalRecorded,
        Notice::WithdrawalRecordedNotEmailed,
        Notice::CapacityRecorded,
        Notice::ChoicesChanged,
        Notice::WithdrawnSelf,
        Notice::WithdrawnSelfNotEmailed,
        Notice::SecondFactorNeeded,
        Notice::PasswordChangeDue,
        Notice::SecondFactorOff,
    ];

    fn key(self) -> &'static str {
        match self {
            Notice::SignedOut => "signed-out",
            Notice::PasswordChanged => "password-changed",
            Notice::PasswordSet => "password-set",
            Notice::AdminCreated => "admin-created",
            Notice::Invited => "invited",
            Notice::AccountChanged => "account-changed",
            Notice::TokenRevoked => "token-revoked",
            Notice::StudySaved => "study-saved",
            Notice::SiteAdded => "site-added",
            Notice::TeamAdded => "team-added",
            Notice::MemberAdded => "member-added",
            Notice::MemberRemoved => "member-removed",
            Notice::ParticipantEnrolled => "participant-enrolled",
            Notice::ConsentRecorded => "consent-recorded",
            Notice::WithdrawalRecorded => "withdrawal-recorded",
            Notice::WithdrawalRecordedNotEmailed => "withdrawal-recorded-not-emailed",
            Notice::CapacityRecorded => "capacity-recorded",
            Notice::ChoicesChanged => "choices-changed",
            Notice::WithdrawnSelf => "withdrawn-self",
            Notice::WithdrawnSelfNotEmailed => "withdrawn-self-not-emailed",
            Notice::SecondFactorNeeded => "second-factor-needed",
            Notice::PasswordChangeDue => "password-change-due",
            Notice::SecondFactorOff => "second-factor-off",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Notice::SignedOut => "You have signed out.",
            Notice::PasswordChanged => "Your password has been changed. Sign in with the new one.",
            Notice::PasswordSet => "Your password has been saved. You can sign in now.",
            Notice::AdminCreated => {
                "The administrator account has been created. Sign in to continue."
            }
            Notice::Invited => "The invitation has been sent.",
            Notice::AccountChanged => "The account has been updated.",
            Notice::TokenRevoked => {
                "The token has been revoked; scripts using it will stop working."
            }
            Notice::StudySaved => "The study has been saved. Its published consent forms are listed under Consent forms.",
            Notice::SiteAdded => "The site has been added.",
            Notice::TeamAdded => "The team has been added.",
            Notice::MemberAdded => "The person has been added to the study.",
            Notice::MemberRemoved => "The person has been removed from the study.",
            Notice::ParticipantEnrolled => {
                "The participant has been enrolled. Their details are in the encrypted vault."
            }
            Notice::ConsentRecorded => "The consent has been recorded and its PDF copy made.",
            Notice::WithdrawalRecorded => {
                "The withdrawal has been recorded. It applies from now on. A confirmation was emailed to the participant."
            }
            Notice::WithdrawalRecordedNotEmailed => {
                "The withdrawal has been recorded. It applies from now on. No confirmation was emailed."
            }
            Notice::CapacityRecorded => "The capacity record has been saved.",
            Notice::ChoicesChanged => "Your choices have been saved as a new consent form.",
            Notice::WithdrawnSelf => {
                "Your withdrawal has been recorded and takes effect now. We have emailed you a confirmation, and your withdrawal record is below."
            }
            Notice::WithdrawnSelfNotEmailed => {
                "Your withdrawal has been recorded and takes effect now. We have not emailed you. Your withdrawal record is below, to download and keep."
            }
            Notice::SecondFactorNeeded => {
                "Because your role lets you see people's identities or their consent records, your account needs a second factor as well as a password. Setting it up takes a couple of minutes, and then you can carry on."
            }
            Notice::PasswordChangeDue => {
                "Our password rules have become stricter since you chose your password. It still works, but please choose a new one now; it only takes a moment."
            }
            Notice::SecondFactorOff => "Your second factor has been turned off.",
        }
    }

    /// The notice a `done` query parameter names, if any.
    pub fn parse(key: Option<&str>) -> Option<Notice> {
        key.and_then(|k| Self::ALL.into_iter().find(|n| n.key() == k))
    }
}

/// What a page may read from its query string: a notice key, a one-time link's
/// token, the language a form is read in, and where to go after signing in.
#[derive(Deserialize, Default)]
pub struct PageQuery {
    done: Option<String>,
    token: Option<String>,
    language: Option<String>,
    pub next: Option<String>,
}

impl PageQuery {
    pub fn done(&self) -> Option<&str> {
        self.done.as_deref()
    }

    /// A one-time link's token, when the link carried one.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.is_empty())
    }

    /// The language a form was asked for in, when one was.
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref().filter(|l| !l.is_empty())
    }
}

/// A page to render: template, title and its own context.
pub struct Page {
    template: &'static str,
    title: String,
    ctx: Value,
    status: StatusCode,
    problems: Vec<FieldProblem>,
    notice: Option<Notice>,
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

    /// Shows the problems of a refused form when there was one.
    pub fn problems_of(self, err: Option<AppError>) -> Result<Page, AppError> {
        match err {
            Some(e) => self.problems(e),
            None => Ok(self),
        }
    }

    /// Answers with this status instead of 200 OK.
    pub fn status(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// Replaces one value of the page's context.
    pub fn set(&mut self, key: &str, value: Value) {
        self.ctx[key] = value;
    }

    pub fn notice(mut self, key: Option<&str>) -> Page {
        self.notice = Notice::parse(key);
        self
    }

    pub fn render(self, app: &App, viewer: &Viewer) -> Result<Response, AppError> {
        let mut ctx = json!({
            "title": self.title,
            "user": viewer.actor.as_ref().map(|a| json!({ "display_name": a.display_name, "is_admin": a.is_admin })),
            "csrf": viewer.csrf,
            "problems": self.problems,
            "notice": self.notice.map(Notice::message),
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
pub fn see_other(path: &str, notice: Option<Notice>) -> Response {
    let location = match notice {
        Some(n) => format!("{path}?done={}", n.key()),
        None => path.to_owned(),
    };
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", location)
        .finish()
}

/// A consent record's PDF copy as a download named after the record.
/// A PDF as a download named `<what>-<id>.pdf`.
pub fn pdf_response(file_name: &str, bytes: Vec<u8>) -> Response {
    Response::builder()
        .content_type("application/pdf")
        .header(
            "content-disposition",
            format!("attachment; filename=\"{file_name}\""),
        )
        .body(bytes)
}

/// Sends a signed-out visitor to the sign-in page.
pub fn to_login() -> Response {
    see_other("/login", None)
}
