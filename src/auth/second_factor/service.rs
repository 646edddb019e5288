//! Enrolling a TOTP, the second step of sign-in, recovery codes, turning the
//! factor off, and the checks they share. Every code is checked inside the
//! transaction that holds the account's row lock, after the attempt was
//! counted in a transaction of its own: parallel guesses each cost an
//! attempt, and parallel submissions of one valid code find the step it
//! belongs to already used, so only one of them succeeds.

use super::model::{self, TotpSecret};
use super::store;
use crate::app::App;
use crate::audit::{self, Action, Entity, NewEntry};
use crate::auth::model::{Actor, Credential};
use crate::auth::policy::{second_factor_offered, second_factor_required};
use crate::auth::service::{
    count_first, new_secret, secret_hash, start_session, NewSession, ACCOUNT_THRESHOLD,
};
use crate::auth::store as accounts;
use crate::clock::MINUTE;
use crate::db::Tx;
use crate::error::{AppError, Result};
use crate::ids::AccountId;

pub const PENDING_PREFIX: &str = "fkp_";
/// How long the second step may take after the password step.
const PENDING_LIFETIME: i64 = 5 * MINUTE;
const SEALED_IN: (&str, &str) = ("second_factors", "totp_secret");

fn throttle_key(account: &AccountId) -> String {
    format!("second-factor:{account}")
}

fn recovery_hash(app: &App, account: &AccountId, code: &str) -> String {
    let normal = model::normalise_recovery_code(code);
    app.keys
        .mac("recovery-code", format!("{account}:{normal}").as_bytes())
}

fn seal(app: &App, account: &AccountId, secret: &TotpSecret) -> String {
    app.vault
        .seal(SEALED_IN.0, SEALED_IN.1, account.as_str(), &secret.base32())
}

fn open(app: &App, account: &AccountId, sealed: &str) -> Result<TotpSecret> {
    let text = app
        .vault
        .open(SEALED_IN.0, SEALED_IN.1, account.as_str(), sealed)
        .map_err(AppError::internal)?;
    TotpSecret::from_base32(&text)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("a sealed TOTP secret is not base32")))
}

fn wrong_code() -> AppError {
    AppError::invalid(
        "code",
        "That code is not right, or it was used already. Enter the 6-digit code your app shows now, or an unused recovery code.",
    )
}

/// Starts a pending sign-in for an account whose password was just
/// accepted, inside the sign-in's transaction. Returns its secret.
pub(crate) async fn begin_pending(
    app: &App,
    tx: &mut Tx,
    account: &AccountId,
    password_change_due: bool,
) -> Result<(String, i64)> {
    let token = new_secret(PENDING_PREFIX);
    let now = app.now();
    let expires = now + PENDING_LIFETIME;
    store::insert_pending(
        tx,
        &secret_hash(&token),
        account,
        password_change_due,
        now,
        expires,
    )
    .await?;
    Ok((token, expires))
}

/// What a code proved.
enum Proof {
    Totp,
    RecoveryCode,
}

impl Proof {
    fn as_str(&self) -> &'static str {
        match self {
            Proof::Totp => "totp",
            Proof::RecoveryCode => "recovery_code",
        }
    }
}

/// Which codes a check accepts.
#[derive(PartialEq)]
enum Accepting {
    /// The first code of an enrolment that waits for it.
    EnrolmentCode,
    /// A code of a confirmed factor, or one of its recovery codes.
    AnyCode,
}

