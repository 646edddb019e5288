//! Signed checkpoints that cannot be fooled: before signing, the entries of
//! the last checkpoint must still give its root (a consistency proof from it
//! to the new tree is made and checked); a trail cut short or rewritten
//! consistently by someone who dropped the triggers is refused, with the
//! reason. Verification resumes from the newest checkpoint, and the register
//! shows what was checked and when without reading the whole trail.

use fieldkit::audit::model::GENESIS_HASH;
use fieldkit::audit::{Checkpoint, Entry};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::support::{spawn, Engine, TestApp};

async fn app_with_sites(engine: Engine, sites: usize) -> Option<(TestApp, String, String)> {
    let t = spawn(engine).await?;
    let admin = t.admin().await;
    let study = t.study(&admin, "checkpoints").await;
    for n in 0..sites {
        t.site(&admin, &study, &format!("Site {n}")).await;
    }
    Some((t, admin, study))
}

async fn sign(t: &TestApp) -> anyhow::Result<Checkpoint> {
    fieldkit::audit::checkpoint_now(&t.app.db, &t.app.keys, &t.storage.audit_dir(), t.app.now())
        .await
}

async fn all_entries(t: &TestApp) -> Vec<Entry> {
    fieldkit::audit::store::page(&t.app.db.pool, 0, 100_000)
        .await
        .unwrap()
}

async fn set_head(t: &TestApp, seq: i64, hash: &str) {
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(hash)
        .execute(&t.app.db.pool)
        .await
        .unwrap();
}

async fn checkpoint_count(t: &TestApp) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM audit_checkpoints")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0)
}

async fn a_trail_cut_short_is_not_signed(engine: Engine) {
    let Some((t, admin, study)) = app_with_sites(engine, 3).await else {
        return;
    };
    let first = sign(&t).await.unwrap();
    t.site(&admin, &study, "Later site").await;
    // Cut the last entries off, including some the checkpoint covers, and
    // move the head back so that appending carries on from there.
    t.drop_audit_triggers().await;
    let keep = first.size - 2;
    sqlx::query("DELETE FROM audit_log WHERE seq > $1")
        .bind(keep)
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    let last = all_entries(&t).await.pop().unwrap();
    set_head(&t, last.seq, &last.hash).await;
    t.site(&admin, &study, "Site after the cut").await;

    let refused = sign(&t).await.unwrap_err().to_string();
    assert!(
        refused.contains("refusing to sign") && refused.contains(&first.size.to_string()),
        "{refused}"
    );
    assert_eq!(checkpoint_count(&t).await, 1, "nothing new was signed");
    let r = t
        .api(Method::POST, "/audit/checkpoints", Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("refusing to sign"),
        "{problem}"
    );
}

