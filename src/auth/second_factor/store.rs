//! SQL for second factors, recovery codes and sign-ins waiting for their
//! second step. The TOTP secret arrives sealed; codes and pending secrets
//! arrive hashed.

use sqlx::{AnyPool, Row};

use crate::db::Tx;
use crate::ids::AccountId;

/// An account's TOTP, as stored.
pub struct FactorRow {
    pub sealed_secret: String,
    pub confirmed: bool,
    pub last_step: i64,
}

/// The account's factor; call with the account locked when deciding on it.
pub async fn factor(tx: &mut Tx, account: &AccountId) -> sqlx::Result<Option<FactorRow>> {
    sqlx::query(
        "SELECT totp_secret, confirmed_at, last_step FROM second_factors WHERE account_id = $1",
    )
    .bind(account.as_str())
    .fetch_optional(tx.conn())
    .await?
    .map(|r| {
        Ok(FactorRow {
            sealed_secret: r.try_get(0)?,
            confirmed: r.try_get::<Option<i64>, _>(1)?.is_some(),
            last_step: r.try_get(2)?,
        })
    })
    .transpose()
}

/// The sealed secret of an enrolment not yet confirmed, for showing it again.
pub async fn unconfirmed_secret(
    pool: &AnyPool,
    account: &AccountId,
) -> sqlx::Result<Option<String>> {
    sqlx::query(
        "SELECT totp_secret FROM second_factors WHERE account_id = $1 AND confirmed_at IS NULL",
    )
    .bind(account.as_str())
    .fetch_optional(pool)
    .await?
    .map(|r| r.try_get(0))
    .transpose()
}

/// Starts (or starts again) an enrolment with a new secret, unconfirmed.
pub async fn begin_enrolment(
    tx: &mut Tx,
    account: &AccountId,
    sealed_secret: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO second_factors (account_id, totp_secret, confirmed_at, last_step, created_at)
         VALUES ($1, $2, NULL, 0, $3)
         ON CONFLICT (account_id) DO UPDATE SET totp_secret = $2, confirmed_at = NULL, last_step = 0, created_at = $3",
    )
    .bind(account.as_str())
    .bind(sealed_secret)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records the accepted time step, and confirms an enrolment if it waited.
pub async fn accept_step(
    tx: &mut Tx,
    account: &AccountId,
    step: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE second_factors SET last_step = $2, confirmed_at = COALESCE(confirmed_at, $3) WHERE account_id = $1",
    )
    .bind(account.as_str())
    .bind(step)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Removes the account's factor and recovery codes; true if it had a factor.
pub async fn remove(tx: &mut Tx, account: &AccountId) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
        .bind(account.as_str())
        .execute(tx.conn())
        .await?;
    let removed = sqlx::query("DELETE FROM second_factors WHERE account_id = $1")
        .bind(account.as_str())
        .execute(tx.conn())
        .await?;
    Ok(removed.rows_affected() == 1)
}

/// Replaces the account's recovery codes with new ones (hashes).
pub async fn replace_recovery_codes(
    tx: &mut Tx,
    account: &AccountId,
    hashes: &[String],
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
        .bind(account.as_str())
        .execute(tx.conn())
        .await?;
    for hash in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (account_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(account.as_str())
        .bind(hash)
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// Uses a recovery code up, atomically: true only the first time.
pub async fn use_recovery_code(
    tx: &mut Tx,
    account: &AccountId,
    hash: &str,
    now: i64,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(account.as_str())
    .bind(hash)
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected()
        == 1)
}

pub async fn unused_recovery_codes(pool: &AnyPool, account: &AccountId) -> sqlx::Result<i64> {
    sqlx::query("SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL")
        .bind(account.as_str())
        .fetch_one(pool)
        .await?
        .try_get(0)
}

// Sign-ins waiting for their second step

pub async fn insert_pending(
    tx: &mut Tx,
    hash: &str,
    account: &AccountId,
    password_change_due: bool,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO pending_sign_ins (token_hash, account_id, password_change_due, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash)
    .bind(account.as_str())
    .bind(password_change_due as i16)
    .bind(now)
    .bind(expires_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The account of a pending sign-in still usable, for counting the attempt.
pub async fn pending_account(
    pool: &AnyPool,
    hash: &str,
    now: i64,
) -> sqlx::Result<Option<AccountId>> {
    sqlx::query(
        "SELECT account_id FROM pending_sign_ins WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(pool)
    .await?
    .map(|r| r.try_get(0))
    .transpose()
}

/// Uses a pending sign-in up, atomically; whether its session must be asked
/// to change the password. None if it was used, cancelled or expired meanwhile.
pub async fn use_pending(tx: &mut Tx, hash: &str, now: i64) -> sqlx::Result<Option<bool>> {
    sqlx::query(
        "UPDATE pending_sign_ins SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING password_change_due",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?
    .map(|r| Ok(crate::db::flag(r.try_get(0)?)))
    .transpose()
}
