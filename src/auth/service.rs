//! Sign-in, sessions, one-time links and account administration. Every use
//! case checks the policy, runs in one transaction and appends its audit
//! entry there. Emails and names never enter the audit trail: accounts are
//! named by id, unknown sign-in names by a keyed reference.
//!
//! Guessing a password is counted before the password is checked, in the
//! database, so fifty guesses sent at once cost fifty attempts on every
//! instance; and every check runs Argon2 against a hash, a real one or a
//! dummy, so the answer time does not tell whether an account exists.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::model::{Account, Actor, Credential, Email, Permission};
use super::password::{NewPassword, MIN_CHARS_ALONE};
use super::policy::{permits, require_instance, require_study, Scope};
use super::{second_factor, store};
use crate::app::App;
use crate::audit::action::{AdminFlag, Change, Disabled, NewToken, Via};
use crate::audit::{self, Action, Entity, NewEntry};
use crate::clock::{DAY, HOUR, MINUTE, SECOND};
use crate::db::Tx;
use crate::error::{AppError, Result};
use crate::ids::{AccountId, ApiTokenId, StudyId};
use crate::mail::Template;

pub const SESSION_PREFIX: &str = "fks_";
pub const API_TOKEN_PREFIX: &str = "fkt_";
const LINK_PREFIX: &str = "fkl_";

/// 256 random bits, URL-safe, with a prefix saying what the secret is.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Secrets are stored only as this hash.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn parse_email(raw: &str) -> Result<Email> {
    Email::parse(raw).map_err(|e| AppError::invalid("email", e))
}

/// A password accepted because the account had a second factor is refused
/// if the factor was removed since (turned off, or reset by an
/// administrator): checked with the account row locked, in the transaction
/// that stores the password.
async fn confirm_second_factor_still_there(
    tx: &mut Tx,
    account: &AccountId,
    field: &str,
    relies_on_it: bool,
) -> Result<()> {
    if !relies_on_it {
        return Ok(());
    }
    let creds = store::lock_credentials(tx, account)
        .await?
        .ok_or(AppError::NotFound)?;
    match creds.has_second_factor {
        true => Ok(()),
        false => Err(AppError::invalid(
            field,
            format!("Your second factor was removed just now, so a password must be at least {MIN_CHARS_ALONE} characters. Choose a longer one."),
        )),
    }
}

/// The password policy, with the reason as a problem on `field`.
fn parse_password(
    field: &str,
    raw: &str,
    context: &[&str],
    second_factor: bool,
) -> Result<NewPassword> {
    NewPassword::parse(raw, context, second_factor).map_err(|e| AppError::invalid(field, e))
}

/// An unknown sign-in name as it may appear in the audit trail and throttle table.
fn email_ref(app: &App, email: &str) -> String {
    format!(
        "email-ref:{}",
        &app.keys.mac("email-ref", email.as_bytes())[..32]
    )
}

// Throttling: counters live in the database so every instance shares them.

pub(crate) const ACCOUNT_THRESHOLD: i32 = 5;
const ADDRESS_THRESHOLD: i32 = 30;
const FORGET_AFTER: i64 = DAY;
const MAX_BLOCK: i64 = HOUR;

fn account_key(app: &App, email: &str) -> String {
    format!(
        "account:{}",
        app.keys.mac("throttle-account", email.as_bytes())
    )
}

fn address_key(app: &App, address: &str) -> String {
    format!(
        "address:{}",
        app.keys.mac("throttle-address", address.as_bytes())
    )
}

/// The delay after `attempts` attempts: none below the threshold, then 30
/// seconds doubling with each further attempt, at most an hour.
pub fn block_for(attempts: i32, threshold: i32) -> i64 {
    if attempts < threshold {
        0
    } else {
        ((30 * SECOND) << (attempts - threshold).min(10)).min(MAX_BLOCK)
    }
}

