//! The access policy: the one function that decides every permission, and the
//! one family of `require_*` checks that services call. Deny by default; a
//! permission not granted below is refused. API tokens can only narrow what
//! their account may do, never widen it, and never reach instance-wide
//! permissions. Pages and API handlers never decide access themselves: they
//! call services, and ask `abilities` only for which buttons to show.

use super::model::{Actor, Credential, Permission, Role};
use crate::db::list::SiteScope;
use crate::error::{AppError, Result};
use crate::ids::{SiteId, StudyId};

/// Where an action happens.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    Instance,
    Study(&'a StudyId),
    Site(&'a StudyId, &'a SiteId),
}

impl Scope<'_> {
    fn study(&self) -> Option<&StudyId> {
        match self {
            Scope::Instance => None,
            Scope::Study(s) | Scope::Site(s, _) => Some(s),
        }
    }
}

fn role_grants(role: Role, perm: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Researcher => matches!(
            perm,
            ViewStudy
                | ViewMembers
                | EnrolParticipants
                | RevealIdentity
                | TakeConsent
                | ViewConsentRegister
                | RateInstruments
                | ViewInstrumentResults
                | ManageInstruments
                | RecordFieldwork
                | ViewRedactedFieldwork
                | ViewFieldworkChecks
        ),
        Role::Reviewer => matches!(
            perm,
            ViewStudy | ViewStudyAudit | ViewConsentRegister | ViewFieldworkChecks
        ),
        Role::Analyst => matches!(
            perm,
            ViewStudy | ViewInstrumentResults | ViewRedactedFieldwork
        ),
        Role::Rater => matches!(perm, ViewStudy | RateInstruments),
        Role::Participant => matches!(perm, ViewStudy | ManageOwnParticipation),
    }
}

fn admin_grants(perm: Permission) -> bool {
    use Permission::*;
    matches!(
        perm,
        ManageAccounts
            | CreateStudies
            | ViewInstanceAudit
            | ViewStudy
            | ViewMembers
            | EditStudy
            | ManageMembers
            | ViewStudyAudit
    )
}

pub fn permits(actor: &Actor, perm: Permission, scope: Scope<'_>) -> bool {
    if let Credential::ApiToken {
        study_id,
        permissions,
        ..
    } = &actor.credential
    {
        if perm.is_instance_wide()
            || scope.study() != Some(study_id)
            || !permissions.contains(&perm)
        {
            return false;
        }
    }
    if perm.is_instance_wide() != matches!(scope, Scope::Instance) {
        return false;
    }
    if actor.is_admin && admin_grants(perm) {
        return true;
    }
    let Some(study) = scope.study() else {
        return false;
    };
    let Some(membership) = actor.membership(study) else {
        return false;
    };
    let site_allowed = match scope {
        Scope::Site(_, site) => membership.sites.is_empty() || membership.sites.contains(site),
        _ => true,
    };
    site_allowed && role_grants(membership.role, perm)
}

/// Whether the account must have a second factor (OWASP ASVS 5.0 level 2):
/// administrators, and anyone whose role in any study reads identities or
/// every consent record (researchers and reviewers). Decided from the
/// roles held now, so a new role asks for one at the next request.
pub fn second_factor_required(actor: &Actor) -> bool {
    actor.is_admin
        || actor.memberships.iter().any(|m| {
            role_grants(m.role, Permission::RevealIdentity)
                || role_grants(m.role, Permission::ViewConsentRegister)
        })
}

/// Whether a second factor is offered: to staff, never to an account that
/// is only ever a participant.
pub fn second_factor_offered(actor: &Actor) -> bool {
    actor.is_admin
        || actor.memberships.is_empty()
        || actor
            .memberships
            .iter()
            .any(|m| m.role != Role::Participant)
}

/// What a signed-in person must do before anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Obligation {
    /// Their role needs a second factor and they have none.
    EnrolSecondFactor,
    /// They signed in with a password that no longer meets the policy.
    ChangePassword,
}

