//! SQL for accounts, sessions, sign-in throttling, one-time links and API
//! tokens. Secrets are stored only as SHA-256 hashes.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Executor, Row};

use super::model::{Account, Membership, Role};
use crate::db::{flag, Tx};
use crate::ids::{AccountId, ApiTokenId, SiteId, StudyId};

/// What sign-in needs to know about an account.
pub struct Credentials {
    pub id: AccountId,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub disabled: bool,
    /// A confirmed second factor.
    pub has_second_factor: bool,
}

/// The columns `credentials` reads, in its order.
macro_rules! credentials_sql {
    ($($rest:literal),*) => {
        concat!(
            "SELECT id, display_name, password_hash, is_admin, disabled_at, email,
                    (SELECT COUNT(*) FROM second_factors f WHERE f.account_id = accounts.id AND f.confirmed_at IS NOT NULL)
             FROM accounts ",
            $($rest),*
        )
    };
}

fn credentials(r: &AnyRow) -> sqlx::Result<Credentials> {
    Ok(Credentials {
        id: r.try_get(0)?,
        email: r.try_get(5)?,
        display_name: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        is_admin: flag(r.try_get(3)?),
        disabled: r.try_get::<Option<i64>, _>(4)?.is_some(),
        has_second_factor: r.try_get::<i64, _>(6)? > 0,
    })
}

pub async fn credentials_by_email(
    pool: &AnyPool,
    email: &str,
) -> sqlx::Result<Option<Credentials>> {
    sqlx::query(credentials_sql!("WHERE email = $1"))
        .bind(email)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(credentials)
        .transpose()
}

pub async fn credentials_by_id(
    pool: &AnyPool,
    id: &AccountId,
) -> sqlx::Result<Option<Credentials>> {
    sqlx::query(credentials_sql!("WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(credentials)
        .transpose()
}

pub async fn insert_account(
    tx: &mut Tx,
    id: &AccountId,
    email: &str,
    display_name: &str,
    password_hash: Option<&str>,
    is_admin: bool,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO accounts (id, email, display_name, password_hash, is_admin, created_at, password_changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.as_str())
    .bind(email)
    .bind(display_name)
    .bind(password_hash)
    .bind(is_admin as i16)
    .bind(now)
    .bind(password_hash.map(|_| now))
    .execute(tx.conn())
    .await?;
    Ok(())
}

fn account(r: &AnyRow) -> sqlx::Result<Account> {
    Ok(Account {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        display_name: r.try_get(2)?,
        is_admin: flag(r.try_get(3)?),
        disabled: r.try_get::<Option<i64>, _>(4)?.is_some(),
        active: r.try_get::<Option<String>, _>(5)?.is_some(),
        created_at: r.try_get(6)?,
    })
}

pub async fn list_accounts(pool: &AnyPool) -> sqlx::Result<Vec<Account>> {
    sqlx::query(
        "SELECT id, email, display_name, is_admin, disabled_at, password_hash, created_at FROM accounts ORDER BY lower(display_name), id",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(account)
    .collect()
}

/// The names of staff accounts (every account that is no participant's and
/// holds the participant role in no study),
/// keyed as audit entries name their actor: `account:<id>`.
pub async fn staff_names(pool: &AnyPool) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query(
        "SELECT a.id, a.display_name FROM accounts a
         WHERE NOT EXISTS (SELECT 1 FROM participants p WHERE p.account_id = a.id)
           AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.account_id = a.id AND m.role = 'participant')",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok((
            format!("account:{}", r.try_get::<String, _>(0)?),
            r.try_get(1)?,
        ))
    })
    .collect()
}

