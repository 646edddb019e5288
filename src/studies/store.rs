//! SQL for studies, sites, teams and memberships.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::model::{Member, Site, Study, StudyFields, Team};
use crate::auth::model::Role;
use crate::db::{flag, Tx};
use crate::ids::{AccountId, MembershipId, SiteId, StudyId, TeamId};

fn study(r: &AnyRow) -> sqlx::Result<Study> {
    Ok(Study {
        id: r.try_get(0)?,
        slug: r.try_get(1)?,
        title: r.try_get(2)?,
        iras_id: r.try_get(3)?,
        rec_reference: r.try_get(4)?,
        lawful_basis: r.try_get(5)?,
        retention_years: r.try_get(6)?,
        status: r.try_get(7)?,
        created_at: r.try_get(8)?,
        updated_at: r.try_get(9)?,
        code_prefix: r.try_get(10)?,
        mca_approved: flag(r.try_get(11)?),
    })
}

pub async fn insert_study(
    tx: &mut Tx,
    id: &StudyId,
    f: &StudyFields,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO studies (id, slug, title, iras_id, rec_reference, lawful_basis, retention_years, status, created_at, updated_at, code_prefix, mca_approved)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)",
    )
    .bind(id.as_str())
    .bind(&f.slug)
    .bind(&f.title)
    .bind(&f.iras_id)
    .bind(&f.rec_reference)
    .bind(&f.lawful_basis)
    .bind(f.retention_years)
    .bind(&f.status)
    .bind(now)
    .bind(&f.code_prefix)
    .bind(f.mca_approved as i16)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn update_study(
    tx: &mut Tx,
    id: &StudyId,
    f: &StudyFields,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE studies SET slug = $1, title = $2, iras_id = $3, rec_reference = $4, lawful_basis = $5,
         retention_years = $6, status = $7, updated_at = $8, code_prefix = $10, mca_approved = $11 WHERE id = $9",
    )
    .bind(&f.slug)
    .bind(&f.title)
    .bind(&f.iras_id)
    .bind(&f.rec_reference)
    .bind(&f.lawful_basis)
    .bind(f.retention_years)
    .bind(&f.status)
    .bind(now)
    .bind(id.as_str())
    .bind(&f.code_prefix)
    .bind(f.mca_approved as i16)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn get_study(pool: &AnyPool, id: &StudyId) -> sqlx::Result<Study> {
    study(
        &sqlx::query(
            "SELECT id, slug, title, iras_id, rec_reference, lawful_basis, retention_years, status, created_at, updated_at, code_prefix, mca_approved
             FROM studies WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_one(pool)
        .await?,
    )
}

pub async fn all_studies(pool: &AnyPool) -> sqlx::Result<Vec<Study>> {
    sqlx::query(
        "SELECT id, slug, title, iras_id, rec_reference, lawful_basis, retention_years, status, created_at, updated_at, code_prefix, mca_approved
         FROM studies ORDER BY lower(title), id",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(study)
    .collect()
}

pub async fn sites(pool: &AnyPool, study: &StudyId) -> sqlx::Result<Vec<Site>> {
    let rows = sqlx::query(
        "SELECT s.id, s.name, t.id, t.name, t.kind FROM sites s LEFT JOIN teams t ON t.site_id = s.id
         WHERE s.study_id = $1 ORDER BY lower(s.name), s.id, lower(t.name), t.id",
    )
    .bind(study.as_str())
    .fetch_all(pool)
    .await?;
    let mut out: Vec<Site> = Vec::new();
    for r in rows {
        let site_id: String = r.try_get(0)?;
        if out.last().map(|s| &s.id) != Some(&site_id) {
            out.push(Site {
                id: site_id.clone(),
                study_id: study.to_string(),
                name: r.try_get(1)?,
                teams: Vec::new(),
            });
        }
        if let Some(team_id) = r.try_get::<Option<String>, _>(2)? {
            let site = out.last_mut().expect("pushed above");
            site.teams.push(Team {
                id: team_id,
                site_id,
                name: r.try_get(3)?,
                kind: r.try_get(4)?,
            });
        }
    }
    Ok(out)
}

pub async fn insert_site(
    tx: &mut Tx,
    id: &SiteId,
    study: &StudyId,
    name: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO sites (id, study_id, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id.as_str())
        .bind(study.as_str())
        .bind(name)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn site_in_study(pool: &AnyPool, site: &SiteId, study: &StudyId) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM sites WHERE id = $1 AND study_id = $2")
            .bind(site.as_str())
            .bind(study.as_str())
            .fetch_optional(pool)
            .await?
            .is_some(),
    )
}

pub async fn insert_team(
    tx: &mut Tx,
    id: &TeamId,
    site: &SiteId,
    name: &str,
    kind: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO teams (id, site_id, name, kind, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.as_str())
    .bind(site.as_str())
    .bind(name)
    .bind(kind)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn members(pool: &AnyPool, study: &StudyId) -> sqlx::Result<Vec<Member>> {
    let rows = sqlx::query(
        "SELECT m.id, m.account_id, a.display_name, m.role, ms.site_id FROM memberships m
         JOIN accounts a ON a.id = m.account_id
         LEFT JOIN membership_sites ms ON ms.membership_id = m.id
         WHERE m.study_id = $1 ORDER BY lower(a.display_name), m.id",
    )
    .bind(study.as_str())
    .fetch_all(pool)
    .await?;
    let mut out: Vec<Member> = Vec::new();
    for r in rows {
        let id: String = r.try_get(0)?;
        let site: Option<String> = r.try_get(4)?;
        if out.last().map(|m| &m.id) != Some(&id) {
            let role_text: String = r.try_get(3)?;
            out.push(Member {
                id,
                account_id: r.try_get(1)?,
                display_name: r.try_get(2)?,
                role: Role::parse(&role_text).ok_or_else(|| {
                    sqlx::Error::Decode(format!("unknown role {role_text}").into())
                })?,
                site_ids: Vec::new(),
            });
        }
        out.last_mut().expect("pushed above").site_ids.extend(site);
    }
    Ok(out)
}

/// The membership of an account in a study, if any: (id, role, site ids).
pub async fn membership(
    pool: &AnyPool,
    study: &StudyId,
    account: &AccountId,
) -> sqlx::Result<Option<Member>> {
    Ok(members(pool, study)
        .await?
        .into_iter()
        .find(|m| m.account_id == account.as_str()))
}

pub async fn insert_membership(
    tx: &mut Tx,
    id: &MembershipId,
    study: &StudyId,
    account: &AccountId,
    role: Role,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO memberships (id, study_id, account_id, role, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id.as_str())
        .bind(study.as_str())
        .bind(account.as_str())
        .bind(role.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn set_membership(
    tx: &mut Tx,
    id: &str,
    role: Role,
    sites: &[SiteId],
) -> sqlx::Result<()> {
    sqlx::query("UPDATE memberships SET role = $1 WHERE id = $2")
        .bind(role.as_str())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM membership_sites WHERE membership_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    for site in sites {
        sqlx::query("INSERT INTO membership_sites (membership_id, site_id) VALUES ($1, $2)")
            .bind(id)
            .bind(site.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub async fn delete_membership(tx: &mut Tx, id: &str, study: &StudyId) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM membership_sites WHERE membership_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(
        sqlx::query("DELETE FROM memberships WHERE id = $1 AND study_id = $2")
            .bind(id)
            .bind(study.as_str())
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1,
    )
}

pub async fn account_exists(pool: &AnyPool, account: &AccountId) -> sqlx::Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM accounts WHERE id = $1")
        .bind(account.as_str())
        .fetch_optional(pool)
        .await?
        .is_some())
}