/// Counts one attempt on each key inside `tx`, before anything is checked.
/// A key already blocked refuses the attempt (uncounted) with the wait.
async fn count_attempts(app: &App, tx: &mut Tx, keys: &[(&str, i32)]) -> Result<()> {
    let now = app.now();
    let mut wait = 0;
    for (key, threshold) in keys {
        let (attempts, blocked_until) =
            store::count_attempt(tx, key, now, now - FORGET_AFTER).await?;
        if blocked_until > now {
            wait = wait.max(blocked_until - now);
            continue;
        }
        // Below the threshold nothing is blocked, not even until `now`: an
        // attempt that read the clock a moment earlier would take that for a block.
        let until = match block_for(attempts, *threshold) {
            0 => 0,
            delay => now + delay,
        };
        store::set_throttle_block(tx, key, until).await?;
    }
    if wait > 0 {
        return Err(AppError::Throttled {
            retry_after_secs: ((wait + SECOND - 1) / SECOND) as u64,
        });
    }
    Ok(())
}

/// Counts the attempts in a transaction of their own, committed before the
/// password is checked, so every instance sees them at once. A refused
/// attempt is checked nowhere and so counts nowhere: if any key is blocked,
/// nothing is committed (a blocked address cannot keep an account blocked).
pub(crate) async fn count_first(app: &App, keys: &[(&str, i32)]) -> Result<()> {
    let mut tx = app.db.begin().await?;
    count_attempts(app, &mut tx, keys).await?;
    tx.commit().await?;
    Ok(())
}

/// A new session: the secret for the cookie or bearer header, and whose it is.
pub struct NewSession {
    pub token: String,
    pub account_id: AccountId,
    /// The password no longer meets the policy; the person is asked to change it.
    pub password_change_due: bool,
}

/// What a correct password leads to.
pub enum SignIn {
    /// Signed in: the account has no second factor.
    Session(NewSession),
    /// The account has a second factor: this secret and a code complete the
    /// sign-in (`second_factor::service::complete_sign_in`) before `expires_at`.
    SecondFactorNeeded { pending: String, expires_at: i64 },
}

/// Signs in. Unknown account, wrong password, disabled account and account not
/// yet activated all get the same answer after the same work. An account
/// with a second factor gets a pending sign-in instead of a session.
pub async fn login(
    app: &App,
    email_raw: &str,
    password: &str,
    client_address: &str,
) -> Result<SignIn> {
    let email = email_raw.trim().to_lowercase();
    let (acct_key, addr_key) = (account_key(app, &email), address_key(app, client_address));
    count_first(
        app,
        &[
            (&acct_key, ACCOUNT_THRESHOLD),
            (&addr_key, ADDRESS_THRESHOLD),
        ],
    )
    .await?;
    let creds = store::credentials_by_email(&app.db.pool, &email).await?;
    let usable = creds
        .as_ref()
        .filter(|c| !c.disabled && c.password_hash.is_some());
    let verified = app
        .hasher
        .verify(password, usable.and_then(|c| c.password_hash.clone()))
        .await?;
    // A rehash (Argon2) is computed before the transaction, not while it
    // holds the write lock.
    let fresh = match usable.filter(|_| verified.ok && verified.needs_rehash) {
        Some(_) => Some(
            app.hasher
                .hash(NewPassword::already_verified(password))
                .await?,
        ),
        None => None,
    };
    // Whether the password still meets today's policy: checked only once
    // it is known to be right, and only to ask for a change.
    let password_change_due = usable.filter(|_| verified.ok).is_some_and(|c| {
        NewPassword::parse(password, &[&c.email, &c.display_name], c.has_second_factor).is_err()
    });
    let now = app.now();
    let mut tx = app.db.begin().await?;
    // The password was checked outside the transaction: it counts only if,
    // with the account locked, it is still the account's and the account is
    // still enabled. Otherwise a sign-in racing a password change or reset
    // could start a session after the change ended them all.
    let account = match usable.filter(|_| verified.ok) {
        Some(c) => store::lock_credentials(&mut tx, &c.id)
            .await?
            .filter(|now| !now.disabled && now.password_hash == c.password_hash),
        None => None,
    };
    let Some(account) = account else {
        let entity = match &creds {
            Some(c) => Entity::Account(c.id.clone()),
            None => Entity::UnknownSignIn(email_ref(app, &email)),
        };
        let entry = NewEntry::anonymous(Action::LoginFailed, entity);
        audit::append(&mut tx, now, entry).await?;
        tx.commit().await?;
        return Err(AppError::Unauthenticated);
    };
    if let (Some(fresh), Some(old)) = (&fresh, &account.password_hash) {
        // Not replaced if the password changed meanwhile: nothing to upgrade.
        store::replace_password(&mut tx, &account.id, old, fresh, now).await?;
    }
    store::clear_throttle(&mut tx, &acct_key).await?;
    store::refund_attempt(&mut tx, &addr_key, ADDRESS_THRESHOLD).await?;
    // Whether a second step follows is decided on the locked row, so a
    // factor confirmed or reset meanwhile is taken into account.
    if account.has_second_factor {
        let (pending, expires_at) =
            second_factor::service::begin_pending(app, &mut tx, &account.id, password_change_due)
                .await?;
        tx.commit().await?;
        return Ok(SignIn::SecondFactorNeeded {
            pending,
            expires_at,
        });
    }
    let session = start_session(app, &mut tx, &account.id, password_change_due).await?;
    let role = if account.is_admin { "admin" } else { "account" };
    let action = Action::Login {
        second_factor: None,
    };
    let entry = NewEntry::by_account(
        &account.id,
        role,
        action,
        Entity::Account(account.id.clone()),
    );
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(SignIn::Session(session))
}

