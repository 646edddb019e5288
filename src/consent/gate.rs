//! The one gate for every use of a participant's data. Anything that
//! collects, keeps or exports data about a participant needs a `Permit`, and a
//! `Permit` can only come from `may`, which answers from the participant's
//! effective consent (their current record, minus what withdrawals stopped),
//! read inside the caller's write transaction after locking the participant:
//! a withdrawal committed a moment earlier is seen, and one arriving a moment
//! later waits until the use is stored.

use super::forms::model::DataUse;
use super::kernel::model::Refusal;
use crate::db::Tx;
use crate::error::{AppError, Result};
use crate::ids::{ConsentRecordId, ParticipantId};

/// Proof that, in this transaction, consent allows this use for this participant.
#[derive(Debug)]
pub struct Permit {
    participant_id: ParticipantId,
    use_: DataUse,
    record_id: ConsentRecordId,
}

impl Permit {
    pub fn participant_id(&self) -> &ParticipantId {
        &self.participant_id
    }

    pub fn data_use(&self) -> &DataUse {
        &self.use_
    }

    /// The consent record the permission rests on.
    pub fn record_id(&self) -> &ConsentRecordId {
        &self.record_id
    }
}

/// May this participant's data be used this way? Locks the participant for
/// the rest of `tx`, so the answer holds until the use is committed. A
/// refusal says why (409).
pub async fn may(tx: &mut Tx, participant: &ParticipantId, use_: DataUse) -> Result<Permit> {
    crate::participants::store::lock(tx, participant).await?;
    let consent = super::kernel::standing(tx.conn(), participant)
        .await?
        .effective
        .ok_or_else(|| AppError::Conflict(Refusal::NoConsent.to_string()))?;
    consent
        .allows(&use_)
        .map_err(|r| AppError::Conflict(r.to_string()))?;
    Ok(Permit {
        participant_id: participant.clone(),
        use_,
        record_id: consent.record_id().clone(),
    })
}
