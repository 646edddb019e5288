//! The one gate for every use of a participant's data. Anything that
//! collects, keeps or exports data about a participant needs a `Permit`, and a
//! `Permit` can only come from `may`, which answers from the participant's
//! current effective consent: the latest record, minus withdrawals.

use super::forms::model::DataUse;
use super::records::service::effective;
use crate::app::App;
use crate::error::{AppError, Result};

/// Proof that, when it was issued, consent allowed this use for this participant.
#[derive(Debug)]
pub struct Permit {
    participant_id: String,
    use_: DataUse,
    record_id: String,
}

impl Permit {
    pub fn participant_id(&self) -> &str {
        &self.participant_id
    }

    pub fn data_use(&self) -> &DataUse {
        &self.use_
    }

    /// The consent record the permission rests on.
    pub fn record_id(&self) -> &str {
        &self.record_id
    }
}

/// May this participant's data be used this way? A refusal says why (409).
pub async fn may(app: &App, participant_id: &str, use_: DataUse) -> Result<Permit> {
    let consent = effective(app, participant_id)
        .await?
        .ok_or_else(|| AppError::Conflict(super::records::model::Refusal::NoConsent.to_string()))?;
    consent
        .allows(&use_)
        .map_err(|r| AppError::Conflict(r.to_string()))?;
    Ok(Permit {
        participant_id: participant_id.to_owned(),
        use_,
        record_id: consent.record_id,
    })
}
