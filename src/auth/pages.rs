//! Pages for signing in and out, first-run setup, invitations, password
//! resets, one's own account, and account administration.

use poem::web::{Path, Query};
use poem::{handler, Request, Response};
use serde_json::json;

use super::model::Permission;
use super::second_factor::service as factor;
use super::service::{
    self, AccountChange, LinkPurpose, NewAccount, NewApiToken, NewSession, SignIn,
};
use crate::error::AppError;
use crate::http::page::{see_other, Notice, Page, PageQuery};
use crate::http::viewer::{
    app_of, client_address, expired_cookie, pending_cookie, session_cookie, CsrfForm, Viewer,
    PENDING_COOKIE, SESSION_COOKIE,
};
use crate::ids::{AccountId, ApiTokenId, StudyId};

type PageResult = poem::Result<Response>;

/// Only same-site paths may be a destination after sign-in. Browsers drop tabs
/// and newlines inside a URL ("/\t/evil.example" becomes "//evil.example"), so
/// any control character or space refuses the path.
fn safe_next(next: &str) -> &str {
    let plain = !next
        .chars()
        .any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    if plain && next.starts_with('/') && !next.starts_with("//") {
        next
    } else {
        "/"
    }
}

#[handler]
pub async fn login_form(req: &Request, viewer: Viewer, Query(q): Query<PageQuery>) -> PageResult {
    if viewer.actor.is_some() {
        return Ok(see_other("/", None));
    }
    let ctx = json!({ "email": "", "next": q.next.clone().unwrap_or_default() });
    Ok(Page::new("login.html", "Sign in", ctx)
        .notice(q.done())
        .render(app_of(req), &viewer)?)
}

#[handler]
pub async fn login(req: &Request, form: CsrfForm) -> PageResult {
    let app = app_of(req);
    let result = service::login(
        app,
        form.get("email"),
        form.get("password"),
        &client_address(req),
    )
    .await;
    let signed_in = match result {
        Ok(s) => s,
        Err(e @ (AppError::Unauthenticated | AppError::Throttled { .. })) => {
            let retry = if let AppError::Throttled { retry_after_secs } = e {
                Some(retry_after_secs)
            } else {
                None
            };
            let detail = match retry {
                Some(secs) => format!("Too many attempts. Try again in {secs} seconds, or ask an administrator to unlock your account."),
                None => "The email address or password is not right.".into(),
            };
            let ctx = json!({ "email": form.get("email"), "next": form.get("next") });
            let mut resp = Page::new("login.html", "Sign in", ctx)
                .problems(AppError::invalid("email", detail))?
                .render(app, &form.viewer)?;
            if let Some(secs) = retry {
                resp.set_status(poem::http::StatusCode::TOO_MANY_REQUESTS);
                resp.headers_mut().insert("retry-after", secs.into());
            } else {
                resp.set_status(poem::http::StatusCode::UNAUTHORIZED);
            }
            return Ok(resp);
        }
        Err(e) => return Err(e.into()),
    };
    match signed_in {
        SignIn::Session(session) => start(req, &form.viewer, session, form.get("next")).await,
        SignIn::SecondFactorNeeded { pending, .. } => {
            req.cookie().add(pending_cookie(&pending));
            let next = serde_urlencoded::to_string([("next", safe_next(form.get("next")))])
                .map_err(AppError::internal)?;
            Ok(see_other(&format!("/login/second-factor?{next}"), None))
        }
    }
}

/// Sets the new session's cookie (ending any session this browser had: a
/// new token at every sign-in) and goes on, to the password change first
/// if the password no longer meets the policy.
async fn start(req: &Request, viewer: &Viewer, session: NewSession, next: &str) -> PageResult {
    let app = app_of(req);
    if let Some(old) = &viewer.session_token {
        service::logout(app, old).await?;
    }
    req.cookie().add(session_cookie(&session.token, app));
    if session.password_change_due {
        return Ok(see_other("/account", Some(Notice::PasswordChangeDue)));
    }
    Ok(see_other(safe_next(next), None))
}

fn second_step_page(next: &str) -> Page {
    Page::new(
        "login_second_factor.html",
        "Enter your code",
        json!({ "next": safe_next(next) }),
    )
}

#[handler]
pub async fn second_step_form(
    req: &Request,
    viewer: Viewer,
    Query(q): Query<PageQuery>,
) -> PageResult {
    let next = q.next.clone().unwrap_or_default();
    Ok(second_step_page(&next).render(app_of(req), &viewer)?)
}