pub(crate) async fn start_session(
    app: &App,
    tx: &mut Tx,
    account: &AccountId,
    password_change_due: bool,
) -> Result<NewSession> {
    let token = new_secret(SESSION_PREFIX);
    let now = app.now();
    let expires = now + app.server.session_max_hours * HOUR;
    store::insert_session(
        tx,
        &secret_hash(&token),
        account,
        now,
        expires,
        password_change_due,
    )
    .await?;
    Ok(NewSession {
        token,
        account_id: account.clone(),
        password_change_due,
    })
}

/// Ends a session (on every instance, since sessions live in the database).
pub async fn logout(app: &App, token: &str) -> Result<()> {
    let mut tx = app.db.begin().await?;
    if let Some(account) = store::revoke_session(&mut tx, &secret_hash(token), app.now()).await? {
        let entry = NewEntry::by_account(
            &account,
            "account",
            Action::Logout,
            Entity::Account(account.clone()),
        );
        audit::append(&mut tx, app.now(), entry).await?;
    }
    tx.commit().await?;
    Ok(())
}

fn actor(
    row: store::ActorRow,
    credential: Credential,
    session: Option<&store::SessionRow>,
) -> Actor {
    Actor {
        account_id: row.account_id,
        display_name: row.display_name,
        is_admin: row.is_admin,
        memberships: row.memberships,
        credential,
        second_factor: session.is_some_and(|s| s.second_factor),
        password_change_due: session.is_some_and(|s| s.password_change_due),
    }
}

/// The actor behind a session secret, if the session is live: not revoked,
/// not idle too long, not past its absolute lifetime, account not disabled.
/// One query reads the session, the account and its roles.
pub async fn actor_for_session(app: &App, token: &str) -> Result<Option<Actor>> {
    if !token.starts_with(SESSION_PREFIX) {
        return Ok(None);
    }
    let hash = secret_hash(token);
    let Some((s, row)) = store::live_session(&app.db.pool, &hash).await? else {
        return Ok(None);
    };
    let now = app.now();
    let idle_limit = app.server.session_idle_minutes * MINUTE;
    if now >= s.expires_at || now - s.last_seen_at >= idle_limit || now < s.created_at {
        return Ok(None);
    }
    if now - s.last_seen_at > MINUTE {
        store::touch_session(&app.db.pool, &hash, now).await?;
    }
    Ok(Some(actor(row, Credential::Session, Some(&s))))
}

/// The actor behind an API token; every use is audited with the method and
/// the operation's route template (never the path as sent).
pub async fn actor_for_api_token(
    app: &App,
    token: &str,
    method: &'static str,
    route: &'static str,
) -> Result<Option<Actor>> {
    if !token.starts_with(API_TOKEN_PREFIX) {
        return Ok(None);
    }
    let Some((t, row)) = store::token_by_hash(&app.db.pool, &secret_hash(token)).await? else {
        return Ok(None);
    };
    let now = app.now();
    if t.revoked_at.is_some() || now >= t.expires_at {
        return Ok(None);
    }
    let permissions: Vec<Permission> =
        serde_json::from_str(&t.permissions).map_err(AppError::internal)?;
    let credential = Credential::ApiToken {
        id: t.id.clone(),
        study_id: t.study_id.clone(),
        permissions,
    };
    let actor = actor(row, credential, None);
    let mut tx = app.db.begin().await?;
    store::touch_token(&mut tx, &t.id, now).await?;
    let entry = NewEntry::by_in_study(
        &actor,
        &t.study_id,
        Action::TokenUsed { method, route },
        Entity::ApiToken(t.id.clone()),
    );
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(Some(actor))
}

