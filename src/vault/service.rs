//! Use cases of the vault. Storing and erasing run inside the caller's
//! transaction (enrolment, withdrawal), whose audit entry covers them; a reveal
//! checks the policy, demands a reason and is audited in its own transaction;
//! a system use (emailing the participant) is audited in the caller's;
//! a rotation re-encrypts in batches and audits counts only.

use std::collections::BTreeSet;

use super::model::Identity;
use super::store;
use crate::app::App;
use crate::audit::{self, Action, Entity, NewEntry};
use crate::auth::model::{Actor, Email, Permission};
use crate::auth::policy::require_site;
use crate::db::Tx;
use crate::error::{AppError, Result};
use crate::ids::{ParticipantId, SiteId, StudyId};
use anyhow::Context;

/// Seals and stores a participant's identity, replacing any earlier one, with
/// the blind index of its email. The participant row must exist already.
pub async fn store_identity(
    tx: &mut Tx,
    app: &App,
    participant_id: &ParticipantId,
    identity: &Identity,
) -> Result<()> {
    let sealed = app.vault.seal_identity(participant_id.as_str(), identity);
    let index = identity.email().map(|e| app.vault.email_index(e));
    store::upsert(tx, participant_id, &sealed, index.as_deref(), app.now()).await?;
    Ok(())
}

/// The study's participants with this email address (any case), found through
/// the blind index without opening anything. The caller decides who may ask.
pub async fn find_by_email(
    app: &App,
    study_id: &StudyId,
    email: &str,
) -> Result<Vec<ParticipantId>> {
    let index = app.vault.email_index(email);
    Ok(store::by_email_index(&app.db.pool, study_id, &index).await?)
}

/// Opens a participant's identity for someone allowed to see it at this site,
/// who says why. The audit entry names the fields shown, never their values.
pub async fn reveal(
    app: &App,
    actor: &Actor,
    study_id: &StudyId,
    site_id: &SiteId,
    participant_id: &ParticipantId,
    reason: &str,
) -> Result<Identity> {
    require_site(actor, Permission::RevealIdentity, study_id, site_id)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid(
            "reason",
            "Say in up to 500 characters why you need to see who this is; the reason is kept in the audit trail.",
        ));
    }
    let mut tx = app.db.begin().await?;
    let row = store::in_site(&mut tx, participant_id, study_id, site_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if row.erased_at.is_some() {
        return Err(AppError::Conflict(
            "This participant's identity was erased when they withdrew; there is nothing to show."
                .into(),
        ));
    }
    let identity = app
        .vault
        .open_identity(participant_id.as_str(), &row.sealed)
        .map_err(AppError::internal)?;
    let entry = |action| {
        NewEntry::by_in_study(
            actor,
            study_id,
            action,
            Entity::Participant(participant_id.clone()),
        )
    };
    if identity.appears_in(reason) {
        // The check opened the identity, so it is recorded too (without the
        // reason); otherwise it would answer guesses unaudited.
        audit::append(&mut tx, app.now(), entry(Action::RevealRefused)).await?;
        tx.commit().await?;
        return Err(AppError::invalid(
            "reason",
            "Give the reason without the participant's details: it is kept in the audit trail.",
        ));
    }
    let revealed = entry(Action::Reveal {
        fields: identity.fields_present(),
        site_id: site_id.clone(),
    })
    .reason(Some(reason));
    audit::append(&mut tx, app.now(), revealed).await?;
    tx.commit().await?;
    Ok(identity)
}

/// A system use of an identity: the participant's own email address, to send
/// them something they are owed (their consent invitation, copy or withdrawal
/// confirmation). No person sees it, so no reveal permission or reason is asked
/// for; the opening is audited as `identity.use` with its purpose, never the
/// value, in the caller's transaction. None when there is no (unerased) email.
pub async fn email_of(
    tx: &mut Tx,
    app: &App,
    participant: &ParticipantId,
    study: &StudyId,
    purpose: &'static str,
) -> Result<Option<Email>> {
    let Some(row) = store::of(tx, participant).await? else {
        return Ok(None);
    };
    if row.erased_at.is_some() {
        return Ok(None);
    }
    let identity = app
        .vault
        .open_identity(participant.as_str(), &row.sealed)
        .map_err(AppError::internal)?;
    let Some(email) = identity.email() else {
        return Ok(None);
    };
    let action = Action::IdentityUse {
        purpose,
        field: "email",
    };
    let entry = NewEntry::system(action, Entity::Participant(participant.clone())).study(study);
    audit::append(tx, app.now(), entry).await?;
    Ok(Some(Email::from_db(email.to_owned())))
}

/// Forgets a participant's identity (withdrawal with erasure): every sealed
/// value and the index go; the row stays with the time of erasure. False when
/// there was no identity. The caller audits.
pub async fn erase(tx: &mut Tx, app: &App, participant_id: &ParticipantId) -> Result<bool> {
    Ok(store::erase(tx, participant_id, app.now()).await? > 0)
}

/// The names of a study's participants, opened for the redaction
/// suggester of a transcript import and dropped after it: never shown,
/// never stored elsewhere. The import's own audit entry covers this use.
pub async fn names_in_study(tx: &mut Tx, app: &App, study: &StudyId) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for (participant, sealed) in store::in_study(tx, study).await? {
        let identity = app
            .vault
            .open_identity(participant.as_str(), &sealed)
            .map_err(AppError::internal)?;
        names.push(identity.name().to_owned());
    }
    Ok(names)
}

/// What a key rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationReport {
    /// Identities re-encrypted.
    pub rows: u64,
    /// Media data keys re-sealed (the files need no re-encryption).
    pub media_keys: u64,
    /// The key versions they were sealed with before.
    pub from_versions: Vec<u16>,
    pub to_version: u16,
}

const ROTATION_BATCH: i64 = 200;

/// Starts sealing with a new key and re-encrypts every stored identity with
/// it, a batch per transaction, so a long rotation never holds the database.
/// Identities written meanwhile by a server still on the old key are picked up
/// by the next batch. Old keys are never deleted: backups still need them.
pub async fn rotate(app: &App) -> anyhow::Result<RotationReport> {
    let to_version = app.vault.rotation_target()?;
    let mut rows = 0;
    let mut from = BTreeSet::new();
    loop {
        let mut tx = app.db.begin().await?;
        let batch = store::sealed_before(&mut tx, to_version, ROTATION_BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for (participant_id, old) in &batch {
            let identity = app
                .vault
                .open_identity(participant_id.as_str(), old)
                .with_context(|| format!("the identity of participant {participant_id}"))?;
            let new = app.vault.seal_identity(participant_id.as_str(), &identity);
            if store::reseal(&mut tx, participant_id, old, &new).await? {
                rows += 1;
                from.insert(old.key_version);
            }
        }
        tx.commit().await?;
    }
    let media_keys = crate::media::service::reseal_keys(app, to_version).await?;
    let report = RotationReport {
        rows,
        media_keys,
        from_versions: from.into_iter().collect(),
        to_version,
    };
    let action = Action::VaultRotateKey {
        rows: report.rows,
        from_versions: report.from_versions.clone(),
        to_version: report.to_version,
    };
    let entry = NewEntry::system(action, Entity::VaultKey(to_version));
    let mut tx = app.db.begin().await?;
    audit::append(&mut tx, app.now(), entry).await?;
    tx.commit().await?;
    Ok(report)
}