#[handler]
pub async fn second_step(req: &Request, form: CsrfForm) -> PageResult {
    let app = app_of(req);
    let pending = req
        .cookie()
        .get(PENDING_COOKIE)
        .map(|c| c.value_str().to_owned())
        .unwrap_or_default();
    match factor::complete_sign_in(app, &pending, form.get("code")).await {
        Ok(session) => {
            req.cookie().add(expired_cookie(PENDING_COOKIE));
            start(req, &form.viewer, session, form.get("next")).await
        }
        Err(AppError::Throttled { retry_after_secs }) => {
            let detail = format!("Too many attempts. Try again in {retry_after_secs} seconds.");
            let mut resp = second_step_page(form.get("next"))
                .problems(AppError::invalid("code", detail))?
                .render(app, &form.viewer)?;
            resp.set_status(poem::http::StatusCode::TOO_MANY_REQUESTS);
            resp.headers_mut()
                .insert("retry-after", retry_after_secs.into());
            Ok(resp)
        }
        Err(e) => Ok(second_step_page(form.get("next"))
            .problems(e)?
            .render(app, &form.viewer)?),
    }
}

#[handler]
pub async fn logout(req: &Request, form: CsrfForm) -> PageResult {
    if let Some(token) = &form.viewer.session_token {
        service::logout(app_of(req), token).await?;
    }
    req.cookie().add(expired_cookie(SESSION_COOKIE));
    Ok(see_other("/login", Some(Notice::SignedOut)))
}

fn link_token(q: &PageQuery) -> Result<&str, AppError> {
    q.token().ok_or_else(|| {
        AppError::Forbidden("This link is incomplete. Copy the whole link from the message.".into())
    })
}

#[handler]
pub async fn setup_form(req: &Request, viewer: Viewer, Query(q): Query<PageQuery>) -> PageResult {
    let app = app_of(req);
    let token = link_token(&q)?;
    service::check_link(app, LinkPurpose::Setup, token).await?;
    let ctx = json!({ "token": token, "values": { "email": "", "display_name": "" } });
    Ok(Page::new("setup.html", "Create the first administrator", ctx).render(app, &viewer)?)
}

#[handler]
pub async fn setup(req: &Request, form: CsrfForm) -> PageResult {
    let app = app_of(req);
    let new = NewAccount {
        email: form.get("email"),
        display_name: form.get("display_name"),
        is_admin: true,
    };
    match service::complete_setup(app, form.get("token"), new, form.get("password")).await {
        Ok(_) => Ok(see_other("/login", Some(Notice::AdminCreated))),
        Err(e) => {
            let ctx = json!({
                "token": form.get("token"),
                "values": { "email": form.get("email"), "display_name": form.get("display_name") },
            });
            Ok(
                Page::new("setup.html", "Create the first administrator", ctx)
                    .problems(e)?
                    .render(app, &form.viewer)?,
            )
        }
    }
}

#[handler]
pub async fn reset_request_form(req: &Request, viewer: Viewer) -> PageResult {
    Ok(Page::new(
        "password_reset_request.html",
        "Reset your password",
        json!({ "sent": false }),
    )
    .render(app_of(req), &viewer)?)
}

#[handler]
pub async fn reset_request(req: &Request, form: CsrfForm) -> PageResult {
    let app = app_of(req);
    let page = match service::request_password_reset(app, form.get("email")).await {
        Ok(()) => Page::new(
            "password_reset_request.html",
            "Reset your password",
            json!({ "sent": true }),
        ),
        Err(e) => Page::new(
            "password_reset_request.html",
            "Reset your password",
            json!({ "sent": false }),
        )
        .problems(e)?,
    };
    Ok(page.render(app, &form.viewer)?)
}

fn password_page(purpose: LinkPurpose, token: &str) -> Page {
    let heading = match purpose {
        LinkPurpose::Invitation => "Choose your password",
        _ => "Choose a new password",
    };
    Page::new(
        "password_reset.html",
        heading,
        json!({ "token": token, "action": purpose.path(), "heading": heading }),
    )
}

async fn link_password_form(
    req: &Request,
    viewer: Viewer,
    q: PageQuery,
    purpose: LinkPurpose,
) -> PageResult {
    let app = app_of(req);
    let token = link_token(&q)?;
    service::check_link(app, purpose, token).await?;
    Ok(password_page(purpose, token).render(app, &viewer)?)
}

