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
    let record_id = answer(tx.conn(), participant, &use_)
        .await?
        .map_err(|r| AppError::Conflict(r.to_string()))?;
    Ok(Permit {
        participant_id: participant.clone(),
        use_,
        record_id,
    })
}

/// The same rule's answer without a lock and without a `Permit`, for what
/// only shows or forecasts a decision (a list judging quotes, an upload
/// refused before its bytes are read): the consent record it rests on, or
/// why not. Whatever then stores or exports must still pass `may`.
pub async fn answer(
    conn: &mut sqlx::AnyConnection,
    participant: &ParticipantId,
    use_: &DataUse,
) -> Result<std::result::Result<ConsentRecordId, Refusal>> {
    let standing = super::kernel::standing(conn, participant).await?;
    Ok(match standing.effective {
        Some(consent) => consent.allows(use_).map(|()| consent.record_id().clone()),
        None => Err(Refusal::NoConsent),
    })
}
