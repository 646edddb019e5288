//! What every API handler shares: the bearer security scheme (API tokens for
//! scripts, or a session token from `POST /api/v1/sessions`), tags, strict
//! text, pages of lists, and the errors every operation documents.

use std::borrow::Cow;

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use poem_openapi::{ApiResponse, Object, SecurityScheme, Tags};
use serde::Serialize;

use crate::auth::model::Actor;
use crate::auth::policy::{obligation, Obligation};
use crate::auth::service;
use crate::db::list::{Key, Page};
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
    /// Fidelity checklists and questionnaires: definitions, responses,
    /// scores, outcomes and agreement between raters.
    Instruments,
    /// Fieldwork: encounters, recordings and photos (encrypted at rest),
    /// transcripts, redaction, quotes and publication, each behind consent.
    Fieldwork,
}

/// `Authorization: Bearer <token>`: an API token (fkt_...) or a session token (fks_...).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_bearer")]
pub struct BearerAuth(pub Actor);

/// What a session whose role needs a second factor, and has none, may use
/// until it has one.
const BEFORE_ENROLMENT: &[&str] = &[
    "/api/v1/me",
    "/api/v1/sessions/current",
    "/api/v1/me/second-factor",
    "/api/v1/me/second-factor/confirmation",
];

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Actor> {
    let app = app_of(req);
    // The full path: inside the /api/v1 nest, `uri()` has lost its prefix.
    let route = super::routes::api_route(req.original_uri().path()).unwrap_or("(unknown route)");
    let actor = if bearer.token.starts_with(service::SESSION_PREFIX) {
        service::actor_for_session(app, &bearer.token).await?
    } else {
        let method = super::routes::method_name(req.method());
        service::actor_for_api_token(app, &bearer.token, method, route).await?
    };
    let actor = actor.ok_or(AppError::Unauthenticated)?;
    if obligation(&actor) == Some(Obligation::EnrolSecondFactor)
        && !BEFORE_ENROLMENT.contains(&route)
    {
        return Err(AppError::SecondFactorEnrolmentRequired.into());
    }
    Ok(actor)
}

/// The OpenAPI document as served. poem-openapi refuses unknown fields where
/// an object says `deny_unknown_fields` (every request object here does:
/// a misspelt `mca_aproved` must not pass as "not given") but does not
/// declare it; this declares it, as `additionalProperties: false` on each
/// named object a request body reaches, so clients and schemathesis know.
pub fn document(mut doc: serde_json::Value) -> String {
    let mut pending = Vec::new();
    for op in doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
        .filter_map(|ops| ops.as_object())
        .flat_map(|ops| ops.values())
    {
        schema_refs(&op["requestBody"], &mut pending);
    }
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(schema) = doc["components"]["schemas"].get_mut(&name) else {
            continue;
        };
        schema_refs(schema, &mut pending);
        if schema["type"] == "object" && schema["properties"].is_object() {
            schema["additionalProperties"] = false.into();
        }
    }
    doc.to_string()
}

/// The component schemas `value` refers to, anywhere inside it.
fn schema_refs(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(|r| r.as_str())
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                into.push(name.to_owned());
            }
            map.values().for_each(|v| schema_refs(v, into));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| schema_refs(v, into)),
        _ => {}
    }
}

/// The result type of API handlers: an error becomes problem+json in the
/// middleware, and every operation's documentation lists the errors.
pub type ApiResult<T> = Result<T, AppError>;

/// The id of something just created.
#[derive(Object)]
pub struct Created<T: Type + ParseFromJSON + ToJSON> {
    pub id: T,
}

#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// A JSON string, and only a string: `{"title": 5}` is refused rather than
/// read as "5" (poem-openapi's own `String` accepts numbers and booleans).
/// No text holds a NUL character: PostgreSQL cannot store one, and no
/// person types one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text(String);

/// Why text with a NUL character is refused, in the API and on the pages.
pub const NUL_REFUSED: &str = "Text cannot contain the NUL character (U+0000).";

impl Text {
    fn parse(s: String) -> ParseResult<Text> {
        if s.contains('\0') {
            Err(ParseError::custom(NUL_REFUSED))
        } else {
            Ok(Text(s))
        }
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text(s.to_owned())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(s)
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some("^[^\\x00]*$".into()),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            serde_json::Value::String(s) => Text::parse(s),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ParseFromParameter for Text {
    fn parse_from_parameter(raw: &str) -> ParseResult<Self> {
        Text::parse(raw.to_owned())
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}

/// A calendar date as a query parameter, `YYYY-MM-DD`, declared as the
/// standard `format: date` (poem-openapi's own calls it `naive-date`, which
/// clients do not know).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub chrono::NaiveDate);

impl Type for Date {
    const IS_REQUIRED: bool = true;
    type RawValueType = chrono::NaiveDate;
    type RawElementValueType = chrono::NaiveDate;

    fn name() -> Cow<'static, str> {
        "string(date)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date")))
    }

    fn as_raw_value(&self) -> Option<&chrono::NaiveDate> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a chrono::NaiveDate> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromParameter for Date {
    fn parse_from_parameter(raw: &str) -> ParseResult<Self> {
        crate::clock::parse_day(raw)
            .map(Date)
            .ok_or_else(|| ParseError::custom(crate::clock::DAY_FORMAT))
    }
}

