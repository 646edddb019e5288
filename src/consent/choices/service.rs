//! Use cases for re-consent and for participants acting on their own records.
//! Researchers see only participants at their sites; a participant sees only
//! the participant row linked to their own account, and nothing else.

use std::collections::BTreeSet;

use crate::app::App;
use crate::auth::model::{Actor, Permission};
use crate::consent::forms::model::ConsentFormVersion;
use crate::consent::records::model::WithdrawalScope;
use crate::consent::records::store::{self, RecordSummary};
use crate::error::{AppError, Result};
use crate::ids::StudyId;
use crate::participants::model::{Participant, ParticipantStatus};

/// The signed-in participant's own row in the study: "not found" when the
/// account has no participant row there.
pub async fn own_participant(app: &App, actor: &Actor, study: &StudyId) -> Result<Participant> {
    crate::studies::service::require(actor, Permission::ManageOwnParticipation, study)?;
    crate::participants::store::of_account(&app.db.pool, study, &actor.account_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// A participant whose latest record is on an older version of a form.
pub struct Due {
    pub participant: Participant,
    pub form_id: String,
    pub form_title: String,
    pub agreed_version: i32,
    pub current_version: i32,
}

/// Everyone at the actor's sites due for re-consent (C5), except those who
/// withdrew from contact or from the study.
pub async fn reconsent_due(app: &App, actor: &Actor, study: &StudyId) -> Result<Vec<Due>> {
    crate::studies::service::require(actor, Permission::TakeConsent, study)?;
    let forms = crate::consent::forms::service::list_for_study(app, study).await?;
    let mut due = Vec::new();
    for p in crate::participants::service::list(app, actor, study).await? {
        if p.status == ParticipantStatus::Withdrawn {
            continue;
        }
        let Some((_, version_id)) = store::latest_record(&app.db.pool, &p.id).await? else {
            continue;
        };
        let Some(theirs) = forms.iter().find(|f| f.id == version_id) else {
            continue;
        };
        let current = forms
            .iter()
            .filter(|f| f.form.form_id == theirs.form.form_id)
            .map(|f| f.form.version)
            .max()
            .unwrap_or(theirs.form.version);
        if current <= theirs.form.version || store::withdrawn(&app.db.pool, &p.id).await?.no_contact
        {
            continue;
        }
        due.push(Due {
            form_id: theirs.form.form_id.clone(),
            form_title: theirs.form.title.clone(),
            agreed_version: theirs.form.version,
            current_version: current,
            participant: p,
        });
    }
    Ok(due)
}

/// A re-consent link made for one participant.
pub struct Invited {
    pub participant_id: String,
    pub study_code: String,
    pub link: String,
    /// Whether it was emailed (the participant has an email address).
    pub emailed: bool,
}

/// Invites those due (all of them, or the chosen ones) to re-consent on the
/// current version of their form, each through the ordinary invitation.
pub async fn invite_due(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    chosen: Option<&[String]>,
) -> Result<Vec<Invited>> {
    let due = reconsent_due(app, actor, study).await?;
    if let Some(ids) = chosen {
        if ids.is_empty() {
            return Err(AppError::invalid(
                "participant_ids",
                "Choose at least one participant to invite.",
            ));
        }
        if let Some(id) = ids
            .iter()
            .find(|id| !due.iter().any(|d| &d.participant.id == *id))
        {
            return Err(AppError::invalid(
                "participant_ids",
                format!("Participant {id} is not due for re-consent."),
            ));
        }
    }
    let mut invited = Vec::new();
    for d in due
        .iter()
        .filter(|d| chosen.is_none_or(|ids| ids.contains(&d.participant.id)))
    {
        let sent = crate::consent::records::service::invite(
            app,
            actor,
            study,
            &d.participant.id,
            &d.form_id,
        )
        .await?;
        invited.push(Invited {
            participant_id: d.participant.id.clone(),
            study_code: d.participant.study_code.clone(),
            link: sent.link,
            emailed: sent.emailed,
        });
    }
    Ok(invited)
}

/// A participant's own part in a study, as they see it.
pub struct Own {
    pub participant: Participant,
    pub study_title: String,
    pub records: Vec<RecordSummary>,
    /// The uses agreed in the latest record (before withdrawals).
    pub agreed: BTreeSet<String>,
    pub withdrawn: WithdrawalScope,
    /// The form version of the latest record, if it is still the current one:
    /// the form on which they can change their optional choices.
    pub choices_form: Option<ConsentFormVersion>,
}

pub async fn own(app: &App, actor: &Actor, study: &StudyId) -> Result<Own> {
    let participant = own_participant(app, actor, study).await?;
    let study_title = crate::studies::store::get_study(&app.db.pool, study)
        .await?
        .title;
    let records = store::records_of(&app.db.pool, &participant.id).await?;
    let effective = crate::consent::records::service::effective(app, &participant.id).await?;
    let withdrawn = store::withdrawn(&app.db.pool, &participant.id).await?;
    let choices_form = match store::latest_record(&app.db.pool, &participant.id).await? {
        Some((_, version_id)) if !withdrawn.no_collection => {
            let form = crate::consent::forms::service::get_version(app, &version_id).await?;
            crate::consent::forms::service::current_version(app, study, &form.form.form_id)
                .await?
                .filter(|current| current.id == form.id)
        }
        _ => None,
    };
    Ok(Own {
        participant,
        study_title,
        records,
        agreed: effective.map(|e| e.agreed).unwrap_or_default(),
        withdrawn,
        choices_form,
    })
}

/// The PDF copy of one of the participant's own records; anyone else's is "not found".
pub async fn own_pdf(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    record_id: &str,
) -> Result<Vec<u8>> {
    let p = own_participant(app, actor, study).await?;
    let (pdf, owner) = store::pdf(&app.db.pool, study.as_str(), record_id).await?;
    if owner != p.id {
        return Err(AppError::NotFound);
    }
    Ok(pdf)
}
