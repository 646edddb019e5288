//! Cross-cutting HTTP behaviour: security headers on every response, request
//! ids and one log line per request (path only: query strings can hold one-time
//! secrets), a body size limit that also covers chunked bodies, and turning
//! every error into problem+json (API) or a readable page (everything else).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use serde_json::json;
use tracing::Instrument;

use crate::app::App;
use crate::error::{problem_type, AppError};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

#[derive(Clone)]
pub struct RequestId(pub String);

/// Request headers past this size are refused with 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Wraps the whole application. Everything a request logs is inside its
/// span, so every line carries the request id.
pub async fn around(app: App, ep: impl Endpoint, mut req: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let is_api = path.starts_with("/api/");
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        path = %escape_for_log(&path),
    );
    async move {
        // An upload's body is shared so what a refusal leaves unread can be
        // read away before the answer goes (`drained`).
        let upload = is_upload(&method, &path);
        // Whatever a refusal (a limit, access, CSRF, consent) leaves of a
        // body is read away before the answer goes (`Unread::drained`).
        let has_body = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        let unread = has_body.then(|| Unread::of(&mut req));
        let outcome = match check_request(&app, &mut req, upload).await {
            Ok(()) => ep.call(req).await.map(IntoResponse::into_response),
            Err(e) => Err(e.into()),
        };
        let mut resp = match outcome {
            Ok(resp) => resp,
            // A page sending someone elsewhere first (`viewer::first_things_first`).
            Err(err) if err.status().is_redirection() => err.into_response(),
            Err(err) => error_response(&app, &err, is_api, &request_id),
        };
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
            let allow = super::routes::allowed_methods(&path).join(", ");
            if let Ok(v) = HeaderValue::from_str(&allow) {
                resp.headers_mut().insert(header::ALLOW, v);
            }
        }
        secure_headers(&app, &mut resp);
        if let Some(unread) = unread {
            if !unread.drained().await {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
        }
        resp.headers_mut().insert(
            "x-request-id",
            HeaderValue::from_str(&request_id).expect("hex is a valid header"),
        );
        tracing::info!(
            status = resp.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
        Ok(resp)
    }
    .instrument(span)
    .await
}

/// Refuses oversized headers, then reads the body within its limit.
async fn check_request(app: &App, req: &mut Request, upload: bool) -> Result<(), AppError> {
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(AppError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES,
        });
    }
    if upload {
        // Uploads stream to disk within their own limits (`media::upload`).
        return Ok(());
    }
    limit_body(app, req).await
}

/// Is this a request to one of the upload routes?
fn is_upload(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && super::routes::is_upload(path)
}

/// A request's body as its handler reads it, with what the handler leaves
/// unread still in reach: closing a connection with data unread resets it,
/// and the client loses the answer with it (or reuses the connection and
/// finds it cut off).
struct Unread {
    stream: Arc<tokio::sync::Mutex<BoxStream<'static, std::io::Result<Bytes>>>>,
    read: Arc<AtomicU64>,
    /// What the request said it would send, when it said.
    length: Option<u64>,
    /// The client waits for "100 Continue" before it sends the body.
    expects_continue: bool,
}

/// How much of a refused upload is read and thrown away so its sender gets
/// the answer.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(15);

impl Unread {
    /// Puts a shared reader in place of the request's body.
    fn of(req: &mut Request) -> Unread {
        let length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let expects_continue = req
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let stream = Arc::new(tokio::sync::Mutex::new(
            req.take_body().into_bytes_stream().boxed(),
        ));
        let read = Arc::new(AtomicU64::new(0));
        let reader = futures_util::stream::unfold(
            (stream.clone(), read.clone()),
            |(stream, read)| async move {
                let next = stream.lock().await.next().await;
                if let Some(Ok(chunk)) = &next {
                    read.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                next.map(|item| (item, (stream, read)))
            },
        );
        req.set_body(Body::from_bytes_stream(reader));
        Unread {
            stream,
            read,
            length,
            expects_continue,
        }
    }

    /// Reads away what the handler left (a body past the JSON limit, an
    /// upload refused by access, CSRF, consent or kind before its end),
    /// within bounds. True when the body was
    /// read to its end and the connection can serve again; otherwise it is
    /// closed after the answer (`Connection: close`). A body never asked
    /// for ("Expect: 100-continue", nothing read) or too large to read away
    /// is not read at all.
    async fn drained(self) -> bool {
        let read = self.read.load(Ordering::Relaxed);
        if self.expects_continue && read == 0 {
            return false;
        }
        if self
            .length
            .is_some_and(|n| n.saturating_sub(read) > DRAIN_BYTES)
        {
            return false;
        }
        let mut stream = self.stream.lock().await;
        let mut drained = 0u64;
        let until = tokio::time::Instant::now() + DRAIN_TIME;
        loop {
            match tokio::time::timeout_at(until, stream.next()).await {
                Ok(None) => return true,
                Ok(Some(Ok(chunk))) => {
                    drained += chunk.len() as u64;
                    if drained > DRAIN_BYTES {
                        return false;
                    }
                }
                Ok(Some(Err(_))) | Err(_) => return false,
            }
        }
    }
}

/// Control characters in logged input are escaped so a path cannot forge log lines.
fn escape_for_log(s: &str) -> String {
    s.chars().take(300).flat_map(char::escape_default).collect()
}

async fn limit_body(app: &App, req: &mut Request) -> Result<(), AppError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let limit = app.server.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(AppError::TooLarge { limit });
    }
    let bytes = req
        .take_body()
        .into_bytes_limit(limit)
        .await
        .map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => AppError::TooLarge { limit },
            other => AppError::BadRequest(format!("The request body could not be read: {other}")),
        })?;
    req.set_body(Body::from(bytes));
    Ok(())
}

