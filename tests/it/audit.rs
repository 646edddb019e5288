//! The audit trail (DOMAIN.md A1-A4): entries come from real actions through
//! the API; the table refuses updates and deletes; an attacker who can drop the
//! triggers and edit, delete, reorder or consistently rewrite entries is caught,
//! and the verifier names the first bad entry; signed checkpoints leave the
//! database (a file and the public API); an exported log verifies offline with
//! only the public key; and no email address ever enters the trail.

use fieldkit::audit::model::{ChainVerifier, GENESIS_HASH};
use fieldkit::audit::{Checkpoint, Entry, VerifyReport};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::support::{
    fieldkit_command, run_fieldkit, spawn, storage_args, Engine, TestApp, PASSWORD,
};

/// An app with an administrator, a study and three sites made through the API.
async fn app_with_entries(engine: Engine) -> Option<(TestApp, String, String)> {
    let t = spawn(engine).await?;
    let admin = t.admin().await;
    let study = t.study(&admin, "audit-trail").await;
    for name in ["North site", "South site", "East site"] {
        t.site(&admin, &study, name).await;
    }
    Some((t, admin, study))
}

async fn entry_count(t: &TestApp) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM audit_log")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0)
}

/// The seq of the n-th (0-based) entry with this action.
async fn seq_of(t: &TestApp, action: &str, nth: i64) -> i64 {
    sqlx::query("SELECT seq FROM audit_log WHERE action = $1 ORDER BY seq LIMIT 1 OFFSET $2")
        .bind(action)
        .bind(nth)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap_or_else(|e| panic!("no {action} entry number {nth}: {e}"))
        .get(0)
}

async fn all_entries(t: &TestApp) -> Vec<Entry> {
    fieldkit::audit::store::page(&t.app.db.pool, 0, 100_000)
        .await
        .unwrap()
}

async fn verify(t: &TestApp) -> VerifyReport {
    t.verify_chain().await
}

