//! Use cases for studies: each checks the policy, runs in one transaction,
//! reads the old values it audits inside that transaction, and appends its
//! audit entry there, with old and new values.

use super::model::{parse_name, Arm, Member, Site, Study, StudyFields, StudyInput};
use super::store::{self, MemberKey};
use crate::app::App;
use crate::audit::action::{Change, NewTeam, RoleAndSites, SiteName, StudyDetails};
use crate::audit::{self, Action, Entity, Entry, NewEntry};
use crate::auth::model::{Actor, Permission, Role};
use crate::auth::policy::{can_see_study, require_instance, require_study, site_scope};
use crate::db::list::{Page, PageRequest};
use crate::error::{AppError, Result};
use crate::ids::{AccountId, MembershipId, SiteId, StudyId, TeamId};

fn conflict_on_unique(e: sqlx::Error, what: &str) -> AppError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            AppError::Conflict(format!("{what} already exists."))
        }
        _ => e.into(),
    }
}

fn details(f: &StudyFields) -> StudyDetails {
    StudyDetails {
        title: f.title.clone(),
        slug: f.slug.clone(),
        iras_id: f.iras_id.clone(),
        rec_reference: f.rec_reference.clone(),
        lawful_basis: f.lawful_basis.as_str(),
        retention_years: f.retention_years,
        status: f.status.as_str(),
        code_prefix: f.code_prefix.clone(),
        mca_approved: f.mca_approved,
    }
}

/// Studies the actor can see: all for administrators, otherwise their own.
pub async fn studies_for(app: &App, actor: &Actor) -> Result<Vec<Study>> {
    let all = store::all_studies(&app.db.pool).await?;
    Ok(all
        .into_iter()
        .filter(|s| can_see_study(actor, &s.id))
        .collect())
}

/// Whether the actor may create studies: for the form, before it is shown.
pub fn may_create_study(actor: &Actor) -> Result<()> {
    require_instance(actor, Permission::CreateStudies)
        .map_err(|_| AppError::Forbidden("Only administrators create studies.".into()))
}

/// Whether the actor may manage the study's members: before a form is read.
pub fn may_manage_members(actor: &Actor, study: &StudyId) -> Result<()> {
    require_study(actor, Permission::ManageMembers, study)
}

/// The study, to someone who may edit it.
pub async fn study_to_edit(app: &App, actor: &Actor, id: &StudyId) -> Result<Study> {
    require_study(actor, Permission::EditStudy, id)?;
    Ok(store::get_study(&app.db.pool, id).await?)
}

pub async fn create_study(app: &App, actor: &Actor, input: &StudyInput) -> Result<Study> {
    may_create_study(actor)?;
    let fields = input.parse()?;
    let id = StudyId::new();
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::insert_study(&mut tx, &id, &fields, now)
        .await
        .map_err(|e| conflict_on_unique(e, "A study with this short name"))?;
    let action = Action::StudyCreate {
        new: details(&fields),
    };
    let e = NewEntry::by_in_study(actor, &id, action, Entity::Study(id.clone()));
    audit::append(&mut tx, now, e).await?;
    tx.commit().await?;
    let study = store::get_study(&app.db.pool, &id).await?;
    // The study exists whatever happens next; a form that cannot be published
    // now is reported here and stops the next start until it is fixed.
    let folder = &app.storage.consent_forms;
    match crate::consent::forms::service::load_for_study(&app.db, folder, &study.slug, now).await {
        Ok(forms) => tracing::info!("{forms}"),
        Err(e) => tracing::error!("the new study's consent forms were not published: {e:#}"),
    }
    Ok(study)
}

pub async fn get_study(app: &App, actor: &Actor, id: &StudyId) -> Result<Study> {
    require_study(actor, Permission::ViewStudy, id)?;
    Ok(store::get_study(&app.db.pool, id).await?)
}

pub async fn update_study(
    app: &App,
    actor: &Actor,
    id: &StudyId,
    input: &StudyInput,
    reason: Option<&str>,
) -> Result<Study> {
    require_study(actor, Permission::EditStudy, id)?;
    let fields = input.parse()?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let before = store::lock_study(&mut tx, id).await?;
    store::update_study(&mut tx, id, &fields, now)
        .await
        .map_err(|e| conflict_on_unique(e, "A study with this short name"))?;
    let action = Action::StudyUpdate(Change {
        old: details(&StudyFields::from(&before)),
        new: details(&fields),
    });
    let e = NewEntry::by_in_study(actor, id, action, Entity::Study(id.clone())).reason(reason);
    audit::append(&mut tx, now, e).await?;
    let after = store::get_study(tx.conn(), id).await?;
    tx.commit().await?;
    Ok(after)
}

/// The study's sites, limited to the actor's own sites when their role is.
pub async fn sites(app: &App, actor: &Actor, study: &StudyId) -> Result<Vec<Site>> {
    require_study(actor, Permission::ViewStudy, study)?;
    let scope = site_scope(actor, Permission::ViewStudy, study);
    Ok(store::sites(&app.db.pool, study, &scope).await?)
}