async fn link_password_submit(req: &Request, form: CsrfForm, purpose: LinkPurpose) -> PageResult {
    let app = app_of(req);
    match service::set_password_by_link(app, purpose, form.get("token"), form.get("password")).await
    {
        Ok(_) => Ok(see_other("/login", Some(Notice::PasswordSet))),
        Err(e) => Ok(password_page(purpose, form.get("token"))
            .problems(e)?
            .render(app, &form.viewer)?),
    }
}

#[handler]
pub async fn reset_form(req: &Request, viewer: Viewer, Query(q): Query<PageQuery>) -> PageResult {
    link_password_form(req, viewer, q, LinkPurpose::PasswordReset).await
}

#[handler]
pub async fn reset(req: &Request, form: CsrfForm) -> PageResult {
    link_password_submit(req, form, LinkPurpose::PasswordReset).await
}

#[handler]
pub async fn invitation_form(
    req: &Request,
    viewer: Viewer,
    Query(q): Query<PageQuery>,
) -> PageResult {
    link_password_form(req, viewer, q, LinkPurpose::Invitation).await
}

#[handler]
pub async fn invitation(req: &Request, form: CsrfForm) -> PageResult {
    link_password_submit(req, form, LinkPurpose::Invitation).await
}

#[handler]
pub async fn account(req: &Request, viewer: Viewer, Query(q): Query<PageQuery>) -> PageResult {
    crate::pages::account::render(req, &viewer, None, q.done(), None).await
}

#[handler]
pub async fn change_password(req: &Request, form: CsrfForm) -> PageResult {
    let actor = form.viewer.require()?;
    match service::change_password(
        app_of(req),
        actor,
        form.get("current_password"),
        form.get("new_password"),
    )
    .await
    {
        Ok(()) => {
            req.cookie().add(expired_cookie(SESSION_COOKIE));
            Ok(see_other("/login", Some(Notice::PasswordChanged)))
        }
        Err(e) => crate::pages::account::render(req, &form.viewer, None, None, Some(e)).await,
    }
}

#[handler]
pub async fn create_token(req: &Request, form: CsrfForm) -> PageResult {
    let actor = form.viewer.require()?;
    let study = StudyId::parse(form.get("study_id"));
    let permissions: Result<Vec<Permission>, _> = form
        .all("permissions")
        .into_iter()
        .map(|p| {
            Permission::ALL
                .into_iter()
                .find(|k| k.as_str() == p)
                .ok_or(())
        })
        .collect();
    let days = form.get("days").trim().parse::<i64>().unwrap_or(0);
    let result = match (study, permissions) {
        (Some(study), Ok(permissions)) => {
            let new = NewApiToken {
                study_id: &study,
                name: form.get("name"),
                permissions: &permissions,
                days,
            };
            service::create_api_token(app_of(req), actor, new).await
        }
        (None, _) => Err(AppError::invalid("study_id", "Choose a study.")),
        (_, Err(())) => Err(AppError::invalid(
            "permissions",
            "Choose permissions from the list.",
        )),
    };
    match result {
        Ok((secret, _)) => {
            crate::pages::account::render(req, &form.viewer, Some(secret), None, None).await
        }
        Err(e) => crate::pages::account::render(req, &form.viewer, None, None, Some(e)).await,
    }
}

#[handler]
pub async fn revoke_token(
    req: &Request,
    form: CsrfForm,
    Path(token_id): Path<ApiTokenId>,
) -> PageResult {
    let actor = form.viewer.require()?;
    service::revoke_api_token(app_of(req), actor, &token_id).await?;
    Ok(see_other("/account", Some(Notice::TokenRevoked)))
}

