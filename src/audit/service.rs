//! Appending, checkpointing, exporting and verifying the chain.
//!
//! Verification is one pass over the entries, checking every checkpoint as
//! the chain reaches its size. The tree's right edge at each checkpoint is
//! kept, so later verifications resume from the newest checkpoint instead of
//! reading the whole trail again; a full verification still runs daily, from
//! `fieldkit audit verify` and from the API.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Context;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::model::{
    consistency_proof, leaf_from_hex, ChainVerifier, Checkpoint, Consistency, Entry, Frontier,
    NewEntry, Resume, VerifyReport,
};
use super::store::{self, Verification, VerificationKind};
use crate::db::{Db, Tx};

/// Appends one entry inside the caller's transaction, so the entry exists if
/// and only if the change it records does.
pub async fn append(tx: &mut Tx, now: i64, new: NewEntry) -> sqlx::Result<i64> {
    let (head_seq, head_hash) = store::lock_head(tx).await?;
    let e = new.into_entry(head_seq + 1, now, head_hash);
    store::insert(tx, &e).await?;
    Ok(e.seq)
}

/// Takes the trail's lock now, for a rule about the whole instance rather
/// than one row (whether any administrator is left, or exists yet): every
/// audited write waits for it, so the rule is decided alone.
pub async fn lock_trail(tx: &mut Tx) -> sqlx::Result<()> {
    store::lock_head(tx).await.map(|_| ())
}

const PAGE: i64 = 5000;

/// Reads the entries after `after` through a verifier, handing each to `each`.
async fn walk(
    db: &Db,
    verifier: &mut ChainVerifier,
    after: i64,
    mut each: impl FnMut(&Entry),
) -> anyhow::Result<()> {
    let mut after = after;
    loop {
        let page = store::page(&db.pool, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            verifier.push(e);
            each(e);
        }
        if verifier.problem().is_some() {
            break;
        }
    }
    Ok(())
}

/// The checkpoints a verification checks: those the database holds from
/// `from` on, and, unless only the database is read (page loads), those of
/// this instance's checkpoint file too.
async fn checkpoints_from(
    db: &Db,
    from: i64,
    audit_dir: Option<&Path>,
) -> anyhow::Result<Vec<Checkpoint>> {
    let mut found = store::checkpoints_from(&db.pool, from).await?;
    if let Some(dir) = audit_dir {
        found.extend(
            read_checkpoint_file(&checkpoint_file(dir))?
                .into_iter()
                .filter(|c| c.size >= from),
        );
    }
    Ok(merge(found))
}

/// Keeps the right edges of the checkpoints a verification reached.
async fn keep_frontiers(db: &Db, verifier: &ChainVerifier) -> anyhow::Result<()> {
    for (size, prefix) in verifier.reached() {
        store::keep_frontier(&db.pool, *size, prefix).await?;
    }
    Ok(())
}

/// A walk of the chain: the verifier, and (for signing) the last leaf of
/// the checkpoint at `old_size` and the leaves after it.
struct Walked {
    verifier: ChainVerifier,
    old_last_leaf: Option<String>,
    added: Vec<String>,
}

async fn walk_collecting(
    db: &Db,
    mut verifier: ChainVerifier,
    after: i64,
    old_size: i64,
) -> anyhow::Result<Walked> {
    let mut old_last_leaf = None;
    let mut added = Vec::new();
    walk(db, &mut verifier, after, |e| {
        if e.seq == old_size {
            old_last_leaf = Some(e.hash.clone());
        } else if e.seq > old_size {
            added.push(e.hash.clone());
        }
    })
    .await?;
    Ok(Walked {
        verifier,
        old_last_leaf,
        added,
    })
}

