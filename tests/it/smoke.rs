//! The server starts on each engine and answers its health checks.

use crate::support::{spawn, Engine};

async fn health_checks_answer(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let r = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = t.http.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ready");
}

async fn an_admin_can_sign_in_and_see_a_study_through_the_pages(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let study = t.study(&admin, "smoke").await;
    let email = format!("page-admin-{}@example.ac.uk", uuid::Uuid::new_v4().simple());
    fieldkit::auth::service::create_admin_directly(
        &t.app,
        &email,
        "Page Admin",
        crate::support::PASSWORD,
    )
    .await
    .unwrap();
    let mut browser = t.pages();
    let r = browser.sign_in(&email, crate::support::PASSWORD).await;
    r.assert_status(303);
    let r = browser.get(&format!("/studies/{study}")).await;
    r.assert_status(200);
    assert!(r.text.contains("Study smoke"));
}

on_both_engines!(
    health_checks_answer,
    an_admin_can_sign_in_and_see_a_study_through_the_pages
);