async fn accounts_page(
    req: &Request,
    viewer: &Viewer,
    done: Option<&str>,
    values: serde_json::Value,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let accounts = service::list_accounts(app, actor).await?;
    let page = Page::new(
        "admin_accounts.html",
        "Accounts",
        json!({ "accounts": accounts, "values": values }),
    )
    .notice(done)
    .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

#[handler]
pub async fn admin_accounts(
    req: &Request,
    viewer: Viewer,
    Query(q): Query<PageQuery>,
) -> PageResult {
    accounts_page(
        req,
        &viewer,
        q.done(),
        json!({ "email": "", "display_name": "" }),
        None,
    )
    .await
}

#[handler]
pub async fn admin_invite(req: &Request, form: CsrfForm) -> PageResult {
    let actor = form.viewer.require()?;
    let new = NewAccount {
        email: form.get("email"),
        display_name: form.get("display_name"),
        is_admin: form.checked("is_admin"),
    };
    match service::invite(app_of(req), actor, new).await {
        Ok(_) => Ok(see_other("/admin/accounts", Some(Notice::Invited))),
        Err(e) => {
            let values =
                json!({ "email": form.get("email"), "display_name": form.get("display_name") });
            accounts_page(req, &form.viewer, None, values, Some(e)).await
        }
    }
}

#[handler]
pub async fn admin_change(
    req: &Request,
    form: CsrfForm,
    Path((account_id, change)): Path<(String, String)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    service::may_manage_accounts(actor)?;
    let id = AccountId::parse(&account_id).ok_or(AppError::NotFound)?;
    let change = AccountChange::parse(&change).ok_or(AppError::NotFound)?;
    let reason = Some(form.get("reason")).filter(|r| !r.trim().is_empty());
    match service::change_account(app_of(req), actor, &id, change, reason).await {
        Ok(()) => Ok(see_other("/admin/accounts", Some(Notice::AccountChanged))),
        Err(e) => {
            accounts_page(
                req,
                &form.viewer,
                None,
                json!({ "email": "", "display_name": "" }),
                Some(e),
            )
            .await
        }
    }
}

// One's own second factor

async fn second_factor_page(
    req: &Request,
    viewer: &Viewer,
    recovery_codes: Option<Vec<String>>,
    done: Option<&str>,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let standing = factor::standing(app, actor).await?;
    let ctx = json!({ "standing": standing, "recovery_codes": recovery_codes });
    Ok(Page::new("second_factor.html", "Second factor", ctx)
        .notice(done)
        .problems_of(err)?
        .render(app, viewer)?)
}

#[handler]
pub async fn second_factor(
    req: &Request,
    viewer: Viewer,
    Query(q): Query<PageQuery>,
) -> PageResult {
    second_factor_page(req, &viewer, None, q.done(), None).await
}

#[handler]
pub async fn start_enrolment(req: &Request, form: CsrfForm) -> PageResult {
    let actor = form.viewer.require()?;
    match factor::start_enrolment(app_of(req), actor).await {
        Ok(_) => Ok(see_other("/account/second-factor", None)),
        Err(e) => second_factor_page(req, &form.viewer, None, None, Some(e)).await,
    }
}

/// The recovery codes a form made, shown once on the page; or its problem.
async fn with_codes(
    req: &Request,
    form: &CsrfForm,
    result: Result<Vec<String>, AppError>,
) -> PageResult {
    match result {
        Ok(codes) => second_factor_page(req, &form.viewer, Some(codes), None, None).await,
        Err(e) => second_factor_page(req, &form.viewer, None, None, Some(e)).await,
    }
}

#[handler]
pub async fn confirm_enrolment(req: &Request, form: CsrfForm) -> PageResult {
    let actor = form.viewer.require()?;
    let result = factor::confirm_enrolment(app_of(req), actor, form.get("code")).await;
    with_codes(req, &form, result).await
}

#[handler]
pub async fn renew_recovery_codes(req: &Request, form: CsrfForm) -> PageResult {
    let actor = form.viewer.require()?;
    let result = factor::regenerate_recovery_codes(app_of(req), actor, form.get("code")).await;
    with_codes(req, &form, result).await
}

#[handler]
pub async fn turn_off_second_factor(req: &Request, form: CsrfForm) -> PageResult {
    let actor = form.viewer.require()?;
    match factor::turn_off(app_of(req), actor, form.get("off_code")).await {
        Ok(()) => Ok(see_other(
            "/account/second-factor",
            Some(Notice::SecondFactorOff),
        )),
        // The form's field is `off_code`, apart from the renewal form's `code`.
        Err(AppError::Invalid(problems)) => {
            let moved = problems
                .into_iter()
                .map(|p| crate::error::FieldProblem {
                    field: "off_code".into(),
                    detail: p.detail,
                })
                .collect();
            second_factor_page(
                req,
                &form.viewer,
                None,
                None,
                Some(AppError::Invalid(moved)),
            )
            .await
        }
        Err(e) => second_factor_page(req, &form.viewer, None, None, Some(e)).await,
    }
}