/// The first thing a session must do, if any. API tokens are unaffected:
/// they carry no instance-wide permission and are made by a session that
/// met the policy then.
pub fn obligation(actor: &Actor) -> Option<Obligation> {
    if !matches!(actor.credential, Credential::Session) {
        None
    } else if second_factor_required(actor) && !actor.second_factor {
        Some(Obligation::EnrolSecondFactor)
    } else if actor.password_change_due {
        Some(Obligation::ChangePassword)
    } else {
        None
    }
}

/// Whether the actor is a member of the study at all (or an admin): used to
/// answer "not found" rather than "forbidden" to everyone else, so study ids
/// cannot be probed.
pub fn can_see_study(actor: &Actor, study: &StudyId) -> bool {
    permits(actor, Permission::ViewStudy, Scope::Study(study))
}

fn forbidden(detail: &str) -> AppError {
    AppError::Forbidden(detail.into())
}

/// An instance-wide permission (administrators): "forbidden" otherwise.
pub fn require_instance(actor: &Actor, perm: Permission) -> Result<()> {
    if permits(actor, perm, Scope::Instance) {
        Ok(())
    } else {
        Err(forbidden("You do not have permission to do this."))
    }
}

/// A permission in a study: "not found" to anyone who cannot see the study,
/// "forbidden" to members who lack the permission. Called before any input
/// is validated, so someone outside learns nothing from a validation error.
pub fn require_study(actor: &Actor, perm: Permission, study: &StudyId) -> Result<()> {
    if !can_see_study(actor, study) {
        return Err(AppError::NotFound);
    }
    if permits(actor, perm, Scope::Study(study)) {
        Ok(())
    } else {
        Err(forbidden("Your role in this study does not allow this."))
    }
}

/// A permission at one site of a study: as `require_study`, then "forbidden"
/// to a researcher limited to other sites.
pub fn require_site(actor: &Actor, perm: Permission, study: &StudyId, site: &SiteId) -> Result<()> {
    require_study(actor, perm, study)?;
    if permits(actor, perm, Scope::Site(study, site)) {
        Ok(())
    } else {
        Err(forbidden("You work on other sites of this study."))
    }
}

/// Reading the audit chain's verification: administrators, and reviewers of
/// any study (the answer says only whether the chain holds and where it breaks).
pub fn require_chain_reader(actor: &Actor) -> Result<()> {
    let reviewer = actor
        .memberships
        .iter()
        .any(|m| permits(actor, Permission::ViewStudyAudit, Scope::Study(&m.study_id)));
    if reviewer || permits(actor, Permission::ViewInstanceAudit, Scope::Instance) {
        Ok(())
    } else {
        Err(forbidden("You do not have permission to do this."))
    }
}

/// The sites whose rows the actor may list with `perm` in a study; call
/// after `require_study`. Lists filter by it in SQL.
pub fn site_scope(actor: &Actor, perm: Permission, study: &StudyId) -> SiteScope {
    if !permits(actor, perm, Scope::Study(study)) {
        return SiteScope::Only(Vec::new());
    }
    match actor.membership(study) {
        _ if actor.is_admin && admin_grants(perm) => SiteScope::All,
        Some(m) if !m.sites.is_empty() => SiteScope::Only(m.sites.clone()),
        _ => SiteScope::All,
    }
}

/// What an actor may do, for pages to decide which links and forms to show.
/// Showing is all it decides: every action is checked again by its service.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Abilities {
    pub manage_accounts: bool,
    pub create_studies: bool,
    pub view_study: bool,
    pub view_members: bool,
    pub edit_study: bool,
    pub manage_members: bool,
    pub view_study_audit: bool,
    pub enrol_participants: bool,
    pub take_consent: bool,
    pub view_consent_register: bool,
    pub rate_instruments: bool,
    pub view_instrument_results: bool,
    pub manage_own_participation: bool,
    pub record_fieldwork: bool,
    pub view_redacted_fieldwork: bool,
    pub view_fieldwork_checks: bool,
}