async fn a_consistent_rewrite_is_not_signed(engine: Engine) {
    let Some((t, admin, study)) = app_with_sites(engine, 3).await else {
        return;
    };
    sign(&t).await.unwrap();
    t.site(&admin, &study, "Later site").await;
    t.drop_audit_triggers().await;
    let mut forged = all_entries(&t).await;
    forged[2].details = json!({ "new": { "name": "Forged site" } }).to_string();
    let mut prev = GENESIS_HASH.to_owned();
    for e in forged.iter_mut() {
        e.prev_hash = prev;
        e.hash = e.compute_hash();
        prev = e.hash.clone();
    }
    for e in &forged {
        sqlx::query("UPDATE audit_log SET details = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
            .bind(&e.details)
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .bind(e.seq)
            .execute(&t.app.db.pool)
            .await
            .unwrap();
    }
    let last = forged.last().unwrap();
    set_head(&t, last.seq, &last.hash).await;
    // The database's own checkpoints are gone too: the file still has them.
    sqlx::query("DELETE FROM audit_checkpoints")
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_frontiers")
        .execute(&t.app.db.pool)
        .await
        .unwrap();

    let refused = sign(&t).await.unwrap_err().to_string();
    assert!(refused.contains("refusing to sign"), "{refused}");
    assert!(refused.contains("signed checkpoint"), "{refused}");
    assert_eq!(checkpoint_count(&t).await, 0, "the rewrite was not signed");
}

async fn each_checkpoint_proves_it_extends_the_one_before(engine: Engine) {
    let Some((t, admin, study)) = app_with_sites(engine, 2).await else {
        return;
    };
    let first = sign(&t).await.unwrap();
    assert!(
        first.consistency.is_none(),
        "the first has nothing before it"
    );
    assert_eq!(
        sign(&t).await.unwrap(),
        first,
        "nothing added: nothing new signed"
    );
    for n in 0..3 {
        t.site(&admin, &study, &format!("More {n}")).await;
    }
    let second = sign(&t).await.unwrap();
    t.site(&admin, &study, "Yet more").await;
    let third = sign(&t).await.unwrap();

    // Anyone holding the published checkpoints can check them, without the log.
    let published: Vec<Checkpoint> = t
        .api(Method::GET, "/audit/checkpoints", None)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        published,
        vec![first.clone(), second.clone(), third.clone()]
    );
    for pair in published.windows(2) {
        // Checked with the proof alone, as a reviewer holding only these would.
        let proof = pair[1].consistency.as_ref().unwrap();
        assert_eq!(proof.from_size, pair[0].size);
        assert!(proof.holds(&pair[0], &pair[1]), "{pair:?}");
    }
    // A proof does not hold between checkpoints it was not made for, nor for a changed root.
    let proof = third.consistency.as_ref().unwrap();
    assert!(!proof.holds(&first, &third));
    let mut forged = second.clone();
    forged.root = "00".repeat(32);
    assert!(!proof.holds(&forged, &third));
}

async fn verification_resumes_from_the_newest_checkpoint(engine: Engine) {
    let Some((t, admin, study)) = app_with_sites(engine, 3).await else {
        return;
    };
    sign(&t).await.unwrap();
    t.site(&admin, &study, "Later site").await;
    let size = all_entries(&t).await.len() as i64;
    let since =
        fieldkit::audit::service::verify_since_checkpoint(&t.app.db, &t.app.keys.verifying_key())
            .await
            .unwrap();
    assert!(since.valid, "{since:?}");
    assert!(since.from > 1, "resumed at the checkpoint: {since:?}");
    assert_eq!(since.entries, size);

    // An entry after the checkpoint, changed: the resumed verification sees it.
    t.drop_audit_triggers().await;
    sqlx::query("UPDATE audit_log SET details = '{}' WHERE seq = $1")
        .bind(size)
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    let since =
        fieldkit::audit::service::verify_since_checkpoint(&t.app.db, &t.app.keys.verifying_key())
            .await
            .unwrap();
    assert!(!since.valid);
    assert!(
        since.problem.unwrap().contains(&format!("entry {size}")),
        "names the entry"
    );
}

async fn the_register_shows_what_was_verified_and_when(engine: Engine) {
    let Some((t, admin, study)) = app_with_sites(engine, 1).await else {
        return;
    };
    let (id, email) = t.person(&admin, "Vera Reviewer").await;
    t.member(&admin, &study, &id, "reviewer", &[]).await;
    let mut pages = t.pages();
    pages
        .sign_in(&email, crate::support::PASSWORD)
        .await
        .assert_status(303);
    let register = format!("/studies/{study}/consent-register");
    let page = pages.get(&register).await;
    page.assert_status(200);
    assert!(page.text.contains("checked just now"), "{}", page.text);
    assert!(
        page.text.contains("has not been verified yet"),
        "{}",
        page.text
    );

    sign(&t).await.unwrap();
    let full = t.verify_chain().await;
    assert!(full.valid);
    let page = pages.get(&register).await;
    assert!(
        page.text.contains(&format!(
            "The whole trail ({} entries) was last verified",
            full.entries
        )),
        "{}",
        page.text
    );
    assert!(!page.text.contains("failed verification"));
}