/// An account's credentials, its row locked until the transaction ends, so a
/// sign-in checked outside the transaction can confirm the password it
/// checked is still the account's.
///
/// The lock and the read are two statements: on PostgreSQL (READ
/// COMMITTED) a `FOR UPDATE` that waited re-reads only the locked row, and
/// the statement's subquery on `second_factors` would still see the
/// snapshot from before the wait, a factor another transaction removed
/// under the same lock. The second statement reads after the wait.
pub async fn lock_credentials(tx: &mut Tx, id: &AccountId) -> sqlx::Result<Option<Credentials>> {
    let lock = crate::for_update!(tx, "SELECT id FROM accounts WHERE id = $1");
    let found = sqlx::query(lock)
        .bind(id.as_str())
        .fetch_optional(tx.conn())
        .await?;
    if found.is_none() {
        return Ok(None);
    }
    sqlx::query(credentials_sql!("WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(tx.conn())
        .await?
        .as_ref()
        .map(credentials)
        .transpose()
}

/// An account, its row locked until the transaction ends (PostgreSQL; SQLite
/// holds the write lock already), for a change decided on its current state.
pub async fn lock_account(tx: &mut Tx, id: &AccountId) -> sqlx::Result<Account> {
    let sql = crate::for_update!(
        tx,
        "SELECT id, email, display_name, is_admin, disabled_at, password_hash, created_at FROM accounts WHERE id = $1"
    );
    account(
        &sqlx::query(sql)
            .bind(id.as_str())
            .fetch_one(tx.conn())
            .await?,
    )
}

pub async fn email_of<'e>(
    db: impl Executor<'e, Database = sqlx::Any>,
    id: &AccountId,
) -> sqlx::Result<String> {
    sqlx::query("SELECT email FROM accounts WHERE id = $1")
        .bind(id.as_str())
        .fetch_one(db)
        .await?
        .try_get(0)
}

pub async fn set_password(tx: &mut Tx, id: &AccountId, hash: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now)
        .bind(id.as_str())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Replaces the password only if it is still `old` (the one just verified):
/// a reset or change committed meanwhile is not overwritten. True if replaced.
pub async fn replace_password(
    tx: &mut Tx,
    id: &AccountId,
    old: &str,
    new: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE accounts SET password_hash = $1, password_changed_at = $2 WHERE id = $3 AND password_hash = $4",
    )
    .bind(new)
    .bind(now)
    .bind(id.as_str())
    .bind(old)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_disabled(tx: &mut Tx, id: &AccountId, at: Option<i64>) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET disabled_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id.as_str())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn set_admin(tx: &mut Tx, id: &AccountId, is_admin: bool) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET is_admin = $1 WHERE id = $2")
        .bind(is_admin as i16)
        .bind(id.as_str())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn count_active_admins<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> sqlx::Result<i64> {
    sqlx::query("SELECT COUNT(*) FROM accounts WHERE is_admin = 1 AND disabled_at IS NULL AND password_hash IS NOT NULL")
        .fetch_one(db)
        .await?
        .try_get(0)
}