/// The actor's abilities on the instance, and in a study when one is given.
pub fn abilities(actor: &Actor, study: Option<&StudyId>) -> Abilities {
    let instance = |p| permits(actor, p, Scope::Instance);
    let in_study = |p| study.is_some_and(|s| permits(actor, p, Scope::Study(s)));
    Abilities {
        manage_accounts: instance(Permission::ManageAccounts),
        create_studies: instance(Permission::CreateStudies),
        view_study: in_study(Permission::ViewStudy),
        view_members: in_study(Permission::ViewMembers),
        edit_study: in_study(Permission::EditStudy),
        manage_members: in_study(Permission::ManageMembers),
        view_study_audit: in_study(Permission::ViewStudyAudit),
        enrol_participants: in_study(Permission::EnrolParticipants),
        take_consent: in_study(Permission::TakeConsent),
        view_consent_register: in_study(Permission::ViewConsentRegister),
        rate_instruments: in_study(Permission::RateInstruments),
        view_instrument_results: in_study(Permission::ViewInstrumentResults),
        manage_own_participation: in_study(Permission::ManageOwnParticipation),
        record_fieldwork: in_study(Permission::RecordFieldwork),
        view_redacted_fieldwork: in_study(Permission::ViewRedactedFieldwork),
        view_fieldwork_checks: in_study(Permission::ViewFieldworkChecks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::model::Membership;
    use crate::ids::{AccountId, ApiTokenId};

    /// One membership: `role` in `study`, limited to `sites` if any.
    fn in_study(study: StudyId, role: Role, sites: Vec<SiteId>) -> Vec<Membership> {
        vec![Membership {
            study_id: study,
            role,
            sites,
        }]
    }

    fn actor(is_admin: bool, memberships: Vec<Membership>) -> Actor {
        Actor {
            account_id: AccountId::new(),
            display_name: "T".into(),
            is_admin,
            memberships,
            credential: Credential::Session,
            second_factor: false,
            password_change_due: false,
        }
    }

    #[test]
    fn a_second_factor_is_required_of_admins_researchers_and_reviewers_only() {
        let study = StudyId::new();
        let with = |role| actor(false, in_study(study.clone(), role, vec![]));
        assert!(second_factor_required(&actor(true, vec![])));
        assert!(second_factor_required(&with(Role::Researcher)));
        assert!(second_factor_required(&with(Role::Reviewer)));
        assert!(!second_factor_required(&with(Role::Analyst)));
        assert!(second_factor_offered(&with(Role::Analyst)));
        assert!(!second_factor_required(&with(Role::Participant)));
        assert!(!second_factor_offered(&with(Role::Participant)));
    }

    #[test]
    fn nobody_gets_anything_by_default() {
        let a = actor(false, vec![]);
        let s = StudyId::new();
        for p in Permission::ALL {
            assert!(!permits(&a, p, Scope::Instance));
            assert!(!permits(&a, p, Scope::Study(&s)));
        }
    }

    #[test]
    fn a_role_counts_only_in_its_own_study() {
        let s = StudyId::new();
        let other = StudyId::new();
        let a = actor(false, in_study(s.clone(), Role::Reviewer, vec![]));
        assert!(permits(&a, Permission::ViewStudyAudit, Scope::Study(&s)));
        assert!(!permits(
            &a,
            Permission::ViewStudyAudit,
            Scope::Study(&other)
        ));
        assert!(!permits(&a, Permission::ViewMembers, Scope::Study(&s)));
    }

    #[test]
    fn site_limited_researchers_stay_in_their_sites() {
        let s = StudyId::new();
        let mine = SiteId::new();
        let theirs = SiteId::new();
        let a = actor(
            false,
            in_study(s.clone(), Role::Researcher, vec![mine.clone()]),
        );
        assert!(permits(&a, Permission::ViewStudy, Scope::Site(&s, &mine)));
        assert!(!permits(
            &a,
            Permission::ViewStudy,
            Scope::Site(&s, &theirs)
        ));
    }

    #[test]
    fn tokens_narrow_and_never_widen() {
        let s = StudyId::new();
        let mut a = actor(true, vec![]);
        a.credential = Credential::ApiToken {
            id: ApiTokenId::new(),
            study_id: s.clone(),
            permissions: vec![Permission::ViewStudy, Permission::ManageAccounts],
        };
        assert!(permits(&a, Permission::ViewStudy, Scope::Study(&s)));
        assert!(!permits(&a, Permission::EditStudy, Scope::Study(&s)));
        assert!(!permits(&a, Permission::ManageAccounts, Scope::Instance));
        assert!(!permits(
            &a,
            Permission::ViewStudy,
            Scope::Study(&StudyId::new())
        ));
    }

    #[test]
    fn identities_are_for_researchers_only() {
        let s = StudyId::new();
        let site = SiteId::new();
        let member = |role| {
            actor(
                false,
                vec![Membership {
                    study_id: s.clone(),
                    role,
                    sites: vec![],
                }],
            )
        };
        assert!(permits(
            &member(Role::Researcher),
            Permission::RevealIdentity,
            Scope::Site(&s, &site)
        ));
        for role in [Role::Reviewer, Role::Analyst, Role::Participant] {
            assert!(
                !permits(
                    &member(role),
                    Permission::RevealIdentity,
                    Scope::Site(&s, &site)
                ),
                "{role:?}"
            );
        }
        assert!(!permits(
            &actor(true, vec![]),
            Permission::RevealIdentity,
            Scope::Site(&s, &site)
        ));
        assert!(permits(
            &member(Role::Reviewer),
            Permission::ViewConsentRegister,
            Scope::Study(&s)
        ));
        assert!(!permits(
            &actor(true, vec![]),
            Permission::ViewConsentRegister,
            Scope::Study(&s)
        ));
    }

    #[test]
    fn only_participants_manage_their_own_participation() {
        let s = StudyId::new();
        let member = |role| {
            actor(
                false,
                vec![Membership {
                    study_id: s.clone(),
                    role,
                    sites: vec![],
                }],
            )
        };
        assert!(permits(
            &member(Role::Participant),
            Permission::ManageOwnParticipation,
            Scope::Study(&s)
        ));
        for role in [Role::Researcher, Role::Reviewer, Role::Analyst] {
            assert!(
                !permits(
                    &member(role),
                    Permission::ManageOwnParticipation,
                    Scope::Study(&s)
                ),
                "{role:?}"
            );
        }
        assert!(!permits(
            &actor(true, vec![]),
            Permission::ManageOwnParticipation,
            Scope::Study(&s)
        ));
    }

    #[test]
    fn site_scopes_follow_the_membership() {
        let s = StudyId::new();
        let site = SiteId::new();
        let limited = actor(
            false,
            in_study(s.clone(), Role::Researcher, vec![site.clone()]),
        );
        assert_eq!(
            site_scope(&limited, Permission::EnrolParticipants, &s),
            SiteScope::Only(vec![site])
        );
        assert_eq!(
            site_scope(&limited, Permission::EnrolParticipants, &StudyId::new()),
            SiteScope::Only(vec![])
        );
        let reviewer = actor(false, in_study(s.clone(), Role::Reviewer, vec![]));
        assert_eq!(
            site_scope(&reviewer, Permission::ViewConsentRegister, &s),
            SiteScope::All
        );
        assert_eq!(
            site_scope(&reviewer, Permission::EnrolParticipants, &s),
            SiteScope::Only(vec![])
        );
    }

    #[test]
    fn outsiders_get_not_found_and_members_forbidden() {
        let s = StudyId::new();
        let reviewer = actor(false, in_study(s.clone(), Role::Reviewer, vec![]));
        assert!(matches!(
            require_study(&reviewer, Permission::TakeConsent, &s),
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            require_study(&reviewer, Permission::TakeConsent, &StudyId::new()),
            Err(AppError::NotFound)
        ));
        assert!(require_study(&reviewer, Permission::ViewConsentRegister, &s).is_ok());
    }

    #[test]
    fn instance_permissions_need_the_instance_scope() {
        let a = actor(true, vec![]);
        assert!(permits(&a, Permission::ManageAccounts, Scope::Instance));
        assert!(!permits(
            &a,
            Permission::ManageAccounts,
            Scope::Study(&StudyId::new())
        ));
        assert!(!permits(&a, Permission::ViewStudy, Scope::Instance));
    }
}
