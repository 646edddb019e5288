//! Who is looking at a page, and the CSRF check on every form. Pages use a
//! `__Host-` session cookie (Secure, HttpOnly, SameSite=Lax); forms carry a
//! token bound to the session (or, before sign-in, to a random cookie), and
//! `CsrfForm` refuses a form whose token does not match.

use std::net::IpAddr;

use poem::web::cookie::{Cookie, SameSite};
use poem::{FromRequest, Request, RequestBody};

use crate::app::App;
use crate::auth::model::Actor;
use crate::auth::policy::{obligation, Obligation};
use crate::auth::service;
use crate::error::AppError;
use crate::http::page::{see_other, Notice};

pub const SESSION_COOKIE: &str = "__Host-fieldkit_session";
pub const ANON_COOKIE: &str = "__Host-fieldkit_visit";
/// A sign-in waiting for its second step (five minutes at most).
pub const PENDING_COOKIE: &str = "__Host-fieldkit_pending";

pub fn app_of(req: &Request) -> &App {
    req.data::<App>()
        .expect("the App is attached to every request")
}

/// The client's address: the connecting peer, or, when that peer is a trusted
/// proxy, the nearest untrusted address in X-Forwarded-For.
pub fn client_address(req: &Request) -> String {
    let app = app_of(req);
    let peer: Option<IpAddr> = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let Some(mut addr) = peer else {
        return "unknown".into();
    };
    let trusted = |ip: &IpAddr| {
        app.server
            .trusted_proxies
            .iter()
            .any(|net| net.contains(ip))
    };
    if trusted(&addr) {
        if let Some(forwarded) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            for hop in forwarded.rsplit(',').map(str::trim) {
                match hop.parse::<IpAddr>() {
                    Ok(ip) if trusted(&ip) => addr = ip,
                    Ok(ip) => {
                        addr = ip;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
    }
    addr.to_string()
}

pub fn session_cookie(token: &str, app: &App) -> Cookie {
    let mut c = Cookie::new_with_str(SESSION_COOKIE, token);
    c.set_path("/");
    c.set_secure(true);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_max_age(std::time::Duration::from_secs(
        app.server.session_max_hours as u64 * 3600,
    ));
    c
}

pub fn pending_cookie(token: &str) -> Cookie {
    let mut c = Cookie::new_with_str(PENDING_COOKIE, token);
    c.set_path("/");
    c.set_secure(true);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_max_age(std::time::Duration::from_secs(300));
    c
}

/// A cookie of ours, ended.
pub fn expired_cookie(name: &'static str) -> Cookie {
    let mut c = Cookie::new_with_str(name, "");
    c.set_path("/");
    c.set_secure(true);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_max_age(std::time::Duration::ZERO);
    c
}

/// The person viewing a page: signed in or not, and the CSRF token for their forms.
pub struct Viewer {
    pub actor: Option<Actor>,
    pub session_token: Option<String>,
    pub csrf: String,
}

impl Viewer {
    pub fn require(&self) -> Result<&Actor, AppError> {
        self.actor.as_ref().ok_or(AppError::Unauthenticated)
    }
}

impl<'a> FromRequest<'a> for Viewer {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let app = app_of(req);
        let jar = req.cookie();
        let token = jar
            .get(SESSION_COOKIE)
            .map(|c| c.value_str().to_owned())
            .filter(|t| !t.is_empty());
        let actor = match &token {
            Some(t) => service::actor_for_session(app, t).await?,
            None => None,
        };
        if let Some(first) = actor.as_ref().and_then(obligation) {
            first_things_first(first, req.uri().path())?;
        }
        let csrf = match (&actor, &token) {
            (Some(_), Some(t)) => app
                .keys
                .mac("csrf-session", service::secret_hash(t).as_bytes()),
            _ => {
                let visit = match jar.get(ANON_COOKIE) {
                    Some(c) if c.value_str().len() >= 32 => c.value_str().to_owned(),
                    _ => {
                        let v = service::new_secret("");
                        let mut c = Cookie::new_with_str(ANON_COOKIE, &v);
                        c.set_path("/");
                        c.set_secure(true);
                        c.set_http_only(true);
                        c.set_same_site(SameSite::Lax);
                        jar.add(c);
                        v
                    }
                };
                app.keys.mac("csrf-visit", visit.as_bytes())
            }
        };
        Ok(Viewer {
            actor,
            session_token: token,
            csrf,
        })
    }
}

/// Pages a session may open while it owes something, and where it is sent
/// otherwise: to set up a second factor, or to change its password.
fn first_things_first(first: Obligation, path: &str) -> poem::Result<()> {
    let (allowed, to): (&[&str], _) = match first {
        Obligation::EnrolSecondFactor => (
            &[
                "/account/second-factor",
                "/account/second-factor/confirmation",
                "/logout",
            ],
            see_other("/account/second-factor", Some(Notice::SecondFactorNeeded)),
        ),
        Obligation::ChangePassword => (
            &[
                "/account",
                "/account/password",
                "/account/second-factor",
                "/account/second-factor/confirmation",
                "/logout",
            ],
            see_other("/account", Some(Notice::PasswordChangeDue)),
        ),
    };
    if allowed.contains(&path) {
        Ok(())
    } else {
        Err(poem::Error::from_response(to))
    }
}

/// The text fields of a submitted form, however it was sent.
pub trait FormFields: Sync {
    /// The first value of a field; empty when it was not sent.
    fn field(&self, name: &str) -> &str;
}

impl FormFields for CsrfForm {
    fn field(&self, name: &str) -> &str {
        self.get(name)
    }
}

impl FormFields for crate::media::upload::Upload {
    fn field(&self, name: &str) -> &str {
        self.get(name)
    }
}

/// A submitted form (application/x-www-form-urlencoded) whose CSRF token matched.
pub struct CsrfForm {
    pub viewer: Viewer,
    fields: Vec<(String, String)>,
}

impl CsrfForm {
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// A date typed in day, month and year boxes (`<name>-day`, `-month`,
    /// `-year`, as `macros.html`'s `date` draws them) as YYYY-MM-DD: empty
    /// when all three are, and otherwise as typed, for the date's own check
    /// to refuse ("31-2-2026" is no date).
    pub fn date(&self, name: &str) -> String {
        let part = |p: &str| self.get(&format!("{name}-{p}")).trim();
        let (day, month, year) = (part("day"), part("month"), part("year"));
        if day.is_empty() && month.is_empty() && year.is_empty() {
            return String::new();
        }
        match (
            day.parse::<u32>(),
            month.parse::<u32>(),
            year.parse::<u32>(),
        ) {
            (Ok(d), Ok(m), Ok(y)) if year.len() == 4 => format!("{y:04}-{m:02}-{d:02}"),
            _ => format!("{day}-{month}-{year}"),
        }
    }
}

/// A refusal of a date typed in boxes (`CsrfForm::date`), worded for the
/// boxes rather than for the API's YYYY-MM-DD: "Enter a real `what`: ...".
pub fn date_in_boxes(err: AppError, field: &str, what: &str) -> AppError {
    match err {
        AppError::Invalid(mut problems) => {
            for p in problems.iter_mut().filter(|p| p.field == field) {
                p.detail = format!(
                    "Enter a real {what}: the day, month and year as numbers, for example 27 3 1984."
                );
            }
            AppError::Invalid(problems)
        }
        other => other,
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<'a> FromRequest<'a> for CsrfForm {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let viewer = Viewer::from_request(req, body).await?;
        let is_form = req
            .content_type()
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(AppError::BadRequest(
                "Send this form as application/x-www-form-urlencoded.".into(),
            )
            .into());
        }
        let bytes = body.take()?.into_vec().await?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| AppError::BadRequest("The form is not valid UTF-8 text.".into()))?;
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
            .into_owned()
            .collect();
        if fields
            .iter()
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(AppError::BadRequest(crate::http::api::NUL_REFUSED.into()).into());
        }
        let sent = fields
            .iter()
            .find(|(k, _)| k == "csrf_token")
            .map_or("", |(_, v)| v.as_str());
        if !constant_time_eq(sent.as_bytes(), viewer.csrf.as_bytes()) {
            return Err(AppError::Csrf.into());
        }
        Ok(CsrfForm { viewer, fields })
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