/// Counts the attempt, then, in a transaction holding the account's lock,
/// checks the code and uses it up (the TOTP step is recorded, a recovery
/// code marked used). A wrong code is audited and its count kept. On
/// success the transaction is returned open, so what the code allows
/// commits with it.
async fn check_code(
    app: &App,
    account: &AccountId,
    code: &str,
    accepting: Accepting,
) -> Result<(Tx, Proof, &'static str)> {
    let key = throttle_key(account);
    count_first(app, &[(&key, ACCOUNT_THRESHOLD)]).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let creds = accounts::lock_credentials(&mut tx, account)
        .await?
        .filter(|c| !c.disabled)
        .ok_or(AppError::Unauthenticated)?;
    let factor = store::factor(&mut tx, account).await?;
    let proof = match factor {
        Some(f) if f.confirmed == (accepting == Accepting::AnyCode) => {
            let secret = open(app, account, &f.sealed_secret)?;
            match secret.accepted_step(code, now, f.last_step) {
                Some(step) => {
                    store::accept_step(&mut tx, account, step, now).await?;
                    Some(Proof::Totp)
                }
                None if f.confirmed => {
                    let hash = recovery_hash(app, account, code);
                    store::use_recovery_code(&mut tx, account, &hash, now)
                        .await?
                        .then_some(Proof::RecoveryCode)
                }
                None => None,
            }
        }
        Some(_) | None if accepting == Accepting::EnrolmentCode => {
            return Err(AppError::Conflict(
                "There is no second factor waiting to be confirmed. Start setting one up first."
                    .into(),
            ))
        }
        _ => {
            return Err(AppError::Conflict(
                "You have no second factor set up.".into(),
            ))
        }
    };
    let role = if creds.is_admin { "admin" } else { "account" };
    let Some(proof) = proof else {
        let entry = NewEntry::by_account(
            account,
            role,
            Action::SecondFactorFailed,
            Entity::Account(account.clone()),
        );
        audit::append(&mut tx, now, entry).await?;
        tx.commit().await?;
        return Err(wrong_code());
    };
    accounts::clear_throttle(&mut tx, &key).await?;
    Ok((tx, proof, role))
}

/// The second step of sign-in: a pending sign-in's secret and a code. The
/// session starts in the transaction that accepted the code.
pub async fn complete_sign_in(app: &App, pending: &str, code: &str) -> Result<NewSession> {
    let hash = secret_hash(pending);
    let expired = || {
        AppError::Forbidden(
            "This sign-in has expired or was already completed. Sign in again with your password."
                .into(),
        )
    };
    let account = store::pending_account(&app.db.pool, &hash, app.now())
        .await?
        .ok_or_else(expired)?;
    let (mut tx, proof, role) = check_code(app, &account, code, Accepting::AnyCode).await?;
    let Some(password_change_due) = store::use_pending(&mut tx, &hash, app.now()).await? else {
        return Err(expired());
    };
    let session = start_session(app, &mut tx, &account, password_change_due).await?;
    let action = Action::Login {
        second_factor: Some(proof.as_str()),
    };
    let entry = NewEntry::by_account(&account, role, action, Entity::Account(account.clone()));
    audit::append(&mut tx, app.now(), entry).await?;
    tx.commit().await?;
    Ok(session)
}

fn signed_in_staff(actor: &Actor) -> Result<()> {
    if !matches!(actor.credential, Credential::Session) {
        return Err(AppError::Forbidden(
            "A second factor can only be managed when signed in, not with an API token.".into(),
        ));
    }
    if !second_factor_offered(actor) {
        return Err(AppError::Forbidden(
            "Participants' accounts do not use a second factor.".into(),
        ));
    }
    Ok(())
}

/// A TOTP waiting for its first code: what the person's app needs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Enrolment {
    /// Base32, for typing into the app by hand.
    pub secret: String,
    pub otpauth_uri: String,
    /// The same URI as a QR code, an inline SVG element.
    pub qr_svg: String,
}

fn enrolment(secret: &TotpSecret, email: &str) -> Enrolment {
    let otpauth_uri = secret.otpauth_uri(email);
    Enrolment {
        secret: secret.base32(),
        qr_svg: model::qr_svg(&otpauth_uri),
        otpauth_uri,
    }
}

/// Starts setting up a TOTP: a new secret, waiting for its first code
/// before it takes effect. Refused while a confirmed one exists.
pub async fn start_enrolment(app: &App, actor: &Actor) -> Result<Enrolment> {
    signed_in_staff(actor)?;
    let secret = TotpSecret::generate();
    let sealed = seal(app, &actor.account_id, &secret);
    let mut tx = app.db.begin().await?;
    let creds = accounts::lock_credentials(&mut tx, &actor.account_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if store::factor(&mut tx, &actor.account_id)
        .await?
        .is_some_and(|f| f.confirmed)
    {
        return Err(AppError::Conflict(
            "You already have a second factor. Turn it off first to set up another.".into(),
        ));
    }
    store::begin_enrolment(&mut tx, &actor.account_id, &sealed, app.now()).await?;
    tx.commit().await?;
    Ok(enrolment(&secret, &creds.email))
}

/// Where the person stands, for their account page.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Standing {
    pub required: bool,
    pub enrolled: bool,
    pub recovery_codes_left: i64,
    /// An enrolment waiting for its first code.
    pub waiting: Option<Enrolment>,
}

