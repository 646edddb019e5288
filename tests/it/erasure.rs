//! "Remove identifiable data" reaches everything that names the participant:
//! the identity vault and the typed-name signature sealed in each consent
//! record (which keeps its hashes, so the copy still matches); a consent
//! record cannot otherwise be changed; and on SQLite, erased values do not
//! stay readable in the freed space of the database file (secure_delete).

use serde_json::json;
use sqlx::Row;

use crate::consent::{answers, setup, take, withdraw, Setup};
use crate::support::{
    fieldkit_command, run_fieldkit, serve_command, spawn, Engine, Server, TestApp,
};

/// (signature_sealed, record_hash, pdf_sha256, signature_erased_at) of each record.
async fn records(
    t: &TestApp,
    participant: &str,
) -> Vec<(Option<String>, String, String, Option<i64>)> {
    sqlx::query(
        "SELECT signature_sealed, record_hash, pdf_sha256, signature_erased_at FROM consent_records
         WHERE participant_id = $1 ORDER BY created_at, id",
    )
    .bind(participant)
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

/// A withdrawal recorded by the researcher, which must succeed.
async fn withdrawn(t: &TestApp, s: &Setup, body: serde_json::Value) {
    let r = withdraw(t, s, body).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn erasure_reaches_the_signatures_and_keeps_the_hashes(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    for _ in 0..2 {
        assert_eq!(take(&t, &s, &answers(&s, &[], "no")).await.status(), 200);
    }
    // And one on paper, its scan in the media store.
    use base64::Engine as _;
    let paper = json!({ "form_version_id": s.form_version, "method": "paper_scanned",
                        "answers": answers(&s, &[], "no"),
                        "scan_base64": base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 a signed paper form") });
    let r = t
        .api(
            reqwest::Method::POST,
            &format!(
                "/studies/{}/participants/{}/consents",
                s.study, s.participant
            ),
            Some(&s.researcher),
        )
        .json(&paper)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let scan_key = || async {
        sqlx::query(
            "SELECT o.data_key_sealed, o.erased_at FROM media_objects o
             JOIN consent_records c ON c.scan_object_id = o.id",
        )
        .fetch_one(&t.app.db.pool)
        .await
        .map(|r| (r.get::<Option<String>, _>(0), r.get::<Option<i64>, _>(1)))
        .unwrap()
    };
    assert!(scan_key().await.0.is_some());
    let before = records(&t, &s.participant).await;
    assert_eq!(before.iter().filter(|r| r.0.is_some()).count(), 2);
    assert!(before.iter().all(|r| r.3.is_none()));

    // Withdrawing from contact only keeps the signatures.
    withdrawn(&t, &s, json!({ "no_contact": true })).await;
    assert_eq!(records(&t, &s.participant).await, before);

    withdrawn(&t, &s, json!({ "remove_identifiable": true })).await;
    let after = records(&t, &s.participant).await;
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(new.0, None, "the sealed signature is gone");
        assert_eq!((&new.1, &new.2), (&old.1, &old.2), "the hashes stay");
        assert!(new.3.is_some(), "the erasure is dated");
    }
    let details: String = sqlx::query(
        "SELECT details FROM audit_log WHERE action = 'consent.withdraw' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap()
    .get(0);
    let details: serde_json::Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["signatures_erased"], 3);
    let (key, erased_at) = scan_key().await;
    assert!(
        key.is_none() && erased_at.is_some(),
        "the scan's data key is gone"
    );
    assert_eq!(details["erasure"], "erased");

    // The database refuses to change a record any other way, or to delete it.
    for sql in [
        "UPDATE consent_records SET method = 'online'",
        "UPDATE consent_records SET record_hash = 'x'",
        "UPDATE consent_records SET signature_sealed = 'v1:forged'",
        "UPDATE consent_records SET signature_erased_at = NULL",
        "UPDATE consent_records SET signature_erased_at = 1",
        "UPDATE consent_records SET scan_object_id = NULL",
        "DELETE FROM consent_records",
    ] {
        assert!(
            sqlx::query(sql).execute(&t.app.db.pool).await.is_err(),
            "{sql} was allowed"
        );
    }
}

/// The SQLite file, after its write-ahead log is folded in and emptied.
async fn sqlite_file(t: &TestApp) -> Vec<u8> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    std::fs::read(t.storage.data_dir.join("fieldkit.db")).unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erased_values_do_not_stay_readable_in_the_sqlite_file() {
    let Some(t) = spawn(Engine::Sqlite).await else {
        return;
    };
    let s = setup(&t).await;
    assert_eq!(take(&t, &s, &answers(&s, &[], "no")).await.status(), 200);
    let sealed: Vec<String> = sqlx::query(
        "SELECT name_ct FROM identities WHERE participant_id = $1
         UNION ALL SELECT signature_sealed FROM consent_records WHERE participant_id = $1",
    )
    .bind(&s.participant)
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(sealed.len(), 2);
    let file = sqlite_file(&t).await;
    assert!(
        sealed.iter().all(|v| contains(&file, v)),
        "stored before erasure"
    );

    withdrawn(&t, &s, json!({ "remove_identifiable": true })).await;
    let file = sqlite_file(&t).await;
    for value in &sealed {
        assert!(
            !contains(&file, value),
            "an erased value is still in the file"
        );
    }
}

/// An internal error is logged whole (its cause chain), with the request id
/// the client was given, inside the request's span.
async fn an_internal_error_is_logged_with_its_cause_and_request_id(engine: Engine) {
    let dir = crate::support::TempDir::new();
    let Some(storage) = crate::support::storage(engine, &dir).await else {
        return;
    };
    let migrate = run_fieldkit(
        {
            let mut c = fieldkit_command(&["migrate"]);
            c.args(crate::support::storage_args(&storage));
            c
        },
        None,
    )
    .await;
    assert_eq!(migrate.code, Some(0), "{migrate:?}");
    let db = fieldkit::db::Db::connect(&storage.database_url())
        .await
        .unwrap();
    sqlx::query("ALTER TABLE audit_checkpoints RENAME TO audit_checkpoints_gone")
        .execute(&db.pool)
        .await
        .unwrap();
    let server = Server::start(serve_command(&storage)).await;
    let r = reqwest::get(server.url("/api/v1/audit/checkpoints"))
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    assert!(
        !body.contains("audit_checkpoints"),
        "no cause to the client: {body}"
    );
    let (_, logs) = server.stop();
    let line = logs
        .lines()
        .find(|l| l.contains("internal error"))
        .unwrap_or_else(|| panic!("no internal error logged:\n{logs}"));
    assert!(line.contains(&request_id), "{line}");
    assert!(line.contains("audit_checkpoints"), "the cause: {line}");
    assert!(line.contains("src/audit/api.rs"), "where: {line}");
}

on_both_engines!(
    erasure_reaches_the_signatures_and_keeps_the_hashes,
    an_internal_error_is_logged_with_its_cause_and_request_id,
);