// One-time links

#[derive(Clone, Copy)]
pub enum LinkPurpose {
    Setup,
    Invitation,
    PasswordReset,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Setup => "setup",
            LinkPurpose::Invitation => "invitation",
            LinkPurpose::PasswordReset => "password_reset",
        }
    }

    fn lifetime(self) -> i64 {
        match self {
            LinkPurpose::Setup | LinkPurpose::PasswordReset => HOUR,
            LinkPurpose::Invitation => 7 * DAY,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            LinkPurpose::Setup => "/setup",
            LinkPurpose::Invitation => "/invitation",
            LinkPurpose::PasswordReset => "/password-reset",
        }
    }
}

async fn issue_link(
    app: &App,
    tx: &mut Tx,
    purpose: LinkPurpose,
    account: Option<&AccountId>,
) -> Result<String> {
    let now = app.now();
    store::cancel_links(tx, account, purpose.as_str(), now).await?;
    let secret = new_secret(LINK_PREFIX);
    store::insert_link(
        tx,
        &secret_hash(&secret),
        purpose.as_str(),
        account,
        now,
        now + purpose.lifetime(),
    )
    .await?;
    Ok(app
        .server
        .link(&format!("{}?token={secret}", purpose.path())))
}

fn link_refused() -> AppError {
    AppError::Forbidden("This link has expired or has already been used.".into())
}

/// The account a link is for, if the link is still usable.
pub async fn check_link(
    app: &App,
    purpose: LinkPurpose,
    secret: &str,
) -> Result<Option<AccountId>> {
    store::usable_link(
        &app.db.pool,
        &secret_hash(secret),
        purpose.as_str(),
        app.now(),
    )
    .await?
    .ok_or_else(link_refused)
}

async fn use_link(
    app: &App,
    tx: &mut Tx,
    purpose: LinkPurpose,
    secret: &str,
) -> Result<Option<AccountId>> {
    store::use_link(tx, &secret_hash(secret), purpose.as_str(), app.now())
        .await?
        .ok_or_else(link_refused)
}

/// While no administrator exists, makes a fresh one-hour setup link (older ones
/// stop working) and returns it; otherwise None. The count is read inside the
/// transaction that issues the link.
pub async fn setup_link_if_needed(app: &App) -> Result<Option<String>> {
    let mut tx = app.db.begin().await?;
    audit::lock_trail(&mut tx).await?;
    if store::count_active_admins(tx.conn()).await? > 0 {
        return Ok(None);
    }
    let link = issue_link(app, &mut tx, LinkPurpose::Setup, None).await?;
    tx.commit().await?;
    Ok(Some(link))
}

/// Details for a new account.
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub is_admin: bool,
}

fn parse_new_account(new: &NewAccount<'_>) -> Result<(Email, String)> {
    let mut problems = Vec::new();
    let email = Email::parse(new.email)
        .map_err(|e| problems.push(("email", e)))
        .ok();
    let name = super::model::parse_display_name(new.display_name)
        .map_err(|e| problems.push(("display_name", e)))
        .ok();
    match (email, name) {
        (Some(e), Some(n)) => Ok((e, n)),
        _ => Err(AppError::Invalid(
            problems
                .into_iter()
                .map(|(f, d)| crate::error::FieldProblem {
                    field: f.into(),
                    detail: d,
                })
                .collect(),
        )),
    }
}

async fn insert_new_account(
    app: &App,
    tx: &mut Tx,
    email: &Email,
    name: &str,
    hash: Option<&str>,
    is_admin: bool,
) -> Result<AccountId> {
    let id = AccountId::new();
    store::insert_account(tx, &id, email.as_str(), name, hash, is_admin, app.now())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                AppError::Conflict("An account with this email address already exists.".into())
            } else {
                e.into()
            }
        })?;
    Ok(id)
}