fn secure_headers(app: &App, resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if app.server.is_https() {
        h.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Maps any error to our error type, so poem's and poem-openapi's own errors
/// (bad JSON, wrong content type, unknown route) get the same clear answer.
fn classify(err: &poem::Error) -> AppError {
    if let Some(e) = err.downcast_ref::<AppError>() {
        return match e {
            AppError::Invalid(p) => AppError::Invalid(p.clone()),
            AppError::BadRequest(s) => AppError::BadRequest(s.clone()),
            AppError::Forbidden(s) => AppError::Forbidden(s.clone()),
            AppError::SecondFactorEnrolmentRequired => AppError::SecondFactorEnrolmentRequired,
            AppError::Conflict(s) => AppError::Conflict(s.clone()),
            AppError::Gone(s) => AppError::Gone(s.clone()),
            AppError::Throttled { retry_after_secs } => AppError::Throttled {
                retry_after_secs: *retry_after_secs,
            },
            AppError::TooLarge { limit } => AppError::TooLarge { limit: *limit },
            AppError::HeadersTooLarge { limit } => AppError::HeadersTooLarge { limit: *limit },
            AppError::Unauthenticated => AppError::Unauthenticated,
            AppError::NotFound => AppError::NotFound,
            AppError::Csrf => AppError::Csrf,
            AppError::Internal { source, at } => {
                // The whole cause chain, inside the request's span.
                tracing::error!(error = format!("{source:#}"), location = %at, "internal error");
                AppError::internal(anyhow::anyhow!("logged"))
            }
        };
    }
    if err.is::<poem_openapi::error::AuthorizationError>() {
        return AppError::Unauthenticated;
    }
    if err.is::<poem_openapi::error::ParseRequestPayloadError>()
        || err.is::<poem_openapi::error::ParseParamError>()
    {
        return AppError::BadRequest(err.to_string());
    }
    match err.status() {
        StatusCode::NOT_FOUND => AppError::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge { limit: 0 },
        StatusCode::UNAUTHORIZED => AppError::Unauthenticated,
        s if s.is_client_error() => AppError::BadRequest(client_error_text(s, err)),
        _ => {
            tracing::error!(error = %err, status = err.status().as_u16(), "unhandled server error");
            AppError::internal(anyhow::anyhow!("logged"))
        }
    }
}

fn client_error_text(status: StatusCode, err: &poem::Error) -> String {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => "This address does not accept that method.".into(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Send the body as application/json.".into(),
        _ => err.to_string(),
    }
}

pub fn error_response(app: &App, err: &poem::Error, is_api: bool, request_id: &str) -> Response {
    let e = classify(err);
    if !is_api && matches!(e, AppError::Unauthenticated) {
        return crate::http::page::see_other("/login", None);
    }
    let status = if err.is::<AppError>() || !err.status().is_client_error() {
        e.status()
    } else {
        err.status()
    };
    let mut resp = if is_api {
        let mut body = json!({
            "type": problem_type(e.slug()),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": e.to_string(),
            "request_id": request_id,
        });
        if !e.field_problems().is_empty() {
            body["errors"] = json!(e.field_problems());
        }
        Response::builder()
            .status(status)
            .content_type("application/problem+json")
            .body(body.to_string())
    } else {
        let html = app
            .templates
            .render(
                "error.html",
                json!({
                    "title": status.canonical_reason().unwrap_or("Error"),
                    "detail": e.to_string(),
                    "status": status.as_u16(),
                    "user": null, "csrf": "", "problems": [], "notice": null,
                }),
            )
            .unwrap_or_else(|_| "Something went wrong.".into());
        Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .body(html)
    };
    if let AppError::Throttled { retry_after_secs } = e {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_input_cannot_forge_lines() {
        assert_eq!(escape_for_log("/a\nlevel=error"), "/a\\nlevel=error");
    }
}
