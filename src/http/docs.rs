//! The interactive API documentation (Swagger UI, bundled by poem-openapi).
//! poem-openapi inlines the bundle into one page; we serve the same bundle as
//! separate files so the docs page keeps the strict CSP with no inline script.

use poem::endpoint::make_sync;
use poem::{get, Response, Route};
use poem_openapi::{OpenApi, OpenApiService, Webhook};

pub struct Docs {
    script: String,
    style: String,
}

const PAGE: &str = r#"<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<title>fieldkit API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
<main id="ui"></main>
<script src="/api/docs/swagger-ui.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
"#;

const INIT: &str =
    "SwaggerUIBundle({ url: '/api/openapi.json', dom_id: '#ui', deepLinking: true });\n";

fn between<'a>(html: &'a str, open: &str, close: &str) -> &'a str {
    html.split_once(open)
        .and_then(|(_, rest)| rest.split_once(close))
        .map_or("", |(inner, _)| inner)
}

fn asset(content_type: &'static str, body: String) -> impl poem::Endpoint {
    make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .header("cache-control", "public, max-age=86400")
            .body(body.clone())
    })
}

impl Docs {
    pub fn new<T: OpenApi, W: Webhook>(api: &OpenApiService<T, W>) -> Docs {
        let html = api.swagger_ui_html();
        Docs {
            style: between(&html, "<style charset=\"UTF-8\">", "</style>").to_owned(),
            script: between(&html, "<script charset=\"UTF-8\">", "</script>").to_owned(),
        }
    }

    pub fn routes(self) -> Route {
        Route::new()
            .at("/", get(make_sync(|_| poem::web::Html(PAGE))))
            .at(
                "/swagger-ui.js",
                get(asset("text/javascript; charset=utf-8", self.script)),
            )
            .at(
                "/swagger-ui.css",
                get(asset("text/css; charset=utf-8", self.style)),
            )
            .at(
                "/init.js",
                get(asset("text/javascript; charset=utf-8", INIT.to_owned())),
            )
    }
}
