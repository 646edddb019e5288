//! Appending, checkpointing, exporting and verifying the chain.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Context;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::model::{ChainVerifier, Checkpoint, Entry, NewEntry, VerifyReport};
use super::store;
use crate::db::{Db, Tx};

/// Appends one entry inside the caller's transaction, so the entry exists if
/// and only if the change it records does.
pub async fn append(tx: &mut Tx, db: &Db, now: i64, new: NewEntry) -> sqlx::Result<i64> {
    let (head_seq, head_hash) = store::lock_head(tx, db.backend).await?;
    let mut e = Entry {
        seq: head_seq + 1,
        at: now,
        actor: new.actor,
        role: new.role,
        action: new.action,
        entity_type: new.entity_type,
        entity_id: new.entity_id,
        study_id: new.study_id,
        reason: new.reason,
        details: new.details.to_string(),
        prev_hash: head_hash,
        hash: String::new(),
    };
    e.hash = e.compute_hash();
    store::insert(tx, &e).await?;
    Ok(e.seq)
}

const PAGE: i64 = 5000;

/// Reads the whole chain through a verifier.
async fn walk(db: &Db) -> anyhow::Result<ChainVerifier> {
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store::page(&db.pool, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        page.iter().for_each(|e| verifier.push(e));
    }
    Ok(verifier)
}

pub fn checkpoint_file(audit_dir: &Path) -> std::path::PathBuf {
    audit_dir.join("checkpoints.jsonl")
}

/// Signs the current state of the chain, stores the checkpoint in the database
/// and appends it to the checkpoint file. A broken chain is never signed.
pub async fn checkpoint_now(
    db: &Db,
    keys: &crate::keys::Keys,
    audit_dir: &Path,
    now: i64,
) -> anyhow::Result<Checkpoint> {
    let verifier = walk(db).await?;
    if let Some(problem) = verifier.problem() {
        anyhow::bail!("refusing to sign a broken audit chain: {problem}");
    }
    let cp = Checkpoint::sign(verifier.size(), verifier.root(), now, keys.signing_key());
    store::insert_checkpoint(&db.pool, &cp).await?;
    crate::config::private_dir(audit_dir)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(checkpoint_file(audit_dir))
        .context("cannot write the checkpoint file")?;
    writeln!(file, "{}", serde_json::to_string(&cp)?)?;
    Ok(cp)
}

/// Reads checkpoints from a JSON-lines file; a missing file holds none.
pub fn read_checkpoint_file(path: &Path) -> anyhow::Result<Vec<Checkpoint>> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(Vec::new());
    };
    std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .filter(|(_, l)| l.as_ref().map(|l| !l.trim().is_empty()).unwrap_or(true))
        .map(|(i, line)| {
            serde_json::from_str(&line?)
                .with_context(|| format!("{} line {} is not a checkpoint", path.display(), i + 1))
        })
        .collect()
}

fn merge(mut a: Vec<Checkpoint>, b: Vec<Checkpoint>) -> Vec<Checkpoint> {
    for cp in b {
        if !a.contains(&cp) {
            a.push(cp);
        }
    }
    a.sort_by_key(|c| c.size);
    a
}

/// Verifies the chain in the database against every checkpoint the database and
/// the checkpoint file hold, so that rewriting the table is caught too.
pub async fn verify_database(
    db: &Db,
    key: &VerifyingKey,
    audit_dir: &Path,
) -> anyhow::Result<VerifyReport> {
    let verifier = walk(db).await?;
    let checkpoints = merge(
        store::checkpoints(&db.pool).await?,
        read_checkpoint_file(&checkpoint_file(audit_dir))?,
    );
    Ok(verifier.finish(&checkpoints, key))
}

/// One line of an exported log.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LogLine {
    Format(String),
    Entry(Entry),
    Checkpoint(Checkpoint),
}

const LOG_FORMAT: &str = "fieldkit-audit-log/v1";

/// Writes the whole chain and its checkpoints as JSON lines, for offline checking.
pub async fn export_log(db: &Db, audit_dir: &Path, out: &mut impl Write) -> anyhow::Result<i64> {
    writeln!(
        out,
        "{}",
        serde_json::to_string(&LogLine::Format(LOG_FORMAT.into()))?
    )?;
    let mut after = 0;
    loop {
        let page = store::page(&db.pool, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page {
            writeln!(out, "{}", serde_json::to_string(&LogLine::Entry(e))?)?;
        }
    }
    let checkpoints = merge(
        store::checkpoints(&db.pool).await?,
        read_checkpoint_file(&checkpoint_file(audit_dir))?,
    );
    for cp in checkpoints {
        writeln!(out, "{}", serde_json::to_string(&LogLine::Checkpoint(cp))?)?;
    }
    Ok(after)
}

/// Verifies an exported log with nothing but the public key.
pub fn verify_log_file(path: &Path, key: &VerifyingKey) -> anyhow::Result<VerifyReport> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut verifier = ChainVerifier::default();
    let mut checkpoints = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: LogLine = serde_json::from_str(&line).with_context(|| {
            format!(
                "{} line {} is not part of an audit log",
                path.display(),
                i + 1
            )
        })?;
        match parsed {
            LogLine::Format(f) if f == LOG_FORMAT => {}
            LogLine::Format(f) => {
                anyhow::bail!("{} is in format {f}, expected {LOG_FORMAT}", path.display())
            }
            LogLine::Entry(e) => verifier.push(&e),
            LogLine::Checkpoint(cp) => checkpoints.push(cp),
        }
    }
    Ok(verifier.finish(&merge(checkpoints, Vec::new()), key))
}

/// Records that someone took a copy of the log.
pub async fn record_export(
    app: &crate::app::App,
    actor: &crate::auth::model::Actor,
    size: i64,
) -> crate::error::Result<()> {
    let mut tx = app.db.begin().await?;
    let entry = NewEntry::new(
        &actor.audit_ref(),
        actor.audit_role(None),
        "audit.export",
        "audit_log",
        "audit_log",
    )
    .details(serde_json::json!({ "entries": size }));
    append(&mut tx, &app.db, app.now(), entry).await?;
    tx.commit().await?;
    Ok(())
}
