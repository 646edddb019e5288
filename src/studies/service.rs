//! Use cases for studies: each checks the policy, runs in one transaction and
//! appends its audit entry there, with old and new values.

use serde_json::json;

use super::model::{parse_name, Member, Site, Study, StudyInput};
use super::store;
use crate::app::App;
use crate::audit::{self, Entry, NewEntry};
use crate::auth::model::{Actor, Permission, Role};
use crate::auth::policy::{can_see_study, permits, Scope};
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

/// Refuses with "not found" to anyone who cannot see the study, and with
/// "forbidden" to members who lack the permission. Handlers that parse input
/// before calling a use case call this first, so access is decided before
/// validation speaks.
pub fn require(actor: &Actor, perm: Permission, study: &StudyId) -> Result<()> {
    if !can_see_study(actor, study) {
        return Err(AppError::NotFound);
    }
    if permits(actor, perm, Scope::Study(study)) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Your role in this study does not allow this.".into(),
        ))
    }
}

/// Studies the actor can see: all for administrators, otherwise their own.
pub async fn studies_for(app: &App, actor: &Actor) -> Result<Vec<Study>> {
    let all = store::all_studies(&app.db.pool).await?;
    Ok(all
        .into_iter()
        .filter(|s| StudyId::parse(&s.id).is_some_and(|id| can_see_study(actor, &id)))
        .collect())
}

pub async fn create_study(app: &App, actor: &Actor, input: &StudyInput) -> Result<Study> {
    if !permits(actor, Permission::CreateStudies, Scope::Instance) {
        return Err(AppError::Forbidden(
            "Only administrators create studies.".into(),
        ));
    }
    let fields = input.parse()?;
    let id = StudyId::new();
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::insert_study(&mut tx, &id, &fields, now)
        .await
        .map_err(|e| conflict_on_unique(e, "A study with this short name"))?;
    let e = NewEntry::by_in_study(actor, &id, "study.create", "study", id.as_str())
        .details(json!({ "new": input }));
    audit::append(&mut tx, &app.db, now, e).await?;
    tx.commit().await?;
    let study = store::get_study(&app.db.pool, &id).await?;
    // The study exists whatever happens next; a form that cannot be published
    // now is reported here and stops the next start until it is fixed.
    match crate::consent::forms::service::load_for_study(app, &study).await {
        Ok(forms) => tracing::info!("{forms}"),
        Err(e) => tracing::error!("the new study's consent forms were not published: {e:#}"),
    }
    Ok(study)
}

pub async fn get_study(app: &App, actor: &Actor, id: &StudyId) -> Result<Study> {
    require(actor, Permission::ViewStudy, id)?;
    Ok(store::get_study(&app.db.pool, id).await?)
}

pub async fn update_study(
    app: &App,
    actor: &Actor,
    id: &StudyId,
    input: &StudyInput,
    reason: Option<&str>,
) -> Result<Study> {
    require(actor, Permission::EditStudy, id)?;
    let fields = input.parse()?;
    let before = store::get_study(&app.db.pool, id).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::update_study(&mut tx, id, &fields, now)
        .await
        .map_err(|e| conflict_on_unique(e, "A study with this short name"))?;
    let e = NewEntry::by_in_study(actor, id, "study.update", "study", id.as_str())
        .reason(reason)
        .details(json!({ "old": before, "new": input }));
    audit::append(&mut tx, &app.db, now, e).await?;
    tx.commit().await?;
    Ok(store::get_study(&app.db.pool, id).await?)
}

/// The study's sites, limited to the actor's own sites when their role is.
pub async fn sites(app: &App, actor: &Actor, study: &StudyId) -> Result<Vec<Site>> {
    require(actor, Permission::ViewStudy, study)?;
    Ok(store::sites(&app.db.pool, study)
        .await?
        .into_iter()
        .filter(|s| {
            SiteId::parse(&s.id).is_some_and(|site| {
                permits(actor, Permission::ViewStudy, Scope::Site(study, &site))
            })
        })
        .collect())
}

