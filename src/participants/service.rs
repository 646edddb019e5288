//! Use cases for participants. Each checks the policy at the participant's
//! site, runs in one transaction and audits by study code, never by identity.

use serde_json::json;

use super::model::{study_code, Participant, StakeholderGroup};
use super::store;
use crate::app::App;
use crate::audit::{self, NewEntry};
use crate::auth::model::{Actor, Permission};
use crate::auth::policy::{permits, Scope};
use crate::error::{AppError, Result};
use crate::ids::{AccountId, SiteId, StudyId};
use crate::vault::model::{Identity, IdentityInput};

/// Decides access at a participant's site: "not found" outside the study,
/// "forbidden" to members without the permission there.
fn require_at_site(actor: &Actor, perm: Permission, study: &StudyId, site: &SiteId) -> Result<()> {
    crate::studies::service::require(actor, perm, study)?;
    if permits(actor, perm, Scope::Site(study, site)) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "You work on other sites of this study.".into(),
        ))
    }
}

/// What a researcher records when enrolling someone.
pub struct Enrolment<'a> {
    pub site_id: &'a SiteId,
    pub group: StakeholderGroup,
    pub identity: IdentityInput<'a>,
    pub account_id: Option<AccountId>,
}

/// Enrols a participant: a new study code, their identity sealed in the vault,
/// one audit entry naming the code only.
pub async fn enrol(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    e: Enrolment<'_>,
) -> Result<Participant> {
    require_at_site(actor, Permission::EnrolParticipants, study, e.site_id)?;
    if !crate::studies::store::site_in_study(&app.db.pool, e.site_id, study).await? {
        return Err(AppError::invalid("site_id", "Choose a site of this study."));
    }
    let identity: Identity = e.identity.parse()?;
    if let Some(account) = &e.account_id {
        if !crate::studies::store::account_exists(&app.db.pool, account).await? {
            return Err(AppError::invalid(
                "account_id",
                "Choose an existing account, or none.",
            ));
        }
    }
    let prefix = store::code_prefix(&app.db.pool, study).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let code = study_code(&prefix, store::next_number(&mut tx, study).await?);
    let new = store::NewParticipant {
        id: &id,
        study,
        code: &code,
        site: e.site_id,
        group: e.group,
        account: e.account_id.as_ref(),
    };
    store::insert(&mut tx, &new, now).await?;
    crate::vault::service::store_identity(&mut tx, app, &id, &identity).await?;
    let details = json!({
        "new": { "study_code": code, "site_id": e.site_id, "stakeholder_group": e.group, "has_account": e.account_id.is_some() },
        "identity_fields": identity.fields_present(),
    });
    let entry = NewEntry::by_in_study(actor, study, "participant.enrol", "participant", &id)
        .details(details);
    audit::append(&mut tx, &app.db, now, entry).await?;
    tx.commit().await?;
    Ok(store::get(&app.db.pool, study, &id).await?)
}

/// The participants at the sites the actor works on.
pub async fn list(app: &App, actor: &Actor, study: &StudyId) -> Result<Vec<Participant>> {
    crate::studies::service::require(actor, Permission::EnrolParticipants, study)?;
    Ok(store::list(&app.db.pool, study)
        .await?
        .into_iter()
        .filter(|p| {
            SiteId::parse(&p.site_id).is_some_and(|site| {
                permits(
                    actor,
                    Permission::EnrolParticipants,
                    Scope::Site(study, &site),
                )
            })
        })
        .collect())
}

/// One participant, if the actor works at their site.
pub async fn get(app: &App, actor: &Actor, study: &StudyId, id: &str) -> Result<Participant> {
    crate::studies::service::require(actor, Permission::EnrolParticipants, study)?;
    let p = store::get(&app.db.pool, study, id).await?;
    let site = SiteId::from_db(p.site_id.clone());
    require_at_site(actor, Permission::EnrolParticipants, study, &site)
        .map_err(|_| AppError::NotFound)?;
    Ok(p)
}

/// Shows who a participant is, to a researcher at their site who gives a reason.
pub async fn reveal_identity(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &str,
    reason: &str,
) -> Result<Identity> {
    let p = get(app, actor, study, id).await?;
    crate::vault::service::reveal(app, actor, study, &SiteId::from_db(p.site_id), id, reason).await
}
