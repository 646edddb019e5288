//! Every route the server answers, as templates, for what needs to know the
//! route of a path rather than the path itself: the `Allow` header of a 405,
//! and the audit entry of an API token's use (which records the template, so
//! whatever a client puts in a path never enters the trail).

use std::sync::OnceLock;

use poem::http::Method;

/// A route: its template, split into segments (`None` for a parameter), and
/// the methods it answers.
struct Route {
    template: &'static str,
    segments: Vec<Option<&'static str>>,
    methods: Vec<&'static str>,
}

fn segments(template: &'static str) -> Vec<Option<&'static str>> {
    template
        .trim_matches('/')
        .split('/')
        .map(|s| (!(s.starts_with(':') || s.starts_with('{'))).then_some(s))
        .collect()
}

fn add(routes: &mut Vec<Route>, template: &'static str, method: &'static str) {
    match routes.iter_mut().find(|r| r.template == template) {
        Some(r) => {
            if !r.methods.contains(&method) {
                r.methods.push(method);
            }
        }
        None => routes.push(Route {
            template,
            segments: segments(template),
            methods: vec![method],
        }),
    }
}

static TABLE: OnceLock<Vec<Route>> = OnceLock::new();

/// Builds the table from the OpenAPI document as the routes are assembled
/// (at start-up, once), so no request builds or parses it.
pub fn init(spec: &serde_json::Value) {
    TABLE.get_or_init(|| build(spec));
}

/// The API's routes (as `/api/v1/...` templates) and the pages'.
fn table() -> &'static [Route] {
    TABLE.get().map_or(&[], Vec::as_slice)
}

fn build(spec: &serde_json::Value) -> Vec<Route> {
    let mut routes = Vec::new();
    for (path, ops) in spec["paths"].as_object().into_iter().flatten() {
        let template: &'static str = format!("/api/v1{path}").leak();
        for method in ops.as_object().into_iter().flatten().map(|(m, _)| m) {
            add(
                &mut routes,
                template,
                method_name(&method.to_uppercase().parse().unwrap_or(Method::GET)),
            );
        }
    }
    for (method, path) in super::PAGE_ROUTES {
        add(
            &mut routes,
            path,
            method_name(&method.parse().unwrap_or(Method::GET)),
        );
    }
    for path in [
        "/healthz",
        "/readyz",
        "/static/app.css",
        "/static/player.js",
        "/static/copy.js",
        "/api/openapi.json",
    ] {
        add(&mut routes, path, "GET");
    }
    routes
}

/// A method's name as a `'static` string.
pub fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn matching(path: &str) -> impl Iterator<Item = &'static Route> + '_ {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    table().iter().filter(move |r| {
        r.segments.len() == parts.len()
            && r.segments
                .iter()
                .zip(&parts)
                .all(|(s, p)| s.is_none_or(|s| s == *p) && !p.is_empty())
    })
}

/// The template of the API route a path belongs to, e.g.
/// `/api/v1/studies/{study_id}/participants`.
pub fn api_route(path: &str) -> Option<&'static str> {
    matching(path)
        .map(|r| r.template)
        .find(|t| t.starts_with("/api/v1/"))
}

/// The routes whose bodies stream to the media store past the JSON body
/// limit, each within an upload limit of its own.
const UPLOADS: &[&str] = &[
    "/api/v1/studies/{study_id}/encounters/{encounter_id}/media",
    "/api/v1/studies/{study_id}/media/{item_id}/transcript",
    "/studies/:study_id/encounters/:encounter_id/media",
    "/studies/:study_id/media/:item_id/transcript",
    "/studies/:study_id/participants/:participant_id/consents/new",
];

/// Is this path one of the upload routes?
pub fn is_upload(path: &str) -> bool {
    matching(path).any(|r| UPLOADS.contains(&r.template))
}

/// The methods a path answers, for the `Allow` header of a 405.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = matching(path)
        .flat_map(|r| r.methods.iter().copied())
        .collect();
    if methods.contains(&"GET") {
        methods.push("HEAD");
    }
    methods.sort_unstable();
    methods.dedup();
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_find_their_templates_and_methods() {
        init(&serde_json::from_str(&crate::http::api_service().spec()).unwrap());
        let p = "/api/v1/studies/0190d5c4-8f3a-7b21-9c4e-5a1b2c3d4e5f/participants";
        assert_eq!(
            api_route(p),
            Some("/api/v1/studies/{study_id}/participants")
        );
        assert_eq!(allowed_methods(p), ["GET", "HEAD", "POST"]);
        assert_eq!(allowed_methods("/login"), ["GET", "HEAD", "POST"]);
        assert!(allowed_methods("/no/such/place").is_empty());
        assert_eq!(api_route("/api/v1/studies//participants"), None);
    }
}