/// Creates the first administrator through the setup link. The link is used
/// up and the "no administrator yet" rule checked in the same transaction.
pub async fn complete_setup(
    app: &App,
    secret: &str,
    new: NewAccount<'_>,
    password: &str,
) -> Result<AccountId> {
    check_link(app, LinkPurpose::Setup, secret).await?;
    let (email, name) = parse_new_account(&new)?;
    let password = parse_password("password", password, &[email.as_str(), &name], false)?;
    let hash = app.hasher.hash(password).await?;
    let mut tx = app.db.begin().await?;
    audit::lock_trail(&mut tx).await?;
    use_link(app, &mut tx, LinkPurpose::Setup, secret).await?;
    if store::count_active_admins(tx.conn()).await? > 0 {
        return Err(AppError::Conflict(
            "An administrator already exists; sign in instead.".into(),
        ));
    }
    let id = insert_new_account(app, &mut tx, &email, &name, Some(&hash), true).await?;
    let action = Action::AccountCreate {
        new: AdminFlag { is_admin: true },
        via: Via::SetupLink,
    };
    let entry = NewEntry::by_account(&id, "admin", action, Entity::Account(id.clone()));
    audit::append(&mut tx, app.now(), entry).await?;
    tx.commit().await?;
    Ok(id)
}

