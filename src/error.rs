//! The one error type. Each variant has a status and a stable problem `type`
//! (RFC 9457); the API answers with problem+json, pages with a readable page.
//! Internal errors keep where they happened for the log and show a bland text.

use std::panic::Location;

use poem::http::StatusCode;
use serde::Serialize;

pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{}", summary(.0))]
    Invalid(Vec<FieldProblem>),
    #[error("You need to sign in.")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("Your role needs a second factor. Set one up first: POST /api/v1/me/second-factor, then confirm it with a code at /api/v1/me/second-factor/confirmation (or use the account page).")]
    SecondFactorEnrolmentRequired,
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// Something that existed and no longer can be used (a used or expired link).
    #[error("{0}")]
    Gone(String),
    #[error("Too many attempts. Try again in {retry_after_secs} seconds.")]
    Throttled { retry_after_secs: u64 },
    #[error("The form had expired or did not come from this site. Reload the page and try again.")]
    Csrf,
    #[error("The request body is larger than {limit} bytes.")]
    TooLarge { limit: usize },
    #[error("The request's headers are larger than {limit} bytes.")]
    HeadersTooLarge { limit: usize },
    #[error("Something went wrong on our side; it has been logged.")]
    Internal {
        source: anyhow::Error,
        at: &'static Location<'static>,
    },
}

fn summary(problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

impl AppError {
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldProblem {
            field: field.into(),
            detail: detail.into(),
        }])
    }

    #[track_caller]
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Self::Internal {
            source: source.into(),
            at: Location::caller(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::Csrf | Self::SecondFactorEnrolmentRequired => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable slug of the problem type; clients match on it, so never rename one.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::Invalid(_) => "validation",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::SecondFactorEnrolmentRequired => "second-factor-enrolment-required",
            Self::NotFound => "not-found",
            Self::Conflict(_) => "conflict",
            Self::Gone(_) => "gone",
            Self::Throttled { .. } => "too-many-requests",
            Self::Csrf => "csrf",
            Self::TooLarge { .. } => "payload-too-large",
            Self::HeadersTooLarge { .. } => "request-header-fields-too-large",
            Self::Internal { .. } => "internal",
        }
    }

    pub fn field_problems(&self) -> &[FieldProblem] {
        match self {
            Self::Invalid(p) => p,
            _ => &[],
        }
    }
}

impl From<sqlx::Error> for AppError {
    #[track_caller]
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Self::NotFound,
            e => Self::internal(e),
        }
    }
}

impl From<anyhow::Error> for AppError {
    #[track_caller]
    fn from(e: anyhow::Error) -> Self {
        Self::internal(e)
    }
}

impl poem::error::ResponseError for AppError {
    fn status(&self) -> StatusCode {
        AppError::status(self)
    }
}

/// The problem `type` URI for a slug.
pub fn problem_type(slug: &str) -> String {
    format!("urn:fieldkit:problem:{slug}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_never_show_their_cause() {
        let e = AppError::internal(anyhow::anyhow!("password=hunter2 in SQL"));
        assert!(!e.to_string().contains("hunter2"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn missing_rows_are_not_found() {
        assert_eq!(AppError::from(sqlx::Error::RowNotFound).slug(), "not-found");
    }
}
