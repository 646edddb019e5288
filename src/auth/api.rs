//! JSON API for signing in and out, one's own account and tokens, and account
//! administration. Thin: parse, call one service function, answer.

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::model::{Account, Permission, Role};
use super::service::{self, AccountChange, ApiToken, NewAccount, NewApiToken};
use crate::error::AppError;
use crate::http::api::{ApiResult, BearerAuth, Created, NoContent, Tag, Text};
use crate::http::viewer::{app_of, client_address};
use crate::ids::{AccountId, ApiTokenId, SiteId, StudyId};

pub struct AccountApi;
pub struct AdminApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct SignIn {
    #[oai(validator(max_length = 254))]
    email: Text,
    #[oai(validator(max_length = 1024))]
    password: Text,
}

#[derive(Object)]
struct SessionCreated {
    /// Send as `Authorization: Bearer <token>`. Shown once.
    token: String,
    account_id: AccountId,
}

#[derive(Object)]
struct MembershipView {
    study_id: StudyId,
    role: Role,
    /// Empty: all sites.
    site_ids: Vec<SiteId>,
}

#[derive(Object)]
struct Me {
    account_id: AccountId,
    display_name: String,
    is_admin: bool,
    memberships: Vec<MembershipView>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct PasswordChange {
    #[oai(validator(max_length = 1024))]
    current_password: Text,
    #[oai(validator(max_length = 4096))]
    new_password: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct ResetRequest {
    #[oai(validator(max_length = 254))]
    email: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct TokenRequest {
    study_id: StudyId,
    /// What the token is for, e.g. "nightly export script".
    #[oai(validator(max_length = 100))]
    name: Text,
    permissions: Vec<Permission>,
    /// Lifetime in days, 1 to 365.
    #[oai(validator(minimum(value = "1"), maximum(value = "365")))]
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
    #[oai(validator(max_length = 254))]
    email: Text,
    #[oai(validator(max_length = 200))]
    display_name: Text,
    #[oai(nullable, default)]
    is_admin: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct ChangeRequest {
    change: AccountChange,
    /// Why; recorded in the audit trail.
    #[oai(nullable, validator(max_length = 500))]
    reason: Option<Text>,
}

#[derive(ApiResponse)]
enum Accepted {
    /// Accepted; if an active account has this address, a link is on its way.
    #[oai(status = 202)]
    Accepted,
}

#[OpenApi(tag = "Tag::Account")]
impl AccountApi {
    /// Sign in; returns a session token for the Authorization header.
    #[oai(path = "/sessions", method = "post")]
    async fn sign_in(&self, req: &Request, body: Json<SignIn>) -> ApiResult<Json<SessionCreated>> {
        let app = app_of(req);
        let s = service::login(app, &body.email, &body.password, &client_address(req)).await?;
        Ok(Json(SessionCreated {
            token: s.token,
            account_id: s.account_id,
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
            return Err(AppError::BadRequest(
                "Only a session token can be signed out; revoke API tokens instead.".into(),
            ));
        }
        service::logout(app_of(req), token).await?;
        Ok(NoContent::Done)
    }

    /// Who you are, and your roles.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, auth: BearerAuth) -> ApiResult<Json<Me>> {
        let a = auth.0;
        Ok(Json(Me {
            account_id: a.account_id,
            display_name: a.display_name,
            is_admin: a.is_admin,
            memberships: a
                .memberships
                .into_iter()
                .map(|m| MembershipView {
                    study_id: m.study_id,
                    role: m.role,
                    site_ids: m.sites,
                })
                .collect(),
        }))
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
        .await?;
        Ok(NoContent::Done)
    }

    /// Ask for a password-reset link by email. The answer is the same whether or not the account exists.
    #[oai(path = "/password-resets", method = "post")]
    async fn request_reset(&self, req: &Request, body: Json<ResetRequest>) -> ApiResult<Accepted> {
        service::request_password_reset(app_of(req), &body.email).await?;
        Ok(Accepted::Accepted)
    }

    /// Your API tokens.
    #[oai(path = "/me/tokens", method = "get")]
    async fn tokens(&self, req: &Request, auth: BearerAuth) -> ApiResult<Json<Vec<ApiToken>>> {
        Ok(Json(service::list_api_tokens(app_of(req), &auth.0).await?))
    }

    /// Create an API token for scripts, limited to one study and to permissions you have there.
    #[oai(path = "/me/tokens", method = "post")]
    async fn create_token(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<TokenRequest>,
    ) -> ApiResult<Json<TokenCreated>> {
        let new = NewApiToken {
            study_id: &body.study_id,
            name: &body.name,
            permissions: &body.permissions,
            days: body.days,
        };
        let (secret, token) = service::create_api_token(app_of(req), &auth.0, new).await?;
        Ok(Json(TokenCreated { secret, token }))
    }

    /// Revoke one of your API tokens.
    #[oai(path = "/me/tokens/:token_id", method = "delete")]
    async fn revoke_token(
        &self,
        req: &Request,
        auth: BearerAuth,
        token_id: Path<ApiTokenId>,
    ) -> ApiResult<NoContent> {
        service::revoke_api_token(app_of(req), &auth.0, &token_id).await?;
        Ok(NoContent::Done)
    }
}

#[OpenApi(tag = "Tag::Admin")]
impl AdminApi {
    /// Every account (administrators only).
    #[oai(path = "/accounts", method = "get")]
    async fn accounts(&self, req: &Request, auth: BearerAuth) -> ApiResult<Json<Vec<Account>>> {
        Ok(Json(service::list_accounts(app_of(req), &auth.0).await?))
    }

    /// Invite someone: they get an email with a link to choose a password.
    #[oai(path = "/accounts", method = "post")]
    async fn invite(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<Invitation>,
    ) -> ApiResult<Json<Created<AccountId>>> {
        let new = NewAccount {
            email: &body.email,
            display_name: &body.display_name,
            is_admin: body.is_admin,
        };
        let id = service::invite(app_of(req), &auth.0, new).await?;
        Ok(Json(Created { id }))
    }

    /// Disable, enable, grant or revoke admin, or unlock sign-in for an account.
    #[oai(path = "/accounts/:account_id/changes", method = "post")]
    async fn change(
        &self,
        req: &Request,
        auth: BearerAuth,
        account_id: Path<AccountId>,
        body: Json<ChangeRequest>,
    ) -> ApiResult<NoContent> {
        service::change_account(
            app_of(req),
            &auth.0,
            &account_id,
            body.change,
            body.reason.as_deref(),
        )
        .await?;
        Ok(NoContent::Done)
    }
}