/// One page of a list, and the link to the next (null on the last page).
#[derive(Object)]
pub struct Paged<T: Type + ParseFromJSON + ToJSON> {
    pub items: Vec<T>,
    /// The next page, with the same filters: follow it as given.
    #[oai(nullable)]
    pub next: Option<String>,
}

impl<T: Type + ParseFromJSON + ToJSON> Paged<T> {
    /// A page of a list answered at `req`, its next link the same request
    /// with `after` moved on.
    pub fn of<K: Key, U>(req: &Request, page: Page<U, K>, item: impl FnMut(U) -> T) -> Paged<T> {
        let next = page
            .next
            .as_ref()
            .map(|k| next_link(req.original_uri(), &k.to_param()));
        Paged {
            items: page.items.into_iter().map(item).collect(),
            next,
        }
    }
}

/// The request's path and query with `after` set to `cursor`.
pub fn next_link(uri: &poem::http::Uri, cursor: &str) -> String {
    link_with(uri, "after", cursor)
}

/// The request's path and query with `param` set to `value`, the rest kept.
pub fn link_with(uri: &poem::http::Uri, param: &str, value: &str) -> String {
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .filter(|(k, _)| k != param && k != "done")
            .collect();
    pairs.push((param.into(), value.into()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{}?{query}", uri.path())
}

/// A problem (RFC 9457), as every error is answered.
#[derive(Object)]
#[oai(rename = "Problem")]
struct Problem {
    /// A stable URN naming the kind of problem: urn:fieldkit:problem:<slug>.
    #[oai(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    /// What went wrong, in words a person can act on.
    detail: String,
    /// Quote it when you report a problem.
    request_id: String,
    /// For a refused form or body (422): each field and what is wrong with it.
    #[oai(skip_serializing_if_is_none)]
    errors: Option<Vec<FieldProblemView>>,
}

#[derive(Object)]
#[oai(rename = "FieldProblem")]
struct FieldProblemView {
    field: String,
    detail: String,
}

/// The errors any operation can give, each as problem+json.
const ERRORS: &[(u16, &str)] = &[
    (
        400,
        "The request is malformed: a bad parameter, body or JSON type.",
    ),
    (401, "Not signed in: no valid bearer token."),
    (403, "Signed in, but your role does not allow this."),
    (404, "Not found, or not yours to see."),
    (409, "Refused by a rule of the study or of consent."),
    (413, "The request body is too large."),
    (415, "The body is not of the declared content type."),
    (422, "Refused: the fields named in `errors` are not right."),
    (429, "Too many attempts: wait as long as Retry-After says."),
    (431, "The request's headers are larger than 16 KiB."),
];

impl ApiResponse for AppError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: ERRORS
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/problem+json",
                        schema: Problem::schema_ref(),
                    }],
                    headers: if *status == 429 {
                        vec![MetaHeader {
                            name: "Retry-After".into(),
                            description: Some("Seconds to wait.".into()),
                            required: true,
                            deprecated: false,
                            schema: i64::schema_ref(),
                        }]
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_only_a_string() {
        assert!(Text::parse_from_json(Some(serde_json::json!(5))).is_err());
        assert!(Text::parse_from_json(Some(serde_json::json!(true))).is_err());
        assert_eq!(
            Text::parse_from_json(Some(serde_json::json!("5"))).ok(),
            Some(Text::from("5"))
        );
        assert!(Text::parse_from_json(Some(serde_json::json!("a\u{0}b"))).is_err());
        assert!(Text::parse_from_parameter("a\u{0}b").is_err());
    }

    #[test]
    fn request_objects_are_declared_closed_and_responses_are_not() {
        let doc: serde_json::Value = serde_json::from_str(&document(
            serde_json::from_str(&crate::http::api_service().spec()).unwrap(),
        ))
        .unwrap();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["StudyInput"]["additionalProperties"], false);
        assert_eq!(schemas["SignIn"]["additionalProperties"], false);
        assert!(schemas["AnswerInput"].get("additionalProperties").is_none());
        assert!(schemas["Study"].get("additionalProperties").is_none());
    }

    #[test]
    fn dates_are_calendar_dates() {
        assert!(Date::parse_from_parameter("2026-02-28").is_ok());
        for bad in [
            "2026-02-30",
            "2026-2-1",
            " 2026-2-01",
            "2026-02- 1",
            "+2026-2-01",
            "26-02-01",
            "",
            "2026-02-28T00:00",
        ] {
            assert!(Date::parse_from_parameter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn next_links_keep_the_filters_and_move_after() {
        let uri: poem::http::Uri =
            "/api/v1/studies/s/participants?status=consented&after=old&limit=10"
                .parse()
                .unwrap();
        assert_eq!(
            next_link(&uri, "new"),
            "/api/v1/studies/s/participants?status=consented&limit=10&after=new"
        );
    }
}
