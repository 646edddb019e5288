//! Synthetic data: `fieldkit demo` adds two clearly synthetic studies so a
//! newcomer has something to look at, and `--participants N` enrols N
//! synthetic participants in one of them; benchmarks build their studies
//! with the same functions. Every name says it is made up; no real person,
//! team or trust.

use crate::app::App;
use crate::auth::model::Actor;
use crate::error::Result;
use crate::ids::{SiteId, StudyId};
use crate::participants::model::StakeholderGroup;
use crate::participants::service::{enrol_in, Enrolment};
use crate::studies::model::{Arm, LawfulBasis, StudyInput, StudyStatus};
use crate::studies::service;
use crate::vault::model::IdentityInput;

/// How many synthetic participants one transaction enrols.
const BATCH: usize = 500;

fn study(title: &str, slug: &str) -> StudyInput {
    StudyInput {
        title: title.into(),
        slug: slug.into(),
        iras_id: None,
        rec_reference: Some("DEMO/00/0000".into()),
        lawful_basis: LawfulBasis::PublicTask,
        retention_years: 10,
        status: StudyStatus::Setup,
        code_prefix: None,
        mca_approved: false,
    }
}

/// The slug of the demonstration study that `--participants` fills.
pub const COLLEGE: &str = "demo-recovery-college";

/// Adds the demonstration studies unless they are there already.
pub async fn fill(app: &App) -> Result<bool> {
    let actor = Actor::command_line();
    if service::studies_for(app, &actor)
        .await?
        .iter()
        .any(|s| s.slug.starts_with("demo-"))
    {
        return Ok(false);
    }
    let college = service::create_study(
        app,
        &actor,
        &study("DEMO (synthetic): Recovery college co-design", COLLEGE),
    )
    .await?;
    let college_id = college.id;
    let site = service::add_site(
        app,
        &actor,
        &college_id,
        "Example Recovery College (synthetic)",
    )
    .await?;
    for (team, kind) in [
        ("Peer trainers (synthetic)", "recovery college"),
        ("Friday drop-in group (synthetic)", "voluntary group"),
    ] {
        service::add_team(app, &actor, &college_id, &site, team, kind, None).await?;
    }
    let cp = service::create_study(
        app,
        &actor,
        &study(
            "DEMO (synthetic): Connecting People implementation",
            "demo-connecting-people",
        ),
    )
    .await?;
    let cp_id = cp.id;
    for n in 1..=5 {
        let site: SiteId = service::add_site(
            app,
            &actor,
            &cp_id,
            &format!("Example NHS Trust {n} (synthetic)"),
        )
        .await?;
        for arm in [Arm::Intervention, Arm::Control] {
            service::add_team(
                app,
                &actor,
                &cp_id,
                &site,
                &format!("CMHT {n} {} (synthetic)", arm.as_str()),
                "CMHT",
                Some(arm),
            )
            .await?;
        }
    }
    Ok(true)
}

/// Enrols `count` synthetic participants in `study`, spread over `sites` and
/// every stakeholder group, through the one enrolment path (study code,
/// sealed identity, audit entry), `BATCH` to a transaction. Names are
/// "Synthetic Participant 000042"; there is no email or other detail.
pub async fn participants(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    sites: &[SiteId],
    count: usize,
) -> Result<()> {
    let mut done = 0;
    while done < count {
        let mut tx = app.db.begin().await?;
        for n in done..count.min(done + BATCH) {
            let name = format!("Synthetic Participant {:06}", n + 1);
            let enrolment = Enrolment {
                site_id: &sites[n % sites.len()],
                group: StakeholderGroup::ALL[n % StakeholderGroup::ALL.len()],
                identity: IdentityInput {
                    name: &name,
                    email: None,
                    phone: None,
                    date_of_birth: None,
                    notes: None,
                },
                account_id: None,
            };
            enrol_in(&mut tx, app, actor, study, &enrolment).await?;
        }
        tx.commit().await?;
        done = count.min(done + BATCH);
    }
    Ok(())
}
