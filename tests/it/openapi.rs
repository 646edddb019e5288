//! The OpenAPI document is part of the contract with scripts and other tools:
//! any change to it must be deliberate. Regenerate the snapshot with
//! `FIELDKIT_UPDATE_SNAPSHOTS=1 cargo test --test it openapi` and review the diff.

use crate::support::{spawn, Engine};

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/openapi.json");

#[tokio::test]
async fn the_openapi_document_matches_its_snapshot() {
    let Some(t) = spawn(Engine::Sqlite).await else {
        return;
    };
    let served: serde_json::Value = t.public_json("/api/openapi.json").await;
    let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var("FIELDKIT_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::write(SNAPSHOT, &pretty).unwrap();
    }
    let stored = std::fs::read_to_string(SNAPSHOT)
        .expect("tests/snapshots/openapi.json is missing; see this file's header");
    assert!(stored == pretty, "the OpenAPI document changed; if that is intended, regenerate the snapshot (see tests/it/openapi.rs)");
    assert_eq!(served["info"]["title"], "fieldkit");
    assert!(served["components"]["securitySchemes"]["BearerAuth"].is_object());
}

#[tokio::test]
async fn the_api_docs_page_loads_its_scripts_from_files() {
    let Some(t) = spawn(Engine::Sqlite).await else {
        return;
    };
    let page = t.http.get(t.url("/api/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>") && html.contains("src=\"/api/docs/swagger-ui.js\""));
    let js = t
        .http
        .get(t.url("/api/docs/swagger-ui.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(js.len() > 100_000 && js.contains("SwaggerUIBundle"));
}