/// Verifies the newest part of the chain: from the newest checkpoint whose
/// right edge was kept, against it and every later checkpoint; or, when
/// there is no such edge or the walk from it finds a problem (a kept edge
/// can be edited too), from the first entry against every checkpoint. A
/// problem is reported only if the walk from the first entry finds it.
async fn verify_newest(
    db: &Db,
    key: &VerifyingKey,
    audit_dir: Option<&Path>,
) -> anyhow::Result<(Walked, Vec<Checkpoint>)> {
    if let Some((size, prefix)) = store::newest_frontier(&db.pool).await? {
        let checkpoints = checkpoints_from(db, size, audit_dir).await?;
        let old_size = checkpoints.last().map_or(0, |c| c.size);
        let resume = Resume { size, prefix };
        let verifier = ChainVerifier::resume(resume, checkpoints.clone(), *key);
        let walked = walk_collecting(db, verifier, size - 1, old_size).await?;
        if walked.verifier.problem().is_none() {
            return Ok((walked, checkpoints));
        }
    }
    let checkpoints = checkpoints_from(db, 0, audit_dir).await?;
    let old_size = checkpoints.last().map_or(0, |c| c.size);
    let verifier = ChainVerifier::new(checkpoints.clone(), *key);
    let walked = walk_collecting(db, verifier, 0, old_size).await?;
    Ok((walked, checkpoints))
}

pub fn checkpoint_file(audit_dir: &Path) -> std::path::PathBuf {
    audit_dir.join("checkpoints.jsonl")
}

/// Signs the chain as it stands, with a consistency proof from the newest
/// checkpoint, stores it in the database and appends it to the checkpoint
/// file. Before signing it proves that the entries of the newest checkpoint
/// (from the database or the file) still give its signed root, and refuses,
/// saying why, when they do not: a rewritten trail, or one cut short, is
/// never signed. When nothing was added since, the newest checkpoint stands.
/// Instances signing at once: the checkpoint is stored under the trail's
/// lock only if no other was signed meanwhile; otherwise the newer one stands.
pub async fn checkpoint_now(
    db: &Db,
    keys: &crate::keys::Keys,
    audit_dir: &Path,
    now: i64,
) -> anyhow::Result<Checkpoint> {
    let key = keys.verifying_key();
    let (walked, checkpoints) = verify_newest(db, &key, Some(audit_dir)).await?;
    let Walked {
        verifier,
        old_last_leaf,
        added,
    } = walked;
    let report = verifier.finish();
    record(db, VerificationKind::Checkpoint, now, &report).await?;
    if let Some(problem) = report.problem {
        anyhow::bail!("refusing to sign a checkpoint: {problem}");
    }
    keep_frontiers(db, &verifier).await?;
    let newest = checkpoints.last().cloned();
    let size = verifier.frontier().size();
    if let Some(unchanged) = newest.as_ref().filter(|c| c.size == size) {
        return Ok(unchanged.clone());
    }
    let mut cp = Checkpoint::sign(
        size,
        hex::encode(verifier.frontier().root()),
        now,
        keys.signing_key(),
    );
    if let Some(newest) = &newest {
        let old_edge = if newest.size == 0 {
            Frontier::default()
        } else {
            verifier
                .reached()
                .iter()
                .find(|(s, _)| *s == newest.size)
                .map(|(_, prefix)| prefix.clone())
                .zip(old_last_leaf.as_deref().and_then(leaf_from_hex))
                .map(|(mut edge, leaf)| {
                    edge.push(leaf);
                    edge
                })
                .context("the newest checkpoint's entries were not read")?
        };
        let leaves: Vec<[u8; 32]> = added.iter().filter_map(|h| leaf_from_hex(h)).collect();
        cp.consistency = Some(Consistency {
            from_size: newest.size,
            proof: consistency_proof(&old_edge, &leaves)
                .iter()
                .map(hex::encode)
                .collect(),
        });
    }
    let mut tx = db.begin().await?;
    lock_trail(&mut tx).await?;
    let signed = store::newest_checkpoint_size(tx.conn()).await?;
    if let Some(signed) = signed.filter(|s| newest.as_ref().is_none_or(|n| *s > n.size)) {
        // Another instance signed while this one walked: its checkpoint stands.
        drop(tx);
        return store::checkpoints_from(&db.pool, signed)
            .await?
            .pop()
            .context("the newest checkpoint vanished");
    }
    store::insert_checkpoint(tx.conn(), &cp).await?;
    store::keep_frontier(tx.conn(), cp.size, verifier.last_prefix()).await?;
    tx.commit().await?;
    crate::config::private_dir(audit_dir)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(checkpoint_file(audit_dir))
        .context("cannot write the checkpoint file")?;
    writeln!(file, "{}", serde_json::to_string(&cp)?)?;
    Ok(cp)
}