/// The number of the first entry a verifier's problem names ("entry N ...").
fn first_entry_named(problem: &str) -> Option<i64> {
    let at = problem.find("entry ")? + "entry ".len();
    let digits: String = problem[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[track_caller]
fn assert_names_entry(report: &VerifyReport, seq: i64) {
    assert!(!report.valid, "tampering went unnoticed: {report:?}");
    let problem = report.problem.as_deref().expect("a problem is described");
    assert_eq!(
        first_entry_named(problem),
        Some(seq),
        "the problem should name entry {seq} first: {problem}"
    );
}

/// Replaces every column of the entry at `seq` but the seq itself.
async fn overwrite(t: &TestApp, seq: i64, e: &Entry) {
    let done = sqlx::query(
        "UPDATE audit_log SET at = $1, actor = $2, role = $3, action = $4, entity_type = $5, entity_id = $6,
         study_id = $7, reason = $8, details = $9, prev_hash = $10, hash = $11 WHERE seq = $12",
    )
    .bind(e.at)
    .bind(&e.actor)
    .bind(&e.role)
    .bind(&e.action)
    .bind(&e.entity_type)
    .bind(&e.entity_id)
    .bind(&e.study_id)
    .bind(&e.reason)
    .bind(&e.details)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .bind(seq)
    .execute(&t.app.db.pool)
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

/// The same text with one ASCII letter or digit (the last one) changed.
fn one_byte_changed(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let at = bytes
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .expect("something to change");
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    String::from_utf8(bytes).unwrap()
}

async fn an_untouched_chain_verifies_with_its_entry_count(engine: Engine) {
    let Some((t, _, study)) = app_with_entries(engine).await else {
        return;
    };
    let entries = all_entries(&t).await;
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=entries.len() as i64).collect::<Vec<_>>());
    let sites = entries
        .iter()
        .filter(|e| e.action == "site.create" && e.study_id.as_deref() == Some(study.as_str()))
        .count();
    assert_eq!(sites, 3, "one entry per site added");
    assert!(entries.iter().any(|e| e.action == "study.create"));
    assert!(entries.iter().any(|e| e.action == "auth.login"));

    let report = verify(&t).await;
    assert!(report.valid, "{report:?}");
    assert_eq!(report.problem, None);
    assert_eq!(report.entries, entry_count(&t).await);
    assert_eq!(report.entries, entries.len() as i64);
}

/// A2: the table itself refuses changes, whoever asks.
async fn the_database_refuses_to_update_or_delete_an_entry(engine: Engine) {
    let Some((t, _, _)) = app_with_entries(engine).await else {
        return;
    };
    let before = all_entries(&t).await;
    let update = sqlx::query("UPDATE audit_log SET details = '{}' WHERE seq = 2")
        .execute(&t.app.db.pool)
        .await;
    let err = update.expect_err("an UPDATE of audit_log must be refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    let delete = sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(&t.app.db.pool)
        .await;
    let err = delete.expect_err("a DELETE from audit_log must be refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(all_entries(&t).await, before, "nothing changed");
    assert!(verify(&t).await.valid);
}

async fn a_changed_byte_in_the_details_is_named(engine: Engine) {
    let Some((t, _, _)) = app_with_entries(engine).await else {
        return;
    };
    let seq = seq_of(&t, "site.create", 1).await;
    assert!(
        seq < entry_count(&t).await,
        "entries follow the one changed"
    );
    t.drop_audit_triggers().await;
    let mut e = all_entries(&t).await.remove(seq as usize - 1);
    assert!(e.details.contains("South site"), "{}", e.details);
    e.details = one_byte_changed(&e.details);
    overwrite(&t, seq, &e).await;
    assert_names_entry(&verify(&t).await, seq);
}

async fn a_changed_byte_in_the_entity_id_is_named(engine: Engine) {
    let Some((t, _, _)) = app_with_entries(engine).await else {
        return;
    };
    let seq = seq_of(&t, "site.create", 0).await;
    t.drop_audit_triggers().await;
    let mut e = all_entries(&t).await.remove(seq as usize - 1);
    e.entity_id = one_byte_changed(&e.entity_id);
    overwrite(&t, seq, &e).await;
    assert_names_entry(&verify(&t).await, seq);
}

async fn a_deleted_entry_is_named(engine: Engine) {
    let Some((t, _, _)) = app_with_entries(engine).await else {
        return;
    };
    let seq = seq_of(&t, "site.create", 1).await;
    t.drop_audit_triggers().await;
    let done = sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(seq)
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
    let report = verify(&t).await;
    assert_names_entry(&report, seq);
    assert!(report.problem.unwrap().contains("missing"));
}

async fn two_swapped_entries_are_named_at_the_first(engine: Engine) {
    let Some((t, _, _)) = app_with_entries(engine).await else {
        return;
    };
    let first = seq_of(&t, "site.create", 0).await;
    let second = seq_of(&t, "site.create", 1).await;
    assert_eq!(second, first + 1, "consecutive entries");
    t.drop_audit_triggers().await;
    let entries = all_entries(&t).await;
    let (a, b) = (
        entries[first as usize - 1].clone(),
        entries[second as usize - 1].clone(),
    );
    overwrite(&t, first, &b).await;
    overwrite(&t, second, &a).await;
    assert_names_entry(&verify(&t).await, first);
}

/// A3: an attacker who rewrites the whole table consistently (every hash and
/// link recomputed, the head moved) is caught by a checkpoint signed before,
/// even after deleting the checkpoints the database holds: the file has them.
async fn a_consistent_rewrite_is_caught_by_a_signed_checkpoint(engine: Engine) {
    let Some((t, _, _)) = app_with_entries(engine).await else {
        return;
    };
    let size = entry_count(&t).await;
    let cp = fieldkit::audit::checkpoint_now(
        &t.app.db,
        &t.app.keys,
        &t.storage.audit_dir(),
        t.app.now(),
    )
    .await
    .unwrap();
    assert_eq!(cp.size, size);
    let file = t.storage.audit_dir().join("checkpoints.jsonl");
    let lines: Vec<Checkpoint> = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", file.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, vec![cp.clone()], "the checkpoint left the database");
    let report = verify(&t).await;
    assert!(report.valid, "{report:?}");
    assert!(report.checkpoints_checked >= 1, "{report:?}");

    t.drop_audit_triggers().await;
    let mut forged = all_entries(&t).await;
    let target = seq_of(&t, "site.create", 1).await;
    forged[target as usize - 1].details = json!({ "new": { "name": "Forged site" } }).to_string();
    let mut prev = GENESIS_HASH.to_owned();
    for e in forged.iter_mut() {
        e.prev_hash = prev;
        e.hash = e.compute_hash();
        prev = e.hash.clone();
    }
    for e in &forged {
        overwrite(&t, e.seq, e).await;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&prev)
        .execute(&t.app.db.pool)
        .await
        .unwrap();

    // The forgery is internally consistent: only a checkpoint can tell.
    let mut chain_only = ChainVerifier::new(Vec::new(), t.app.keys.verifying_key());
    all_entries(&t)
        .await
        .iter()
        .for_each(|e| chain_only.push(e));
    let without_checkpoints = chain_only.finish();
    assert!(without_checkpoints.valid, "{without_checkpoints:?}");

    let report = verify(&t).await;
    assert!(!report.valid, "a rewrite went unnoticed: {report:?}");
    assert!(
        report.problem.as_deref().unwrap().contains("checkpoint"),
        "{report:?}"
    );

    sqlx::query("DELETE FROM audit_checkpoints")
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    let report = verify(&t).await;
    assert!(
        !report.valid,
        "the checkpoint file should still catch the rewrite: {report:?}"
    );
    assert!(report.problem.unwrap().contains("checkpoint"));
}

/// Anyone may fetch the checkpoints and the key (no sign-in) and check them.
async fn checkpoints_and_the_public_key_are_public_and_the_signature_verifies(engine: Engine) {
    let Some((t, _, _)) = app_with_entries(engine).await else {
        return;
    };
    let cp = fieldkit::audit::checkpoint_now(
        &t.app.db,
        &t.app.keys,
        &t.storage.audit_dir(),
        t.app.now(),
    )
    .await
    .unwrap();

    let r = t
        .api(Method::GET, "/audit/public-key", None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let key_hex = body["public_key"].as_str().unwrap();
    let key = fieldkit::keys::parse_public_key(key_hex).unwrap();
    assert_eq!(key, t.app.keys.verifying_key());
    let on_disk = std::fs::read_to_string(t.storage.keys_dir().join("audit-signing.pub")).unwrap();
    assert_eq!(on_disk.trim(), key_hex, "the file and the API agree");
    assert_eq!(body["key_id"], json!(fieldkit::keys::key_id(&key)));

    let r = t
        .api(Method::GET, "/audit/checkpoints", None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let served: Vec<Checkpoint> = r.json().await.unwrap();
    assert_eq!(served, vec![cp.clone()]);
    assert!(served[0].signature_valid(&key));
    assert_eq!(served[0].key_id, fieldkit::keys::key_id(&key));

    // The root is the RFC 6962 Merkle root over the entries' hashes.
    let leaves: Vec<[u8; 32]> = all_entries(&t)
        .await
        .iter()
        .take(cp.size as usize)
        .map(|e| hex::decode(&e.hash).unwrap().try_into().unwrap())
        .collect();
    assert_eq!(
        served[0].root,
        hex::encode(fieldkit::audit::model::merkle_root(&leaves))
    );

    // The signature covers size, root and time: changing any one breaks it.
    let mut bigger = served[0].clone();
    bigger.size += 1;
    assert!(!bigger.signature_valid(&key));
    let mut other_root = served[0].clone();
    other_root.root = one_byte_changed(&other_root.root);
    assert!(!other_root.signature_valid(&key));
}

/// `fieldkit audit export` and `fieldkit audit verify --log`: a reviewer checks
/// a copy with nothing but the public key.
async fn an_exported_log_verifies_offline_and_names_an_edited_entry(engine: Engine) {
    let Some((t, _, _)) = app_with_entries(engine).await else {
        return;
    };
    fieldkit::audit::checkpoint_now(&t.app.db, &t.app.keys, &t.storage.audit_dir(), t.app.now())
        .await
        .unwrap();
    let size = entry_count(&t).await;
    let log = t.dir.0.join("exported.jsonl");
    let log_arg = log.display().to_string();
    let key_arg = t
        .storage
        .keys_dir()
        .join("audit-signing.pub")
        .display()
        .to_string();

    let mut export = fieldkit_command(&["audit", "export", "--out", &log_arg]);
    export.args(storage_args(&t.storage));
    let run = run_fieldkit(export, None).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(log.exists());
    let actions: Vec<String> = all_entries(&t)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions.last().map(String::as_str),
        Some("audit.export"),
        "taking a copy is itself audited"
    );

    let verify_log = |path: &str| {
        let cmd = fieldkit_command(&["audit", "verify", "--log", path, "--public-key", &key_arg]);
        run_fieldkit(cmd, None)
    };
    let run = verify_log(&log_arg).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("intact"), "{run:?}");
    assert!(run.stdout.contains(&format!("{size} entries")), "{run:?}");

    // Edit one entry line of the copy.
    let text = std::fs::read_to_string(&log).unwrap();
    let target = seq_of(&t, "site.create", 1).await;
    let mut edited_lines = 0;
    let edited: Vec<String> = text
        .lines()
        .map(|line| {
            let mut v: Value = serde_json::from_str(line).unwrap();
            if v["entry"]["seq"] == json!(target) {
                let id = v["entry"]["entity_id"].as_str().unwrap();
                v["entry"]["entity_id"] = json!(one_byte_changed(id));
                edited_lines += 1;
                v.to_string()
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert_eq!(edited_lines, 1);
    let edited_path = t.dir.0.join("edited.jsonl");
    std::fs::write(&edited_path, edited.join("\n") + "\n").unwrap();
    let run = verify_log(&edited_path.display().to_string()).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    let said = run.stdout.trim();
    assert_eq!(
        first_entry_named(said),
        Some(target),
        "should name entry {target}: {said}"
    );

    // Leaving off the last entries of the copy is caught by the checkpoint.
    let lines: Vec<&str> = text.lines().collect();
    let last_entry = lines
        .iter()
        .rposition(|l| l.starts_with("{\"entry\""))
        .unwrap();
    let shortened: Vec<&str> = lines
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != last_entry)
        .map(|(_, l)| l)
        .collect();
    let short_path = t.dir.0.join("shortened.jsonl");
    std::fs::write(&short_path, shortened.join("\n") + "\n").unwrap();
    let run = verify_log(&short_path.display().to_string()).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.contains("checkpoint"), "{run:?}");

    // And the database itself, through the command line.
    let mut db_verify = fieldkit_command(&["audit", "verify"]);
    db_verify.args(storage_args(&t.storage));
    let run = run_fieldkit(db_verify, None).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("intact"), "{run:?}");
}

async fn verifying_through_the_api_needs_an_audit_role(engine: Engine) {
    let Some((t, admin, _)) = app_with_entries(engine).await else {
        return;
    };
    let (_, plain_email) = t.person(&admin, "Plain Person").await;
    let plain = t.sign_in(&plain_email, PASSWORD).await;

    let r = t
        .api(Method::GET, "/audit/verify", Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["valid"], json!(true), "{report}");
    assert_eq!(report["entries"], json!(entry_count(&t).await), "{report}");

    let r = t
        .api(Method::GET, "/audit/verify", Some(&plain))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "an account with no role may not");
    let r = t
        .api(Method::GET, "/audit/verify", None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

async fn the_log_download_is_an_attachment_that_verifies_offline_and_is_audited(engine: Engine) {
    let Some((t, admin, _)) = app_with_entries(engine).await else {
        return;
    };
    let (plain_id, plain_email) = t.person(&admin, "Plain Person").await;
    let plain = t.sign_in(&plain_email, PASSWORD).await;
    let r = t
        .api(Method::GET, "/audit/log", Some(&plain))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let before = entry_count(&t).await;
    let r = t
        .api(Method::GET, "/audit/log", Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let disposition = r
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(disposition.starts_with("attachment"), "{disposition:?}");
    let body = r.bytes().await.unwrap();
    let file = t.dir.0.join("downloaded.jsonl");
    std::fs::write(&file, &body).unwrap();
    let report = fieldkit::audit::verify_log_file(&file, &t.app.keys.verifying_key()).unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(report.entries, before);

    let entries = all_entries(&t).await;
    assert_eq!(entries.len() as i64, before + 1);
    let last = entries.last().unwrap();
    assert_eq!(last.action, "audit.export");
    assert!(last.actor.starts_with("account:"), "{last:?}");
    assert_ne!(last.actor, format!("account:{plain_id}"));
    assert!(verify(&t).await.valid);
}

/// A4: people are recorded by reference, never by email address, including
/// invitations and sign-ins that fail for known and unknown addresses.
async fn no_email_address_enters_the_audit_trail(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let admin_email = format!("ada.admin-{unique}@example.ac.uk");
    fieldkit::auth::service::create_admin_directly(&t.app, &admin_email, "Ada Admin", PASSWORD)
        .await
        .unwrap();
    let admin = t.sign_in(&admin_email, PASSWORD).await;
    let (_, person_email) = t.person(&admin, "Pat Person").await;
    let invited_email = format!("invited-{unique}@example.org");
    let r = t
        .api(Method::POST, "/accounts", Some(&admin))
        .json(&json!({ "email": invited_email, "display_name": "Ivy Invited" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let stranger_email = format!("stranger-{unique}@example.net");
    for email in [
        admin_email.clone(),
        person_email.clone(),
        invited_email.clone(),
        stranger_email.clone(),
        stranger_email.to_uppercase(),
    ] {
        let r = t
            .api(Method::POST, "/sessions", None)
            .json(&json!({ "email": email, "password": "not the right password at all" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{email}");
    }
    let r = t
        .api(Method::POST, "/password-resets", None)
        .json(&json!({ "email": person_email }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    let rows = sqlx::query(
        "SELECT actor, role, action, entity_type, entity_id, COALESCE(study_id, ''), COALESCE(reason, ''),
                details, prev_hash, hash FROM audit_log ORDER BY seq",
    )
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap();
    let failures = rows
        .iter()
        .filter(|r| r.get::<String, _>(2) == "auth.login_failed")
        .count();
    assert_eq!(failures, 5, "every failed sign-in is recorded");
    for row in &rows {
        for column in 0..10 {
            let value = row.get::<String, _>(column).to_lowercase();
            for email in [&admin_email, &person_email, &invited_email, &stranger_email] {
                let local = email.split('@').next().unwrap().to_lowercase();
                assert!(
                    !value.contains(&local),
                    "an email address reached the audit trail: {value}"
                );
            }
            assert!(!value.contains("@example."), "{value}");
        }
    }
}

on_both_engines!(
    an_untouched_chain_verifies_with_its_entry_count,
    the_database_refuses_to_update_or_delete_an_entry,
    a_changed_byte_in_the_details_is_named,
    a_changed_byte_in_the_entity_id_is_named,
    a_deleted_entry_is_named,
    two_swapped_entries_are_named_at_the_first,
    a_consistent_rewrite_is_caught_by_a_signed_checkpoint,
    checkpoints_and_the_public_key_are_public_and_the_signature_verifies,
    an_exported_log_verifies_offline_and_names_an_edited_entry,
    verifying_through_the_api_needs_an_audit_role,
    the_log_download_is_an_attachment_that_verifies_offline_and_is_audited,
    no_email_address_enters_the_audit_trail,
);