pub async fn add_site(app: &App, actor: &Actor, study: &StudyId, name: &str) -> Result<SiteId> {
    require_study(actor, Permission::EditStudy, study)?;
    let name = parse_name("name", name)?;
    let id = SiteId::new();
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::lock_study(&mut tx, study).await?;
    store::insert_site(&mut tx, &id, study, &name, now)
        .await
        .map_err(|e| conflict_on_unique(e, "A site with this name"))?;
    let action = Action::SiteCreate {
        new: SiteName { name },
    };
    let entry = NewEntry::by_in_study(actor, study, action, Entity::Site(id.clone()));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn add_team(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    site: &SiteId,
    name: &str,
    kind: &str,
    arm: Option<Arm>,
) -> Result<TeamId> {
    require_study(actor, Permission::EditStudy, study)?;
    let name = parse_name("name", name)?;
    let kind = parse_name("kind", kind)?;
    let id = TeamId::new();
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::lock_study(&mut tx, study).await?;
    if !store::site_in_study(tx.conn(), site, study).await? {
        return Err(AppError::invalid("site_id", "Choose a site of this study."));
    }
    store::insert_team(&mut tx, &id, site, &name, &kind, arm, now)
        .await
        .map_err(|e| conflict_on_unique(e, "A team with this name at this site"))?;
    let action = Action::TeamCreate {
        new: NewTeam {
            site_id: site.clone(),
            name,
            kind,
            arm: arm.map(Arm::as_str),
        },
    };
    let e = NewEntry::by_in_study(actor, study, action, Entity::Team(id.clone()));
    audit::append(&mut tx, now, e).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn members(app: &App, actor: &Actor, study: &StudyId) -> Result<Vec<Member>> {
    require_study(actor, Permission::ViewMembers, study)?;
    Ok(store::members(&app.db.pool, study).await?)
}

fn role_and_sites(m: &Member) -> RoleAndSites {
    RoleAndSites {
        role: m.role.as_str(),
        site_ids: m.site_ids.clone(),
    }
}

/// Gives an account a role in a study, or changes the role it has; only
/// researchers can be limited to sites. The account, the sites and the
/// membership before are read inside the transaction that changes it.
pub async fn set_member(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    account: &AccountId,
    role: Role,
    sites: &[SiteId],
    reason: Option<&str>,
) -> Result<MembershipId> {
    require_study(actor, Permission::ManageMembers, study)?;
    if !sites.is_empty() && role != Role::Researcher {
        return Err(AppError::invalid(
            "site_ids",
            "Only researchers can be limited to sites.",
        ));
    }
    let now = app.now();
    let mut tx = app.db.begin().await?;
    // The study's lock serialises every change to its memberships, so two
    // changes of one person's role and sites cannot interleave.
    store::lock_study(&mut tx, study).await?;
    if !store::account_exists(tx.conn(), account).await? {
        return Err(AppError::invalid(
            "account_id",
            "Choose an existing account.",
        ));
    }
    for site in sites {
        if !store::site_in_study(tx.conn(), site, study).await? {
            return Err(AppError::invalid("site_ids", "Choose sites of this study."));
        }
    }
    let before = store::member(tx.conn(), study, MemberKey::Account(account)).await?;
    let new = RoleAndSites {
        role: role.as_str(),
        site_ids: sites.to_vec(),
    };
    let (id, action) = match &before {
        Some(m) => (
            m.id.clone(),
            Action::MembershipRoleChange {
                account_id: account.clone(),
                old: role_and_sites(m),
                new,
            },
        ),
        None => {
            let id = MembershipId::new();
            store::insert_membership(&mut tx, &id, study, account, role, now)
                .await
                .map_err(|e| conflict_on_unique(e, "A membership for this person"))?;
            let action = Action::MembershipCreate {
                account_id: account.clone(),
                new,
            };
            (id, action)
        }
    };
    store::set_membership(&mut tx, &id, role, sites).await?;
    let entry =
        NewEntry::by_in_study(actor, study, action, Entity::Membership(id.clone())).reason(reason);
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn remove_member(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    membership: &MembershipId,
    reason: Option<&str>,
) -> Result<()> {
    require_study(actor, Permission::ManageMembers, study)?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::lock_study(&mut tx, study).await?;
    let before = store::member(tx.conn(), study, MemberKey::Membership(membership))
        .await?
        .ok_or(AppError::NotFound)?;
    store::delete_membership(&mut tx, membership, study).await?;
    let action = Action::MembershipRemove {
        account_id: before.account_id.clone(),
        old: role_and_sites(&before),
    };
    let entry = NewEntry::by_in_study(actor, study, action, Entity::Membership(membership.clone()))
        .reason(reason);
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// A page of the audit entries about a study, newest first, for its
/// reviewers and administrators.
pub async fn study_audit(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    page: &PageRequest<i64>,
) -> Result<Page<Entry, i64>> {
    require_study(actor, Permission::ViewStudyAudit, study)?;
    Ok(audit::store::of_study(&app.db.pool, study, page).await?)
}
