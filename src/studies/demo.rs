//! `fieldkit demo`: two clearly synthetic studies so a newcomer has something
//! to look at. Every name says it is made up; no real person, team or trust.

use super::model::StudyInput;
use super::service;
use crate::app::App;
use crate::auth::model::Actor;
use crate::error::Result;
use crate::ids::{SiteId, StudyId};

fn study(title: &str, slug: &str) -> StudyInput {
    StudyInput {
        title: title.into(),
        slug: slug.into(),
        iras_id: None,
        rec_reference: Some("DEMO/00/0000".into()),
        lawful_basis: "public_task".into(),
        retention_years: 10,
        status: "setup".into(),
        code_prefix: None,
        mca_approved: false,
    }
}

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
        &study(
            "DEMO (synthetic): Recovery college co-design",
            "demo-recovery-college",
        ),
    )
    .await?;
    let college_id = StudyId::from_db(college.id);
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
        service::add_team(app, &actor, &college_id, &site, team, kind).await?;
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
    let cp_id = StudyId::from_db(cp.id);
    for n in 1..=5 {
        let site: SiteId = service::add_site(
            app,
            &actor,
            &cp_id,
            &format!("Example NHS Trust {n} (synthetic)"),
        )
        .await?;
        for arm in ["intervention", "control"] {
            service::add_team(
                app,
                &actor,
                &cp_id,
                &site,
                &format!("CMHT {n} {arm} (synthetic)"),
                "CMHT",
            )
            .await?;
        }
    }
    Ok(true)
}
