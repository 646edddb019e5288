//! The access policy: the one function that decides every permission. Deny by
//! default; a permission not granted below is refused. API tokens can only
//! narrow what their account may do, never widen it, and never reach
//! instance-wide permissions.

use super::model::{Actor, Credential, Permission, Role};
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
        ),
        Role::Reviewer => matches!(perm, ViewStudy | ViewStudyAudit | ViewConsentRegister),
        Role::Analyst => matches!(perm, ViewStudy),
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

/// Whether the actor is a member of the study at all (or an admin): used to
/// answer "not found" rather than "forbidden" to everyone else, so study ids
/// cannot be probed.
pub fn can_see_study(actor: &Actor, study: &StudyId) -> bool {
    permits(actor, Permission::ViewStudy, Scope::Study(study))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::model::Membership;
    use crate::ids::{AccountId, ApiTokenId};

    fn actor(is_admin: bool, memberships: Vec<Membership>) -> Actor {
        Actor {
            account_id: AccountId::new(),
            display_name: "T".into(),
            is_admin,
            memberships,
            credential: Credential::Session,
        }
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
        let a = actor(
            false,
            vec![Membership {
                study_id: s.clone(),
                role: Role::Reviewer,
                sites: vec![],
            }],
        );
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
            vec![Membership {
                study_id: s.clone(),
                role: Role::Researcher,
                sites: vec![mine.clone()],
            }],
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