/// Memberships from rows ordered by study, whose columns from `at` are
/// (study id, role, site id), with NULLs for an account without any.
fn memberships(rows: &[AnyRow], at: usize) -> sqlx::Result<Vec<Membership>> {
    let mut out: Vec<Membership> = Vec::new();
    for r in rows {
        let Some(study) = r.try_get::<Option<StudyId>, _>(at)? else {
            continue;
        };
        let role_text: String = r.try_get(at + 1)?;
        let role = Role::parse(&role_text)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role_text}").into()))?;
        let site: Option<SiteId> = r.try_get(at + 2)?;
        match out.last_mut() {
            Some(m) if m.study_id == study => m.sites.extend(site),
            _ => out.push(Membership {
                study_id: study,
                role,
                sites: site.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

/// Who an account is, as a request acts: name, admin flag, memberships.
pub struct ActorRow {
    pub account_id: AccountId,
    pub display_name: String,
    pub is_admin: bool,
    pub memberships: Vec<Membership>,
}

// Sessions

pub struct SessionRow {
    pub account_id: AccountId,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub password_change_due: bool,
    /// The account has a confirmed second factor.
    pub second_factor: bool,
}

pub async fn insert_session(
    tx: &mut Tx,
    hash: &str,
    account: &AccountId,
    now: i64,
    expires_at: i64,
    password_change_due: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, account_id, created_at, last_seen_at, expires_at, password_change_due)
         VALUES ($1, $2, $3, $3, $4, $5)",
    )
    .bind(hash)
    .bind(account.as_str())
    .bind(now)
    .bind(expires_at)
    .bind(password_change_due as i16)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A live session (not revoked, its account not disabled) with its account
/// and memberships, in one round trip.
pub async fn live_session(
    pool: &AnyPool,
    hash: &str,
) -> sqlx::Result<Option<(SessionRow, ActorRow)>> {
    let rows = sqlx::query(
        "SELECT s.account_id, s.created_at, s.last_seen_at, s.expires_at, a.display_name, a.is_admin,
                s.password_change_due,
                (SELECT COUNT(*) FROM second_factors f WHERE f.account_id = s.account_id AND f.confirmed_at IS NOT NULL),
                m.study_id, m.role, ms.site_id
         FROM sessions s JOIN accounts a ON a.id = s.account_id
         LEFT JOIN memberships m ON m.account_id = s.account_id
         LEFT JOIN membership_sites ms ON ms.membership_id = m.id
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND a.disabled_at IS NULL
         ORDER BY m.study_id",
    )
    .bind(hash)
    .fetch_all(pool)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let session = SessionRow {
        account_id: first.try_get(0)?,
        created_at: first.try_get(1)?,
        last_seen_at: first.try_get(2)?,
        expires_at: first.try_get(3)?,
        password_change_due: flag(first.try_get(6)?),
        second_factor: first.try_get::<i64, _>(7)? > 0,
    };
    let actor = ActorRow {
        account_id: session.account_id.clone(),
        display_name: first.try_get(4)?,
        is_admin: flag(first.try_get(5)?),
        memberships: memberships(&rows, 8)?,
    };
    Ok(Some((session, actor)))
}

pub async fn touch_session(pool: &AnyPool, hash: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
        .bind(now)
        .bind(hash)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn revoke_session(tx: &mut Tx, hash: &str, now: i64) -> sqlx::Result<Option<AccountId>> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL RETURNING account_id")
        .bind(now)
        .bind(hash)
        .fetch_optional(tx.conn())
        .await?
        .map(|r| Ok(AccountId::from_db(r.try_get(0)?)))
        .transpose()
}

/// Ends every session of the account, and cancels its sign-ins waiting for
/// a second step.
pub async fn revoke_sessions_of(tx: &mut Tx, account: &AccountId, now: i64) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE pending_sign_ins SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(account.as_str())
    .execute(tx.conn())
    .await?;
    Ok(sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(account.as_str())
    .execute(tx.conn())
    .await?
    .rows_affected())
}

// Sign-in throttling

/// Counts one attempt, before its password is checked, in one statement: N
/// attempts at once from any number of instances count N. An attempt while
/// the key is blocked is not counted (it is refused unchecked, and must not
/// lengthen the block). A count older than `forget_before` starts again at 1.
/// Returns (attempts counted, blocked until); the row stays locked until commit.
pub async fn count_attempt(
    tx: &mut Tx,
    key: &str,
    now: i64,
    forget_before: i64,
) -> sqlx::Result<(i32, i64)> {
    let row = sqlx::query(
        "INSERT INTO login_throttle (throttle_key, attempts, last_failure_at, blocked_until) VALUES ($1, 1, $2, 0)
         ON CONFLICT (throttle_key) DO UPDATE SET
           attempts = CASE WHEN login_throttle.blocked_until > $2 THEN login_throttle.attempts
                           WHEN login_throttle.last_failure_at > $3 THEN login_throttle.attempts + 1
                           ELSE 1 END,
           last_failure_at = CASE WHEN login_throttle.blocked_until > $2 THEN login_throttle.last_failure_at
                                  ELSE $2 END
         RETURNING attempts, blocked_until",
    )
    .bind(key)
    .bind(now)
    .bind(forget_before)
    .fetch_one(tx.conn())
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

pub async fn set_throttle_block(tx: &mut Tx, key: &str, blocked_until: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE login_throttle SET blocked_until = $2 WHERE throttle_key = $1")
        .bind(key)
        .bind(blocked_until)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Gives back the attempt of a correct password, so an address counts
/// failures only; a block the attempt itself set is lifted with it.
pub async fn refund_attempt(tx: &mut Tx, key: &str, threshold: i32) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE login_throttle SET attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
             blocked_until = CASE WHEN attempts - 1 < $2 THEN 0 ELSE blocked_until END
         WHERE throttle_key = $1",
    )
    .bind(key)
    .bind(threshold)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn clear_throttle(tx: &mut Tx, key: &str) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1")
            .bind(key)
            .execute(tx.conn())
            .await?
            .rows_affected(),
    )
}

// One-time links (setup, invitation, password reset)

pub async fn insert_link(
    tx: &mut Tx,
    hash: &str,
    purpose: &str,
    account: Option<&AccountId>,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO one_time_tokens (token_hash, purpose, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash)
    .bind(purpose)
    .bind(account.map(AccountId::as_str))
    .bind(now)
    .bind(expires_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The account of a link that is still usable (for showing its form): None if
/// the link is unknown, used or expired; Some(None) for a link with no account.
pub async fn usable_link(
    pool: &AnyPool,
    hash: &str,
    purpose: &str,
    now: i64,
) -> sqlx::Result<Option<Option<AccountId>>> {
    sqlx::query(
        "SELECT account_id FROM one_time_tokens WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(hash)
    .bind(purpose)
    .bind(now)
    .fetch_optional(pool)
    .await?
    .map(|r| Ok(r.try_get::<Option<String>, _>(0)?.map(AccountId::from_db)))
    .transpose()
}

/// Uses a link up, atomically: a second use, or a use after expiry, finds nothing.
/// The outer Option is whether the link was usable; the inner one its account.
pub async fn use_link(
    tx: &mut Tx,
    hash: &str,
    purpose: &str,
    now: i64,
) -> sqlx::Result<Option<Option<AccountId>>> {
    sqlx::query(
        "UPDATE one_time_tokens SET used_at = $1
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
         RETURNING account_id",
    )
    .bind(now)
    .bind(hash)
    .bind(purpose)
    .fetch_optional(tx.conn())
    .await?
    .map(|r| Ok(r.try_get::<Option<String>, _>(0)?.map(AccountId::from_db)))
    .transpose()
}

/// Cancels the unused links of one purpose for an account (a newer one replaces them).
pub async fn cancel_links(
    tx: &mut Tx,
    account: Option<&AccountId>,
    purpose: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE one_time_tokens SET used_at = $1
         WHERE purpose = $2 AND used_at IS NULL AND (account_id = $3 OR ($3 IS NULL AND account_id IS NULL))",
    )
    .bind(now)
    .bind(purpose)
    .bind(account.map(AccountId::as_str))
    .execute(tx.conn())
    .await?;
    Ok(())
}

// API tokens

pub struct TokenRow {
    pub id: ApiTokenId,
    pub account_id: AccountId,
    pub study_id: StudyId,
    pub name: String,
    pub permissions: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

fn token(r: &AnyRow) -> sqlx::Result<TokenRow> {
    Ok(TokenRow {
        id: r.try_get(0)?,
        account_id: r.try_get(1)?,
        study_id: r.try_get(2)?,
        name: r.try_get(3)?,
        permissions: r.try_get(4)?,
        created_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        revoked_at: r.try_get(7)?,
        last_used_at: r.try_get(8)?,
    })
}

pub async fn insert_token(tx: &mut Tx, t: &TokenRow, hash: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, account_id, study_id, name, permissions, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&t.id)
    .bind(&t.account_id)
    .bind(&t.study_id)
    .bind(&t.name)
    .bind(&t.permissions)
    .bind(hash)
    .bind(t.created_at)
    .bind(t.expires_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// An API token with its account (not disabled) and the account's
/// memberships, in one round trip.
pub async fn token_by_hash(
    pool: &AnyPool,
    hash: &str,
) -> sqlx::Result<Option<(TokenRow, ActorRow)>> {
    let rows = sqlx::query(
        "SELECT t.id, t.account_id, t.study_id, t.name, t.permissions, t.created_at, t.expires_at, t.revoked_at,
                t.last_used_at, a.display_name, a.is_admin, m.study_id, m.role, ms.site_id
         FROM api_tokens t JOIN accounts a ON a.id = t.account_id
         LEFT JOIN memberships m ON m.account_id = t.account_id
         LEFT JOIN membership_sites ms ON ms.membership_id = m.id
         WHERE t.token_hash = $1 AND a.disabled_at IS NULL
         ORDER BY m.study_id",
    )
    .bind(hash)
    .fetch_all(pool)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let t = token(first)?;
    let actor = ActorRow {
        account_id: t.account_id.clone(),
        display_name: first.try_get(9)?,
        is_admin: flag(first.try_get(10)?),
        memberships: memberships(&rows, 11)?,
    };
    Ok(Some((t, actor)))
}

pub async fn tokens_of(pool: &AnyPool, account: &AccountId) -> sqlx::Result<Vec<TokenRow>> {
    sqlx::query(
        "SELECT id, account_id, study_id, name, permissions, created_at, expires_at, revoked_at, last_used_at
         FROM api_tokens WHERE account_id = $1 ORDER BY created_at DESC",
    )
    .bind(account.as_str())
    .fetch_all(pool)
    .await?
    .iter()
    .map(token)
    .collect()
}

pub async fn revoke_token(
    tx: &mut Tx,
    id: &ApiTokenId,
    account: &AccountId,
    now: i64,
) -> sqlx::Result<bool> {
    Ok(sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(id)
        .bind(account.as_str())
        .execute(tx.conn())
        .await?
        .rows_affected()
        == 1)
}

pub async fn touch_token(tx: &mut Tx, id: &ApiTokenId, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}