pub async fn add_site(app: &App, actor: &Actor, study: &StudyId, name: &str) -> Result<SiteId> {
    require(actor, Permission::EditStudy, study)?;
    let name = parse_name("name", name)?;
    let id = SiteId::new();
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::insert_site(&mut tx, &id, study, &name, now)
        .await
        .map_err(|e| conflict_on_unique(e, "A site with this name"))?;
    audit::append(
        &mut tx,
        &app.db,
        now,
        NewEntry::by_in_study(actor, study, "site.create", "site", id.as_str())
            .details(json!({ "new": { "name": name } })),
    )
    .await?;
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
) -> Result<TeamId> {
    require(actor, Permission::EditStudy, study)?;
    if !store::site_in_study(&app.db.pool, site, study).await? {
        return Err(AppError::invalid("site_id", "Choose a site of this study."));
    }
    let name = parse_name("name", name)?;
    let kind = parse_name("kind", kind)?;
    let id = TeamId::new();
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::insert_team(&mut tx, &id, site, &name, &kind, now)
        .await
        .map_err(|e| conflict_on_unique(e, "A team with this name at this site"))?;
    let e = NewEntry::by_in_study(actor, study, "team.create", "team", id.as_str())
        .details(json!({ "new": { "site_id": site, "name": name, "kind": kind } }));
    audit::append(&mut tx, &app.db, now, e).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn members(app: &App, actor: &Actor, study: &StudyId) -> Result<Vec<Member>> {
    require(actor, Permission::ViewMembers, study)?;
    Ok(store::members(&app.db.pool, study).await?)
}

/// Gives an account a role in a study, or changes the role it has; only
/// researchers can be limited to sites.
pub async fn set_member(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    account: &AccountId,
    role: Role,
    sites: &[SiteId],
    reason: Option<&str>,
) -> Result<String> {
    require(actor, Permission::ManageMembers, study)?;
    if !store::account_exists(&app.db.pool, account).await? {
        return Err(AppError::invalid(
            "account_id",
            "Choose an existing account.",
        ));
    }
    if !sites.is_empty() && role != Role::Researcher {
        return Err(AppError::invalid(
            "site_ids",
            "Only researchers can be limited to sites.",
        ));
    }
    for site in sites {
        if !store::site_in_study(&app.db.pool, site, study).await? {
            return Err(AppError::invalid("site_ids", "Choose sites of this study."));
        }
    }
    let before = store::membership(&app.db.pool, study, account).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let (id, action) = match &before {
        Some(m) => (m.id.clone(), "membership.role_change"),
        None => {
            let id = MembershipId::new();
            store::insert_membership(&mut tx, &id, study, account, role, now).await?;
            (id.to_string(), "membership.create")
        }
    };
    store::set_membership(&mut tx, &id, role, sites).await?;
    let details = json!({
        "account_id": account,
        "old": before.as_ref().map(|m| json!({ "role": m.role, "site_ids": m.site_ids })),
        "new": { "role": role, "site_ids": sites },
    });
    audit::append(
        &mut tx,
        &app.db,
        now,
        NewEntry::by_in_study(actor, study, action, "membership", &id)
            .reason(reason)
            .details(details),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn remove_member(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    membership: &str,
    reason: Option<&str>,
) -> Result<()> {
    require(actor, Permission::ManageMembers, study)?;
    let before = store::members(&app.db.pool, study)
        .await?
        .into_iter()
        .find(|m| m.id == membership)
        .ok_or(AppError::NotFound)?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    store::delete_membership(&mut tx, membership, study).await?;
    let details = json!({ "account_id": before.account_id, "old": { "role": before.role, "site_ids": before.site_ids } });
    audit::append(
        &mut tx,
        &app.db,
        now,
        NewEntry::by_in_study(actor, study, "membership.remove", "membership", membership)
            .reason(reason)
            .details(details),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The newest audit entries about a study, for its reviewers and administrators.
pub async fn study_audit(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    limit: i64,
) -> Result<Vec<Entry>> {
    require(actor, Permission::ViewStudyAudit, study)?;
    Ok(audit::store::recent(&app.db.pool, Some(study.as_str()), limit.clamp(1, 1000)).await?)
}