pub async fn standing(app: &App, actor: &Actor) -> Result<Standing> {
    signed_in_staff(actor)?;
    let waiting = match store::unconfirmed_secret(&app.db.pool, &actor.account_id).await? {
        Some(sealed) if !actor.second_factor => {
            let email = accounts::email_of(&app.db.pool, &actor.account_id).await?;
            Some(enrolment(&open(app, &actor.account_id, &sealed)?, &email))
        }
        _ => None,
    };
    Ok(Standing {
        required: second_factor_required(actor),
        enrolled: actor.second_factor,
        recovery_codes_left: store::unused_recovery_codes(&app.db.pool, &actor.account_id).await?,
        waiting,
    })
}

async fn issue_recovery_codes(app: &App, tx: &mut Tx, account: &AccountId) -> Result<Vec<String>> {
    let codes = model::new_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| recovery_hash(app, account, c))
        .collect();
    store::replace_recovery_codes(tx, account, &hashes, app.now()).await?;
    Ok(codes)
}

/// Confirms an enrolment with its first code; the factor takes effect and
/// ten recovery codes are made, returned once and stored only hashed.
pub async fn confirm_enrolment(app: &App, actor: &Actor, code: &str) -> Result<Vec<String>> {
    signed_in_staff(actor)?;
    let (mut tx, _, _) = check_code(app, &actor.account_id, code, Accepting::EnrolmentCode).await?;
    let codes = issue_recovery_codes(app, &mut tx, &actor.account_id).await?;
    let entry = NewEntry::by(
        actor,
        None,
        Action::SecondFactorEnrol,
        Entity::Account(actor.account_id.clone()),
    );
    audit::append(&mut tx, app.now(), entry).await?;
    tx.commit().await?;
    Ok(codes)
}

/// New recovery codes for old ones, proven with a current code.
pub async fn regenerate_recovery_codes(
    app: &App,
    actor: &Actor,
    code: &str,
) -> Result<Vec<String>> {
    signed_in_staff(actor)?;
    let (mut tx, _, _) = check_code(app, &actor.account_id, code, Accepting::AnyCode).await?;
    let codes = issue_recovery_codes(app, &mut tx, &actor.account_id).await?;
    let entry = NewEntry::by(
        actor,
        None,
        Action::RecoveryCodesRenew,
        Entity::Account(actor.account_id.clone()),
    );
    audit::append(&mut tx, app.now(), entry).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Turns one's own second factor off, proven with a current code; refused
/// when the policy requires one.
pub async fn turn_off(app: &App, actor: &Actor, code: &str) -> Result<()> {
    signed_in_staff(actor)?;
    if second_factor_required(actor) {
        return Err(AppError::Forbidden(
            "Your role needs a second factor, so it cannot be turned off. An administrator can reset it if you lose your device.".into(),
        ));
    }
    let (mut tx, _, _) = check_code(app, &actor.account_id, code, Accepting::AnyCode).await?;
    store::remove(&mut tx, &actor.account_id).await?;
    let entry = NewEntry::by(
        actor,
        None,
        Action::SecondFactorRemove,
        Entity::Account(actor.account_id.clone()),
    );
    audit::append(&mut tx, app.now(), entry).await?;
    tx.commit().await?;
    Ok(())
}

/// An administrator's reset, inside `change_account`'s transaction (the
/// account locked, its sessions and pending sign-ins ended there): the
/// factor and its recovery codes go. True if there was a factor.
pub(crate) async fn reset(tx: &mut Tx, account: &AccountId) -> Result<bool> {
    Ok(store::remove(tx, account).await?)
}
