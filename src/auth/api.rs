//! JSON API for signing in and out, one's own account and tokens, and account
//! administration. Thin: parse, call one service function, answer.

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::model::{Account, Permission, Role};
use super::policy::second_factor_required;
use super::second_factor::service as factor;
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
    /// The password no longer meets the policy: change it (`POST /me/password`).
    password_change_due: bool,
}

impl From<service::NewSession> for SessionCreated {
    fn from(s: service::NewSession) -> SessionCreated {
        SessionCreated {
            token: s.token,
            account_id: s.account_id,
            password_change_due: s.password_change_due,
        }
    }
}

#[derive(Object)]
struct SecondFactorNeeded {
    /// Send with a code to `POST /sessions/second-factor`. Shown once.
    pending_token: String,
    /// Unix milliseconds; after this, sign in with the password again.
    expires_at: i64,
}

#[derive(ApiResponse)]
enum SignInAnswer {
    /// Signed in.
    #[oai(status = 200)]
    Session(Json<SessionCreated>),
    /// The password is right and the account has a second factor: complete
    /// the sign-in with a code at `POST /sessions/second-factor`.
    #[oai(status = 202)]
    SecondFactorNeeded(Json<SecondFactorNeeded>),
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct SecondStep {
    #[oai(validator(max_length = 100))]
    pending_token: Text,
    /// The 6-digit code from the authenticator app, or an unused recovery code.
    #[oai(validator(max_length = 64))]
    code: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct Code {
    /// The 6-digit code from the authenticator app (or, where a confirmed
    /// factor is proven, an unused recovery code).
    #[oai(validator(max_length = 64))]
    code: Text,
}

#[derive(Object)]
struct EnrolmentStarted {
    /// Base32, for typing into an authenticator app by hand.
    secret: String,
    /// The same secret as an `otpauth://` URI (what the QR code holds).
    otpauth_uri: String,
}

#[derive(Object)]
struct RecoveryCodes {
    /// Ten single-use codes, shown once; each signs in once in place of a code.
    recovery_codes: Vec<String>,
}

#[derive(Object)]
struct SecondFactorView {
    enrolled: bool,
    /// Your role needs one; without it the API answers only to enrolment.
    required: bool,
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
    second_factor: SecondFactorView,
    /// The password you signed in with no longer meets the policy: change it.
    password_change_due: bool,
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
    /// Sign in with a password; returns a session token for the
    /// Authorization header (200), or, when the account has a second factor,
    /// a pending token to complete with a code (202).
    #[oai(path = "/sessions", method = "post")]
    async fn sign_in(&self, req: &Request, body: Json<SignIn>) -> ApiResult<SignInAnswer> {
        let app = app_of(req);
        Ok(
            match service::login(app, &body.email, &body.password, &client_address(req)).await? {
                service::SignIn::Session(s) => SignInAnswer::Session(Json(s.into())),
                service::SignIn::SecondFactorNeeded {
                    pending,
                    expires_at,
                } => SignInAnswer::SecondFactorNeeded(Json(SecondFactorNeeded {
                    pending_token: pending,
                    expires_at,
                })),
            },
        )
    }

    /// The second step of signing in: the pending token and a code.
    #[oai(path = "/sessions/second-factor", method = "post")]
    async fn second_step(
        &self,
        req: &Request,
        body: Json<SecondStep>,
    ) -> ApiResult<Json<SessionCreated>> {
        let s = factor::complete_sign_in(app_of(req), &body.pending_token, &body.code).await?;
        Ok(Json(s.into()))
    }

    /// Start setting up a TOTP second factor; it takes effect once confirmed with a code.
    #[oai(path = "/me/second-factor", method = "post")]
    async fn start_enrolment(
        &self,
        req: &Request,
        auth: BearerAuth,
    ) -> ApiResult<Json<EnrolmentStarted>> {
        let e = factor::start_enrolment(app_of(req), &auth.0).await?;
        Ok(Json(EnrolmentStarted {
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
        }))
    }

    /// Confirm the second factor with its first code; returns ten recovery codes, once.
    #[oai(path = "/me/second-factor/confirmation", method = "post")]
    async fn confirm_enrolment(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<Code>,
    ) -> ApiResult<Json<RecoveryCodes>> {
        let recovery_codes = factor::confirm_enrolment(app_of(req), &auth.0, &body.code).await?;
        Ok(Json(RecoveryCodes { recovery_codes }))
    }

    /// Replace your recovery codes with ten new ones, proven with a current code.
    #[oai(path = "/me/second-factor/recovery-codes", method = "post")]
    async fn renew_recovery_codes(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<Code>,
    ) -> ApiResult<Json<RecoveryCodes>> {
        let recovery_codes =
            factor::regenerate_recovery_codes(app_of(req), &auth.0, &body.code).await?;
        Ok(Json(RecoveryCodes { recovery_codes }))
    }

    /// Turn your second factor off, proven with a current code; refused when your role needs one.
    #[oai(path = "/me/second-factor/removal", method = "post")]
    async fn turn_off(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<Code>,
    ) -> ApiResult<NoContent> {
        factor::turn_off(app_of(req), &auth.0, &body.code).await?;
        Ok(NoContent::Done)
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
        let second_factor = SecondFactorView {
            enrolled: a.second_factor,
            required: second_factor_required(&a),
        };
        Ok(Json(Me {
            second_factor,
            password_change_due: a.password_change_due,
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

    /// Disable, enable, grant or revoke admin, unlock sign-in, or reset the
    /// second factor (a reason is required; the person's sessions end).
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