/// Creates an administrator from the command line (`fieldkit admin create`).
pub async fn create_admin_directly(
    app: &App,
    email: &str,
    name: &str,
    password: &str,
) -> Result<AccountId> {
    let (email, name) = parse_new_account(&NewAccount {
        email,
        display_name: name,
        is_admin: true,
    })?;
    let hash = app
        .hasher
        .hash(parse_password(
            "password",
            password,
            &[email.as_str(), &name],
            false,
        )?)
        .await?;
    let mut tx = app.db.begin().await?;
    let id = insert_new_account(app, &mut tx, &email, &name, Some(&hash), true).await?;
    let action = Action::AccountCreate {
        new: AdminFlag { is_admin: true },
        via: Via::CommandLine,
    };
    audit::append(
        &mut tx,
        app.now(),
        NewEntry::system(action, Entity::Account(id.clone())),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// An administrator invites someone: the account exists without a password until
/// the person follows the emailed link (valid 7 days) and chooses one.
pub async fn invite(app: &App, actor: &Actor, new: NewAccount<'_>) -> Result<AccountId> {
    require_instance(actor, Permission::ManageAccounts)?;
    let (email, name) = parse_new_account(&new)?;
    let mut tx = app.db.begin().await?;
    let id = insert_new_account(app, &mut tx, &email, &name, None, new.is_admin).await?;
    let link = issue_link(app, &mut tx, LinkPurpose::Invitation, Some(&id)).await?;
    app.mailer
        .enqueue(
            &mut tx,
            Template::Invitation,
            &email,
            "You have been invited to fieldkit",
            serde_json::json!({ "name": name, "link": link, "inviter": actor.display_name, "days": 7 }),
            None,
            app.now(),
        )
        .await?;
    let action = Action::AccountInvite {
        new: AdminFlag {
            is_admin: new.is_admin,
        },
    };
    let entry = NewEntry::by(actor, None, action, Entity::Account(id.clone()));
    audit::append(&mut tx, app.now(), entry).await?;
    tx.commit().await?;
    app.mailer.wake();
    Ok(id)
}

/// Sets a password through an invitation or reset link. All the account's
/// sessions end, and its sign-in throttle is cleared.
pub async fn set_password_by_link(
    app: &App,
    purpose: LinkPurpose,
    secret: &str,
    password: &str,
) -> Result<AccountId> {
    let account = check_link(app, purpose, secret)
        .await?
        .ok_or(AppError::NotFound)?;
    let creds = store::credentials_by_id(&app.db.pool, &account)
        .await?
        .ok_or(AppError::NotFound)?;
    let email = creds.email;
    let new = parse_password(
        "password",
        password,
        &[&email, &creds.display_name],
        creds.has_second_factor,
    )?;
    let relies = new.relies_on_second_factor();
    let hash = app.hasher.hash(new).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    confirm_second_factor_still_there(&mut tx, &account, "password", relies).await?;
    use_link(app, &mut tx, purpose, secret).await?;
    store::set_password(&mut tx, &account, &hash, now).await?;
    store::revoke_sessions_of(&mut tx, &account, now).await?;
    store::clear_throttle(&mut tx, &account_key(app, &email)).await?;
    let action = match purpose {
        LinkPurpose::Invitation => Action::AccountActivate,
        _ => Action::PasswordReset,
    };
    let entry = NewEntry::by_account(
        &account,
        "account",
        action,
        Entity::Account(account.clone()),
    );
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(account)
}

/// Sends a reset link if an active account has this address. The answer is the
/// same either way, so the form cannot be used to find out who has an account.
pub async fn request_password_reset(app: &App, email_raw: &str) -> Result<()> {
    let email = parse_email(email_raw)?;
    let Some(c) = store::credentials_by_email(&app.db.pool, email.as_str()).await? else {
        return Ok(());
    };
    if c.disabled || c.password_hash.is_none() {
        return Ok(());
    }
    let mut tx = app.db.begin().await?;
    let link = issue_link(app, &mut tx, LinkPurpose::PasswordReset, Some(&c.id)).await?;
    app.mailer
        .enqueue(
            &mut tx,
            Template::PasswordReset,
            &email,
            "Reset your fieldkit password",
            serde_json::json!({ "name": c.display_name, "link": link, "minutes": 60 }),
            None,
            app.now(),
        )
        .await?;
    let entry = NewEntry::anonymous(Action::PasswordResetRequested, Entity::Account(c.id));
    audit::append(&mut tx, app.now(), entry).await?;
    tx.commit().await?;
    app.mailer.wake();
    Ok(())
}

/// Changes one's own password; every session of the account ends. A guess at
/// the current password is a guess at the password: it is counted against the
/// account's sign-in throttle before it is checked, and a wrong one is audited.
pub async fn change_password(app: &App, actor: &Actor, current: &str, new: &str) -> Result<()> {
    if !matches!(actor.credential, Credential::Session) {
        return Err(AppError::Forbidden(
            "Passwords can only be changed when signed in, not with an API token.".into(),
        ));
    }
    let creds = store::credentials_by_id(&app.db.pool, &actor.account_id)
        .await?
        .ok_or(AppError::NotFound)?;
    // The new password is checked first: without a valid one nothing is
    // tried, so this is no oracle for the current password.
    let new = parse_password(
        "new_password",
        new,
        &[&creds.email, &creds.display_name],
        creds.has_second_factor,
    )?;
    let key = account_key(app, &creds.email);
    count_first(app, &[(&key, ACCOUNT_THRESHOLD)]).await?;
    let verified = app
        .hasher
        .verify(current, creds.password_hash.clone())
        .await?;
    let relies = new.relies_on_second_factor();
    let hash = match verified.ok {
        true => Some(app.hasher.hash(new).await?),
        false => None,
    };
    let now = app.now();
    let mut tx = app.db.begin().await?;
    if hash.is_some() {
        confirm_second_factor_still_there(&mut tx, &actor.account_id, "new_password", relies)
            .await?;
    }
    let entity = Entity::Account(actor.account_id.clone());
    let (Some(hash), Some(old)) = (hash, &creds.password_hash) else {
        let entry = NewEntry::by(actor, None, Action::PasswordChangeFailed, entity);
        audit::append(&mut tx, now, entry).await?;
        tx.commit().await?;
        return Err(AppError::invalid(
            "current_password",
            "That is not your current password.",
        ));
    };
    if !store::replace_password(&mut tx, &actor.account_id, old, &hash, now).await? {
        return Err(AppError::Conflict(
            "Your password was changed by another request just now. Sign in again and try once more."
                .into(),
        ));
    }
    store::clear_throttle(&mut tx, &key).await?;
    store::revoke_sessions_of(&mut tx, &actor.account_id, now).await?;
    let entry = NewEntry::by(actor, None, Action::PasswordChange, entity);
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// The signed-in person's own email address, for their account page.
pub async fn own_email(app: &App, actor: &Actor) -> Result<String> {
    Ok(store::email_of(&app.db.pool, &actor.account_id).await?)
}

/// Whether the actor administers accounts: before a form's values are read.
pub fn may_manage_accounts(actor: &Actor) -> Result<()> {
    require_instance(actor, Permission::ManageAccounts)
}

pub async fn list_accounts(app: &App, actor: &Actor) -> Result<Vec<Account>> {
    require_instance(actor, Permission::ManageAccounts)?;
    Ok(store::list_accounts(&app.db.pool).await?)
}

/// The changes an administrator can make to an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum AccountChange {
    Disable,
    Enable,
    GrantAdmin,
    RevokeAdmin,
    Unlock,
    /// Remove the person's second factor (they lost their device); needs a
    /// reason, and ends their sessions.
    ResetSecondFactor,
}

impl AccountChange {
    /// From a page's URL segment (`grant-admin`).
    pub fn parse(segment: &str) -> Option<AccountChange> {
        match segment {
            "disable" => Some(AccountChange::Disable),
            "enable" => Some(AccountChange::Enable),
            "grant-admin" => Some(AccountChange::GrantAdmin),
            "revoke-admin" => Some(AccountChange::RevokeAdmin),
            "unlock" => Some(AccountChange::Unlock),
            "reset-second-factor" => Some(AccountChange::ResetSecondFactor),
            _ => None,
        }
    }
}

/// A change that could leave the instance without an administrator.
fn could_leave_no_administrator(change: AccountChange) -> bool {
    matches!(change, AccountChange::Disable | AccountChange::RevokeAdmin)
}

/// Disables, enables, grants or revokes admin, or unlocks an account. The
/// account's state before the change is read inside the transaction.
pub async fn change_account(
    app: &App,
    actor: &Actor,
    id: &AccountId,
    change: AccountChange,
    reason: Option<&str>,
) -> Result<()> {
    require_instance(actor, Permission::ManageAccounts)?;
    let self_harm = could_leave_no_administrator(change) && id == &actor.account_id;
    if self_harm {
        return Err(AppError::Conflict(
            "You cannot disable your own account or remove your own administrator role.".into(),
        ));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if change == AccountChange::ResetSecondFactor && reason.is_none() {
        return Err(AppError::invalid(
            "reason",
            "Say why the second factor is being reset, for example how the person lost their device. It is kept in the audit trail.",
        ));
    }
    let now = app.now();
    let mut tx = app.db.begin().await?;
    if could_leave_no_administrator(change) {
        // Whether an administrator is left is a rule about the instance: two
        // administrators removing each other at once must not both succeed.
        // Under the trail's lock, the one acting must still be one.
        audit::lock_trail(&mut tx).await?;
        let acting = store::lock_account(&mut tx, &actor.account_id).await?;
        if !acting.is_admin || acting.disabled {
            return Err(AppError::Forbidden(
                "You are no longer an administrator.".into(),
            ));
        }
    }
    let before = store::lock_account(&mut tx, id).await?;
    let disabled = |old, new| Change {
        old: Disabled { disabled: old },
        new: Disabled { disabled: new },
    };
    let action = match change {
        AccountChange::Disable => {
            store::set_disabled(&mut tx, id, Some(now)).await?;
            store::revoke_sessions_of(&mut tx, id, now).await?;
            Action::AccountDisable(disabled(before.disabled, true))
        }
        AccountChange::Enable => {
            store::set_disabled(&mut tx, id, None).await?;
            Action::AccountEnable(disabled(before.disabled, false))
        }
        AccountChange::GrantAdmin | AccountChange::RevokeAdmin => {
            let is_admin = change == AccountChange::GrantAdmin;
            store::set_admin(&mut tx, id, is_admin).await?;
            Action::AccountRoleChange(Change {
                old: AdminFlag {
                    is_admin: before.is_admin,
                },
                new: AdminFlag { is_admin },
            })
        }
        AccountChange::Unlock => {
            let cleared = store::clear_throttle(&mut tx, &account_key(app, &before.email)).await?;
            Action::Unlock {
                cleared: cleared > 0,
            }
        }
        AccountChange::ResetSecondFactor => {
            store::revoke_sessions_of(&mut tx, id, now).await?;
            let had_one = second_factor::service::reset(&mut tx, id).await?;
            Action::SecondFactorReset { had_one }
        }
    };
    let entry = NewEntry::by(actor, None, action, Entity::Account(id.clone())).reason(reason);
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(())
}

// API tokens

#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub study_id: StudyId,
    pub name: String,
    pub permissions: Vec<Permission>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
    #[oai(skip_serializing_if_is_none)]
    pub last_used_at: Option<i64>,
}

fn api_token(t: store::TokenRow) -> ApiToken {
    ApiToken {
        id: t.id,
        study_id: t.study_id,
        name: t.name,
        permissions: serde_json::from_str(&t.permissions).unwrap_or_default(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked: t.revoked_at.is_some(),
        last_used_at: t.last_used_at,
    }
}

pub struct NewApiToken<'a> {
    pub study_id: &'a StudyId,
    pub name: &'a str,
    pub permissions: &'a [Permission],
    pub days: i64,
}

/// Creates a token for scripts, limited to one study and to permissions the
/// account has there now. The secret is shown once and stored only hashed.
pub async fn create_api_token(
    app: &App,
    actor: &Actor,
    new: NewApiToken<'_>,
) -> Result<(String, ApiToken)> {
    if !matches!(actor.credential, Credential::Session) {
        return Err(AppError::Forbidden(
            "API tokens can only be created when signed in.".into(),
        ));
    }
    // Access first: someone outside the study learns nothing from validation.
    require_study(actor, Permission::ViewStudy, new.study_id)?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid(
            "name",
            "Give the token a name of 1 to 100 characters, saying what uses it.",
        ));
    }
    if !(1..=365).contains(&new.days) {
        return Err(AppError::invalid(
            "days",
            "A token lasts from 1 to 365 days.",
        ));
    }
    if new.permissions.is_empty() {
        return Err(AppError::invalid(
            "permissions",
            "Choose at least one permission.",
        ));
    }
    if let Some(p) = new
        .permissions
        .iter()
        .find(|p| !permits(actor, **p, Scope::Study(new.study_id)))
    {
        return Err(AppError::invalid(
            "permissions",
            format!(
                "You cannot give a token a permission you do not have in this study: {}.",
                p.as_str()
            ),
        ));
    }
    let mut permissions = new.permissions.to_vec();
    permissions.sort_by_key(|p| p.as_str());
    permissions.dedup();
    let now = app.now();
    let row = store::TokenRow {
        id: ApiTokenId::new(),
        account_id: actor.account_id.clone(),
        study_id: new.study_id.clone(),
        name: name.to_owned(),
        permissions: serde_json::to_string(&permissions).map_err(AppError::internal)?,
        created_at: now,
        expires_at: now + new.days * DAY,
        revoked_at: None,
        last_used_at: None,
    };
    let secret = new_secret(API_TOKEN_PREFIX);
    let mut tx = app.db.begin().await?;
    // An administrator may name any study; the foreign key is what says the
    // study exists, so a missing one is "not found", not a server fault.
    store::insert_token(&mut tx, &row, &secret_hash(&secret))
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => AppError::NotFound,
            e => e.into(),
        })?;
    let action = Action::TokenCreate {
        new: NewToken {
            permissions: permissions.iter().map(|p| p.as_str()).collect(),
            expires_at: row.expires_at,
        },
    };
    let entry = NewEntry::by_in_study(
        actor,
        new.study_id,
        action,
        Entity::ApiToken(row.id.clone()),
    );
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok((secret, api_token(row)))
}

