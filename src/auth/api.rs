//! JSON API for signing in and out, one's own account and tokens, and account
//! administration. Thin: parse, call one service function, answer.

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::model::{Account, Permission, Role};
use super::service::{self, AccountChange, ApiToken, NewAccount, NewApiToken};
use crate::http::api::{fail, ApiResult, BearerAuth, Created, NoContent, Tag};
use crate::http::viewer::{app_of, client_address};
use crate::ids::{AccountId, StudyId};

pub struct AccountApi;
pub struct AdminApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct SignIn {
    email: String,
    password: String,
}

#[derive(Object)]
struct SessionCreated {
    /// Send as `Authorization: Bearer <token>`. Shown once.
    token: String,
    account_id: String,
}

#[derive(Object)]
struct MembershipView {
    study_id: String,
    role: Role,
    /// Empty: all sites.
    site_ids: Vec<String>,
}

#[derive(Object)]
struct Me {
    account_id: String,
    display_name: String,
    is_admin: bool,
    memberships: Vec<MembershipView>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct ResetRequest {
    email: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct TokenRequest {
    study_id: String,
    /// What the token is for, e.g. "nightly export script".
    name: String,
    permissions: Vec<Permission>,
    /// Lifetime in days, 1 to 365.
    days: i64,
}

#[derive(Object)]
struct TokenCreated {
    /// The secret; shown once, stored only hashed.
    secret: String,
    token: ApiToken,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct Invitation {
    email: String,
    display_name: String,
    #[oai(default)]
    is_admin: bool,
}

#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "snake_case")]
enum ChangeKind {
    Disable,
    Enable,
    GrantAdmin,
    RevokeAdmin,
    Unlock,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct ChangeRequest {
    change: ChangeKind,
    /// Why; recorded in the audit trail.
    reason: Option<String>,
}

#[derive(ApiResponse)]
enum Accepted {
    /// Accepted; if an active account has this address, a link is on its way.
    #[oai(status = 202)]
    Accepted,
}

fn parse_study(raw: &str) -> poem::Result<StudyId> {
    StudyId::parse(raw).ok_or_else(|| fail(crate::error::AppError::NotFound))
}

#[OpenApi(tag = "Tag::Account")]
impl AccountApi {
    /// Sign in; returns a session token for the Authorization header.
    #[oai(path = "/sessions", method = "post")]
    async fn sign_in(&self, req: &Request, body: Json<SignIn>) -> ApiResult<Json<SessionCreated>> {
        let app = app_of(req);
        let s = service::login(app, &body.email, &body.password, &client_address(req))
            .await
            .map_err(fail)?;
        Ok(Json(SessionCreated {
            token: s.token,
            account_id: s.account_id.to_string(),
        }))
    }

    /// Sign out: the session ends on every instance.
    #[oai(path = "/sessions/current", method = "delete")]
    async fn sign_out(&self, req: &Request, auth: BearerAuth) -> ApiResult<NoContent> {
        let _ = auth;
        let token = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !token.starts_with(service::SESSION_PREFIX) {
            return Err(fail(crate::error::AppError::BadRequest(
                "Only a session token can be signed out; revoke API tokens instead.".into(),
            )));
        }
        service::logout(app_of(req), token).await.map_err(fail)?;
        Ok(NoContent::Done)
    }

    /// Who you are, and your roles.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, auth: BearerAuth) -> Json<Me> {
        let a = auth.0;
        Json(Me {
            account_id: a.account_id.to_string(),
            display_name: a.display_name,
            is_admin: a.is_admin,
            memberships: a
                .memberships
                .into_iter()
                .map(|m| MembershipView {
                    study_id: m.study_id.to_string(),
                    role: m.role,
                    site_ids: m.sites.iter().map(ToString::to_string).collect(),
                })
                .collect(),
        })
    }

    /// Change your password; every session of yours ends.
    #[oai(path = "/me/password", method = "post")]
    async fn change_password(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<PasswordChange>,
    ) -> ApiResult<NoContent> {
        service::change_password(
            app_of(req),
            &auth.0,
            &body.current_password,
            &body.new_password,
        )
        .await
        .map_err(fail)?;
        Ok(NoContent::Done)
    }

    /// Ask for a password-reset link by email. The answer is the same whether or not the account exists.
    #[oai(path = "/password-resets", method = "post")]
    async fn request_reset(&self, req: &Request, body: Json<ResetRequest>) -> ApiResult<Accepted> {
        service::request_password_reset(app_of(req), &body.email)
            .await
            .map_err(fail)?;
        Ok(Accepted::Accepted)
    }

    /// Your API tokens.
    #[oai(path = "/me/tokens", method = "get")]
    async fn tokens(&self, req: &Request, auth: BearerAuth) -> ApiResult<Json<Vec<ApiToken>>> {
        Ok(Json(
            service::list_api_tokens(app_of(req), &auth.0)
                .await
                .map_err(fail)?,
        ))
    }

    /// Create an API token for scripts, limited to one study and to permissions you have there.
    #[oai(path = "/me/tokens", method = "post")]
    async fn create_token(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<TokenRequest>,
    ) -> ApiResult<Json<TokenCreated>> {
        let study = parse_study(&body.study_id)?;
        let new = NewApiToken {
            study_id: &study,
            name: &body.name,
            permissions: &body.permissions,
            days: body.days,
        };
        let (secret, token) = service::create_api_token(app_of(req), &auth.0, new)
            .await
            .map_err(fail)?;
        Ok(Json(TokenCreated { secret, token }))
    }

    /// Revoke one of your API tokens.
    #[oai(path = "/me/tokens/:token_id", method = "delete")]
    async fn revoke_token(
        &self,
        req: &Request,
        auth: BearerAuth,
        token_id: Path<String>,
    ) -> ApiResult<NoContent> {
        service::revoke_api_token(app_of(req), &auth.0, &token_id)
            .await
            .map_err(fail)?;
        Ok(NoContent::Done)
    }
}

#[OpenApi(tag = "Tag::Admin")]
impl AdminApi {
    /// Every account (administrators only).
    #[oai(path = "/accounts", method = "get")]
    async fn accounts(&self, req: &Request, auth: BearerAuth) -> ApiResult<Json<Vec<Account>>> {
        Ok(Json(
            service::list_accounts(app_of(req), &auth.0)
                .await
                .map_err(fail)?,
        ))
    }

    /// Invite someone: they get an email with a link to choose a password.
    #[oai(path = "/accounts", method = "post")]
    async fn invite(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<Invitation>,
    ) -> ApiResult<Json<Created>> {
        let new = NewAccount {
            email: &body.email,
            display_name: &body.display_name,
            is_admin: body.is_admin,
        };
        let id = service::invite(app_of(req), &auth.0, new)
            .await
            .map_err(fail)?;
        Ok(Json(Created { id: id.to_string() }))
    }

    /// Disable, enable, grant or revoke admin, or unlock sign-in for an account.
    #[oai(path = "/accounts/:account_id/changes", method = "post")]
    async fn change(
        &self,
        req: &Request,
        auth: BearerAuth,
        account_id: Path<String>,
        body: Json<ChangeRequest>,
    ) -> ApiResult<NoContent> {
        let id =
            AccountId::parse(&account_id).ok_or_else(|| fail(crate::error::AppError::NotFound))?;
        let change = match body.change {
            ChangeKind::Disable => AccountChange::Disable,
            ChangeKind::Enable => AccountChange::Enable,
            ChangeKind::GrantAdmin => AccountChange::GrantAdmin,
            ChangeKind::RevokeAdmin => AccountChange::RevokeAdmin,
            ChangeKind::Unlock => AccountChange::Unlock,
        };
        service::change_account(app_of(req), &auth.0, &id, change, body.reason.as_deref())
            .await
            .map_err(fail)?;
        Ok(NoContent::Done)
    }
}