async fn set_frontier(t: &TestApp, size: i64, prefix: &str) {
    sqlx::query("UPDATE audit_frontiers SET prefix = $1 WHERE size = $2")
        .bind(prefix)
        .bind(size)
        .execute(&t.app.db.pool)
        .await
        .unwrap();
}

async fn stored_frontier(t: &TestApp, size: i64) -> String {
    sqlx::query_scalar("SELECT prefix FROM audit_frontiers WHERE size = $1")
        .bind(size)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
}

/// The kept right edge is in the database too, so it can be edited: one
/// that is malformed, or well formed but wrong, neither panics, nor stops
/// checkpoints for good, nor passes for the real one; it is repaired.
async fn an_edited_right_edge_neither_stops_nor_fools_the_checkpoints(engine: Engine) {
    let Some((t, admin, study)) = app_with_sites(engine, 2).await else {
        return;
    };
    let first = sign(&t).await.unwrap();
    let real = stored_frontier(&t, first.size).await;
    set_frontier(&t, first.size, r#"{"size":7,"nodes":[]}"#).await;
    t.site(&admin, &study, "After a malformed edge").await;
    let second = sign(&t).await.unwrap();
    assert!(second.size > first.size);
    assert_eq!(stored_frontier(&t, first.size).await, real, "repaired");

    let zero = format!("\"{}\"", "00".repeat(32));
    let prefix_size = second.size - 1;
    let nodes = vec![zero; prefix_size.count_ones() as usize].join(",");
    let wrong = format!(r#"{{"size":{prefix_size},"nodes":[{nodes}]}}"#);
    let real = stored_frontier(&t, second.size).await;
    set_frontier(&t, second.size, &wrong).await;
    let since =
        fieldkit::audit::service::verify_since_checkpoint(&t.app.db, &t.app.keys.verifying_key())
            .await
            .unwrap();
    assert!(
        since.valid,
        "a wrong edge is not the trail's fault: {since:?}"
    );
    t.site(&admin, &study, "After a wrong edge").await;
    let third = sign(&t).await.unwrap();
    assert!(third.size > second.size);
    assert!(third.consistency.as_ref().unwrap().holds(&second, &third));
    assert_eq!(stored_frontier(&t, second.size).await, real, "repaired");
}

/// Instances signing at the same moment as entries arrive: each answers
/// with a checkpoint, and the stored checkpoints still form one line, each
/// proving it extends the one before.
async fn checkpoints_signed_at_once_form_one_line(engine: Engine) {
    let Some((t, admin, study)) = app_with_sites(engine, 1).await else {
        return;
    };
    sign(&t).await.unwrap();
    for round in 0..5 {
        // Entries keep arriving while both sign, so their walks can end at
        // different sizes.
        let name = format!("Round {round}");
        let (a, b, _) = tokio::join!(sign(&t), sign(&t), t.site(&admin, &study, &name));
        a.unwrap();
        b.unwrap();
    }
    let published: Vec<Checkpoint> = t.public_json("/api/v1/audit/checkpoints").await;
    assert!(published.len() >= 2, "{published:?}");
    for pair in published.windows(2) {
        let proof = pair[1].consistency.as_ref().unwrap();
        assert!(proof.holds(&pair[0], &pair[1]), "{pair:?}");
    }
}

on_both_engines!(
    a_trail_cut_short_is_not_signed,
    a_consistent_rewrite_is_not_signed,
    each_checkpoint_proves_it_extends_the_one_before,
    verification_resumes_from_the_newest_checkpoint,
    the_register_shows_what_was_verified_and_when,
    an_edited_right_edge_neither_stops_nor_fools_the_checkpoints,
    checkpoints_signed_at_once_form_one_line,
);