async fn record(
    db: &Db,
    kind: VerificationKind,
    at: i64,
    report: &VerifyReport,
) -> anyhow::Result<()> {
    let v = Verification {
        kind,
        at,
        report: report.clone(),
    };
    store::record_verification(&db.pool, &v).await?;
    Ok(())
}

/// Verifies the whole chain in the database, from the first entry, against
/// every checkpoint the database and the checkpoint file hold, so that
/// rewriting the table is caught too. The result is recorded.
pub async fn verify_database(
    db: &Db,
    key: &VerifyingKey,
    audit_dir: &Path,
    now: i64,
) -> anyhow::Result<VerifyReport> {
    let mut verifier = ChainVerifier::new(checkpoints_from(db, 0, Some(audit_dir)).await?, *key);
    walk(db, &mut verifier, 0, |_| {}).await?;
    let report = verifier.finish();
    if report.valid {
        keep_frontiers(db, &verifier).await?;
    }
    record(db, VerificationKind::Full, now, &report).await?;
    Ok(report)
}

/// Verifies from the newest signed checkpoint onwards: the entries since it,
/// and that its own last entry still gives its signed root. Cheap enough for
/// a page load: it reads the database's checkpoints from there on, not the
/// checkpoint file (signing and the daily full verification read that), and
/// is not recorded (the page shows it as "just now").
pub async fn verify_since_checkpoint(db: &Db, key: &VerifyingKey) -> anyhow::Result<VerifyReport> {
    Ok(verify_newest(db, key, None).await?.0.verifier.finish())
}

/// The newest full verification, if one ran.
pub async fn last_full_verification(db: &Db) -> anyhow::Result<Option<Verification>> {
    Ok(store::latest_verification(&db.pool, VerificationKind::Full).await?)
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

/// Each checkpoint once (by its signature), smallest first.
fn merge(mut all: Vec<Checkpoint>) -> Vec<Checkpoint> {
    let mut seen = std::collections::HashSet::new();
    all.retain(|c| seen.insert(c.signature.clone()));
    all.sort_by_key(|c| c.size);
    all
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
    for cp in checkpoints_from(db, 0, Some(audit_dir)).await? {
        writeln!(out, "{}", serde_json::to_string(&LogLine::Checkpoint(cp))?)?;
    }
    Ok(after)
}

/// Verifies an exported log with nothing but the public key.
pub fn verify_log_file(path: &Path, key: &VerifyingKey) -> anyhow::Result<VerifyReport> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut entries = Vec::new();
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
            LogLine::Entry(e) => entries.push(e),
            LogLine::Checkpoint(cp) => checkpoints.push(cp),
        }
    }
    let mut verifier = ChainVerifier::new(merge(checkpoints), *key);
    entries.iter().for_each(|e| verifier.push(e));
    Ok(verifier.finish())
}

/// Records that someone took a copy of the log.
pub async fn record_export(
    db: &Db,
    actor: &impl super::model::Author,
    size: i64,
    now: i64,
) -> crate::error::Result<()> {
    let mut tx = db.begin().await?;
    let entry = NewEntry::by(
        actor,
        None,
        super::Action::AuditExport { entries: size },
        super::model::Entity::AuditLog,
    );
    append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// Who acted in each entry, in words and in the entries' order, for pages
/// whose readers may see staff names (study administrators, ethics
/// reviewers): staff by name, a participant only as "The participant",
/// never by name. Each entry is judged by its own role.
pub async fn who_acted(
    pool: &sqlx::AnyPool,
    entries: &[Entry],
) -> crate::error::Result<Vec<String>> {
    let names: std::collections::BTreeMap<String, String> = crate::auth::store::staff_names(pool)
        .await?
        .into_iter()
        .collect();
    Ok(entries
        .iter()
        .map(|e| match (e.role.as_str(), names.get(&e.actor)) {
            ("participant", _) => "The participant".to_owned(),
            (_, Some(name)) => name.clone(),
            (_, None) if e.actor == "system" => "fieldkit itself".to_owned(),
            (_, None) if e.actor == "anonymous" => "Someone not signed in".to_owned(),
            (_, None) if e.actor.starts_with("participant:") => "The participant".to_owned(),
            (_, None) => "Someone whose name is not shown".to_owned(),
        })
        .collect())
}