pub async fn list_api_tokens(app: &App, actor: &Actor) -> Result<Vec<ApiToken>> {
    Ok(store::tokens_of(&app.db.pool, &actor.account_id)
        .await?
        .into_iter()
        .map(api_token)
        .collect())
}

pub async fn revoke_api_token(app: &App, actor: &Actor, id: &ApiTokenId) -> Result<()> {
    let mut tx = app.db.begin().await?;
    if !store::revoke_token(&mut tx, id, &actor.account_id, app.now()).await? {
        return Err(AppError::NotFound);
    }
    let entry = NewEntry::by(
        actor,
        None,
        Action::TokenRevoke,
        Entity::ApiToken(id.clone()),
    );
    audit::append(&mut tx, app.now(), entry).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_grows_then_caps() {
        assert_eq!(block_for(4, 5), 0);
        assert_eq!(block_for(5, 5), 30 * SECOND);
        assert_eq!(block_for(6, 5), 60 * SECOND);
        assert_eq!(block_for(50, 5), HOUR);
    }

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let a = new_secret(SESSION_PREFIX);
        assert!(a.starts_with("fks_") && a.len() == 4 + 43);
        assert_ne!(a, new_secret(SESSION_PREFIX));
        assert_eq!(secret_hash(&a).len(), 64);
    }
}
