//! Use cases for participants. Each checks the policy at the participant's
//! site, runs in one transaction and audits by study code, never by identity.

use super::model::{Participant, ParticipantFilter, StakeholderGroup, StudyCode};
use super::store;
use crate::app::App;
use crate::audit::action::Enrolled;
use crate::audit::{self, Action, Entity, NewEntry};
use crate::auth::model::{Actor, Permission};
use crate::auth::policy::{require_site, require_study, site_scope};
use crate::db::list::{Page, PageRequest};
use crate::db::Tx;
use crate::error::{AppError, FieldProblem, Result};
use crate::ids::{AccountId, ParticipantId, SiteId, StudyId};
use crate::vault::model::{Identity, IdentityInput};

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
    require_site(actor, Permission::EnrolParticipants, study, e.site_id)?;
    let mut tx = app.db.begin().await?;
    let enrolled = enrol_in(&mut tx, app, actor, study, &e).await?;
    tx.commit().await?;
    Ok(enrolled)
}

/// The enrolment itself, inside the caller's transaction, for a caller that
/// has checked access (`enrol`, and the synthetic-study generator, which
/// enrols hundreds a transaction). The study is locked first; the site, the
/// account and the code's prefix are read after it.
pub async fn enrol_in(
    tx: &mut Tx,
    app: &App,
    actor: &Actor,
    study: &StudyId,
    e: &Enrolment<'_>,
) -> Result<Participant> {
    let identity: Identity = e.identity.parse()?;
    let id = ParticipantId::new();
    let now = app.now();
    // The study is locked: its prefix cannot change between this read and
    // the insert (a study update waits, or went first).
    let prefix = crate::studies::store::lock_study(tx, study)
        .await?
        .code_prefix;
    if !crate::studies::store::site_in_study(tx.conn(), e.site_id, study).await? {
        return Err(AppError::invalid("site_id", "Choose a site of this study."));
    }
    if let Some(account) = &e.account_id {
        if !crate::studies::store::account_exists(tx.conn(), account).await? {
            return Err(AppError::invalid(
                "account_id",
                "Choose an existing account, or none.",
            ));
        }
    }
    let code = StudyCode::new(&prefix, store::next_number(tx, study).await?);
    let new = store::NewParticipant {
        id: &id,
        study,
        code: &code,
        site: e.site_id,
        group: e.group,
        account: e.account_id.as_ref(),
    };
    store::insert(tx, &new, now)
        .await
        .map_err(|err| match &err {
            sqlx::Error::Database(d) if d.is_unique_violation() => AppError::invalid(
                "account_id",
                "That account is already linked to a participant of this study.",
            ),
            _ => err.into(),
        })?;
    crate::vault::service::store_identity(tx, app, &id, &identity).await?;
    let action = Action::Enrol {
        new: Enrolled {
            study_code: code,
            site_id: e.site_id.clone(),
            stakeholder_group: e.group.as_str(),
            has_account: e.account_id.is_some(),
        },
        identity_fields: identity.fields_present(),
    };
    let entry = NewEntry::by_in_study(actor, study, action, Entity::Participant(id.clone()));
    audit::append(tx, now, entry).await?;
    Ok(store::get(tx.conn(), study, &id).await?)
}

/// Enrolment from the page's form, whose site and group arrive as text:
/// access is checked before they are.
pub async fn enrol_from_form(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    site: &str,
    group: &str,
    identity: IdentityInput<'_>,
) -> Result<Participant> {
    require_study(actor, Permission::EnrolParticipants, study)?;
    // Every field checked in one pass, so the page names every problem at once.
    let site = SiteId::parse(site);
    let group = StakeholderGroup::parse(group);
    let mut problems = Vec::new();
    if site.is_none() {
        problems.push(FieldProblem {
            field: "site_id".into(),
            detail: "Choose a site of this study.".into(),
        });
    }
    if group.is_none() {
        problems.push(FieldProblem {
            field: "stakeholder_group".into(),
            detail: "Choose how they take part.".into(),
        });
    }
    if let Err(AppError::Invalid(found)) = identity.parse() {
        problems.extend(found);
    }
    let (Some(site), Some(group), true) = (site, group, problems.is_empty()) else {
        return Err(AppError::Invalid(problems));
    };
    let enrolment = Enrolment {
        site_id: &site,
        group,
        identity,
        account_id: None,
    };
    enrol(app, actor, study, enrolment).await
}

/// A page of the participants at the sites the actor works on, filtered in SQL.
pub async fn list(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    filter: &ParticipantFilter,
    page: &PageRequest<ParticipantId>,
) -> Result<Page<Participant, ParticipantId>> {
    require_study(actor, Permission::EnrolParticipants, study)?;
    let sites = site_scope(actor, Permission::EnrolParticipants, study);
    Ok(store::list(&app.db.pool, study, &sites, filter, page).await?)
}

/// One participant, if the actor works at their site; anyone else, and
/// researchers of other sites, find nothing.
pub async fn get(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &ParticipantId,
) -> Result<Participant> {
    require_study(actor, Permission::EnrolParticipants, study)?;
    let p = store::get(&app.db.pool, study, id).await?;
    require_site(actor, Permission::EnrolParticipants, study, &p.site_id)
        .map_err(|_| AppError::NotFound)?;
    Ok(p)
}

/// The signed-in participant's own row in the study: "not found" when the
/// account has no participant row there. The one place that resolves it.
pub async fn own(app: &App, actor: &Actor, study: &StudyId) -> Result<Participant> {
    require_study(actor, Permission::ManageOwnParticipation, study)?;
    store::of_account(&app.db.pool, study, &actor.account_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Shows who a participant is, to a researcher at their site who gives a reason.
pub async fn reveal_identity(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &ParticipantId,
    reason: &str,
) -> Result<Identity> {
    let p = get(app, actor, study, id).await?;
    crate::vault::service::reveal(app, actor, study, &p.site_id, id, reason).await
}
