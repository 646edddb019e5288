//! What every API handler shares: the bearer security scheme (API tokens for
//! scripts, or a session token from `POST /api/v1/sessions`), tags, and the
//! conversion of service errors.

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::{ApiResponse, Object, SecurityScheme, Tags};

use crate::auth::model::Actor;
use crate::auth::service;
use crate::error::AppError;
use crate::http::viewer::app_of;

#[derive(Tags)]
pub enum Tag {
    /// Signing in and out, your own account and API tokens.
    Account,
    /// Instance administration: accounts.
    Admin,
    /// Studies, their sites, teams and members.
    Studies,
    /// Participants, by study code; identities only on request, with a reason.
    Participants,
    /// Consent: taking it, online invitations, withdrawal, copies.
    Consent,
    /// The tamper-evident audit trail and its signed checkpoints.
    Audit,
}

/// `Authorization: Bearer <token>`: an API token (fkt_...) or a session token (fks_...).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_bearer")]
pub struct BearerAuth(pub Actor);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Actor> {
    let app = app_of(req);
    let actor = if bearer.token.starts_with(service::SESSION_PREFIX) {
        service::actor_for_session(app, &bearer.token).await?
    } else {
        // The full path: inside the /api/v1 nest, `uri()` has lost its prefix.
        let path = req.original_uri().path();
        service::actor_for_api_token(app, &bearer.token, req.method().as_str(), path).await?
    };
    actor.ok_or_else(|| AppError::Unauthenticated.into())
}

/// The result type of API handlers: errors become problem+json in the middleware.
pub type ApiResult<T> = poem::Result<T>;

/// Converts a service error for poem.
pub fn fail(e: AppError) -> poem::Error {
    e.into()
}

/// The id of something just created.
#[derive(Object)]
pub struct Created {
    pub id: String,
}

#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}
