//! SQL for studies, sites, teams and memberships.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Executor, Row};

use super::model::{Arm, LawfulBasis, Member, Site, Study, StudyFields, StudyStatus, Team};
use crate::auth::model::Role;
use crate::db::list::{ListQuery, SiteScope};
use crate::db::{flag, Tx};
use crate::ids::{AccountId, MembershipId, SiteId, StudyId, TeamId};

fn study(r: &AnyRow) -> sqlx::Result<Study> {
    let basis: String = r.try_get(5)?;
    let status: String = r.try_get(7)?;
    Ok(Study {
        id: r.try_get(0)?,
        slug: r.try_get(1)?,
        title: r.try_get(2)?,
        iras_id: r.try_get(3)?,
        rec_reference: r.try_get(4)?,
        lawful_basis: LawfulBasis::parse(&basis)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown lawful basis {basis}").into()))?,
        retention_years: r.try_get(6)?,
        status: StudyStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status}").into()))?,
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
    .bind(f.lawful_basis.as_str())
    .bind(f.retention_years)
    .bind(f.status.as_str())
    .bind(now)
    .bind(&f.code_prefix)
    .bind(f.mca_approved as i16)
    .execute(tx.conn())
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
    .bind(f.lawful_basis.as_str())
    .bind(f.retention_years)
    .bind(f.status.as_str())
    .bind(now)
    .bind(id.as_str())
    .bind(&f.code_prefix)
    .bind(f.mca_approved as i16)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn get_study<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    id: &StudyId,
) -> sqlx::Result<Study> {
    study(
        &sqlx::query(
            "SELECT id, slug, title, iras_id, rec_reference, lawful_basis, retention_years, status, created_at, updated_at, code_prefix, mca_approved
             FROM studies WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_one(db)
        .await?,
    )
}

/// A study, its row locked until the transaction ends, for a change decided
/// on its current values.
pub async fn lock_study(tx: &mut Tx, id: &StudyId) -> sqlx::Result<Study> {
    let sql = crate::for_update!(
        tx,
        "SELECT id, slug, title, iras_id, rec_reference, lawful_basis, retention_years, status, created_at, updated_at, code_prefix, mca_approved
         FROM studies WHERE id = $1"
    );
    study(
        &sqlx::query(sql)
            .bind(id.as_str())
            .fetch_one(tx.conn())
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

/// The study's sites that `scope` lets the reader see, with their teams.
pub async fn sites(pool: &AnyPool, study: &StudyId, scope: &SiteScope) -> sqlx::Result<Vec<Site>> {
    let mut q = ListQuery::new(
        "SELECT s.id, s.name, t.id, t.name, t.kind, t.arm FROM sites s LEFT JOIN teams t ON t.site_id = s.id
         WHERE s.study_id = ",
    );
    q.bind(study.as_str())
        .sites("s.id", scope)
        .push(" ORDER BY lower(s.name), s.id, lower(t.name), t.id");
    let rows = q
        .fetch_all(pool, |r| {
            let team = match r.try_get::<Option<TeamId>, _>(2)? {
                Some(id) => {
                    let arm: Option<String> = r.try_get(5)?;
                    Some((
                        id,
                        r.try_get(3)?,
                        r.try_get(4)?,
                        arm.as_deref().and_then(Arm::parse),
                    ))
                }
                None => None,
            };
            Ok((r.try_get::<SiteId, _>(0)?, r.try_get::<String, _>(1)?, team))
        })
        .await?;
    let mut out: Vec<Site> = Vec::new();
    for (site_id, name, team) in rows {
        if out.last().map(|s| &s.id) != Some(&site_id) {
            out.push(Site {
                id: site_id.clone(),
                study_id: study.clone(),
                name,
                teams: Vec::new(),
            });
        }
        if let Some((id, name, kind, arm)) = team {
            out.last_mut().expect("pushed above").teams.push(Team {
                id,
                site_id,
                name,
                kind,
                arm,
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
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn site_in_study<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    site: &SiteId,
    study: &StudyId,
) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM sites WHERE id = $1 AND study_id = $2")
            .bind(site.as_str())
            .bind(study.as_str())
            .fetch_optional(db)
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
    arm: Option<Arm>,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO teams (id, site_id, name, kind, created_at, arm) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.as_str())
    .bind(site.as_str())
    .bind(name)
    .bind(kind)
    .bind(now)
    .bind(arm.map(Arm::as_str))
    .execute(tx.conn())
    .await?;
    Ok(())
}

const MEMBERS: &str =
    "SELECT m.id, m.account_id, a.display_name, m.role, ms.site_id FROM memberships m
 JOIN accounts a ON a.id = m.account_id
 LEFT JOIN membership_sites ms ON ms.membership_id = m.id
 WHERE m.study_id = $1";

fn collect_members(rows: &[AnyRow]) -> sqlx::Result<Vec<Member>> {
    let mut out: Vec<Member> = Vec::new();
    for r in rows {
        let id: MembershipId = r.try_get(0)?;
        let site: Option<SiteId> = r.try_get(4)?;
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

pub async fn members(pool: &AnyPool, study: &StudyId) -> sqlx::Result<Vec<Member>> {
    let sql = format!("{MEMBERS} ORDER BY lower(a.display_name), m.id");
    let rows = sqlx::query(&sql)
        .bind(study.as_str())
        .fetch_all(pool)
        .await?;
    collect_members(&rows)
}

/// Which membership `member` reads.
pub enum MemberKey<'a> {
    Account(&'a AccountId),
    Membership(&'a MembershipId),
}

/// One membership of the study, read in the transaction that changes it.
pub async fn member(
    conn: &mut AnyConnection,
    study: &StudyId,
    key: MemberKey<'_>,
) -> sqlx::Result<Option<Member>> {
    let (condition, value) = match key {
        MemberKey::Account(a) => (" AND m.account_id = $2", a.as_str()),
        MemberKey::Membership(m) => (" AND m.id = $2", m.as_str()),
    };
    let sql = format!("{MEMBERS}{condition}");
    let rows = sqlx::query(&sql)
        .bind(study.as_str())
        .bind(value)
        .fetch_all(conn)
        .await?;
    Ok(collect_members(&rows)?.pop())
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
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn set_membership(
    tx: &mut Tx,
    id: &MembershipId,
    role: Role,
    sites: &[SiteId],
) -> sqlx::Result<()> {
    sqlx::query("UPDATE memberships SET role = $1 WHERE id = $2")
        .bind(role.as_str())
        .bind(id)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM membership_sites WHERE membership_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    for site in sites {
        sqlx::query("INSERT INTO membership_sites (membership_id, site_id) VALUES ($1, $2)")
            .bind(id)
            .bind(site.as_str())
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

pub async fn delete_membership(
    tx: &mut Tx,
    id: &MembershipId,
    study: &StudyId,
) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM membership_sites WHERE membership_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(
        sqlx::query("DELETE FROM memberships WHERE id = $1 AND study_id = $2")
            .bind(id)
            .bind(study.as_str())
            .execute(tx.conn())
            .await?
            .rows_affected()
            == 1,
    )
}

pub async fn account_exists<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    account: &AccountId,
) -> sqlx::Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM accounts WHERE id = $1")
        .bind(account.as_str())
        .fetch_optional(db)
        .await?
        .is_some())
}
