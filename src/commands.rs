//! What each command-line command does. main.rs parses; this runs.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{bail, Context};
use poem::listener::{Listener, TcpListener};

use crate::app::App;
use crate::auth::model::Actor;
use crate::clock::Clock;
use crate::config::{LogFormat, ServerConfig, Storage};
use crate::db::{Backend, Db};
use crate::error::AppError;
use crate::{audit, auth, consent, demo, http, instruments, mail, studies};

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIELDKIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,poem=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

/// `fieldkit serve`
pub async fn serve(storage: Storage, mut server: ServerConfig) -> anyhow::Result<()> {
    let acceptor = TcpListener::bind(server.bind.to_string())
        .into_acceptor()
        .await
        .with_context(|| format!("cannot listen on {}", server.bind))?;
    let addr = http::local_addr(&acceptor).context("no local address")?;
    if server.public_url.is_none() {
        server.public_url = Some(url::Url::parse(&format!("http://{addr}"))?);
    }
    let checkpoint_every = std::time::Duration::from_secs(server.checkpoint_minutes.max(1) * 60);
    let app = App::open(storage, server, Clock::system()).await?;
    load_definitions(&app).await?;
    let engine = match app.db.backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    println!(
        "fieldkit is running at {} ({engine}, data in {})",
        app.server.public_url(),
        app.storage.data_dir.display()
    );
    if app.server.smtp_url.is_none() {
        println!(
            "Email is written to files in {}",
            app.storage.outbox_dir().display()
        );
    }
    if let Some(link) = auth::service::setup_link_if_needed(&app).await? {
        println!("No administrator yet. Open this link within one hour to create the first one:\n  {link}");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sender = tokio::spawn(mail::run_sender(
        app.db.clone(),
        app.mailer.clone(),
        app.clock.clone(),
        stop_rx.clone(),
    ));
    let checkpoints = tokio::spawn(checkpoint_loop(app.clone(), checkpoint_every, stop_rx));
    http::serve(app, acceptor, shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    let _ = tokio::join!(sender, checkpoints);
    Ok(())
}

async fn checkpoint_loop(
    app: App,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = checkpoint_if_grown(&app).await {
            tracing::error!(error = %e, "could not sign an audit checkpoint");
        }
        // Media past its study's retention period is erased, and erased or
        // abandoned files are deleted.
        match crate::media::service::apply_retention(&app).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(erased = n, "media past its retention period erased"),
            Err(e) => tracing::error!(error = %e, "could not apply media retention"),
        }
    }
}

/// Signs a checkpoint when the trail grew, and verifies the whole trail when
/// the last full verification is a day old (checkpoints and page loads verify
/// only from the newest checkpoint on).
async fn checkpoint_if_grown(app: &App) -> anyhow::Result<()> {
    let size = audit::store::head_seq(&app.db.pool).await?;
    let signed = audit::store::newest_checkpoint_size(&app.db.pool).await?;
    if signed.is_none_or(|signed| size > signed) {
        // A refusal is logged and the daily verification still runs.
        if let Err(e) =
            audit::checkpoint_now(&app.db, &app.keys, &app.storage.audit_dir(), app.now()).await
        {
            tracing::error!(error = %e, "could not sign an audit checkpoint");
        }
    }
    let last_full = audit::service::last_full_verification(&app.db)
        .await?
        .map_or(i64::MIN, |v| v.at);
    if app.now() - last_full >= crate::clock::DAY {
        let report = audit::verify_database(
            &app.db,
            &app.keys.verifying_key(),
            &app.storage.audit_dir(),
            app.now(),
        )
        .await?;
        if let Some(problem) = report.problem {
            tracing::error!(problem, "the audit trail failed its daily verification");
        }
    }
    Ok(())
}

/// Checks the consent forms and instrument definitions and loads what is new; refuses (and
/// the server does not start) on any problem in any form.
pub async fn load_definitions(app: &App) -> anyhow::Result<()> {
    let forms =
        consent::forms::service::load_all(&app.db, &app.storage.consent_forms, app.now()).await?;
    // Publishing is news; finding everything as it was is not.
    if forms.loaded.is_empty() {
        tracing::debug!("{forms}");
    } else {
        tracing::info!("{forms}");
    }
    let instruments =
        instruments::catalogue::load(&app.db, app.storage.instruments_dir.as_deref(), app.now())
            .await?;
    if instruments.loaded.is_empty() && instruments.updated.is_empty() {
        tracing::debug!("{instruments}");
    } else {
        tracing::info!("{instruments}");
    }
    Ok(())
}

async fn open(storage: Storage) -> anyhow::Result<App> {
    App::open(storage, ServerConfig::from_env(), Clock::system()).await
}

/// `fieldkit migrate`: the database's structure, then the consent forms.
pub async fn migrate(storage: Storage) -> anyhow::Result<()> {
    let db = Db::connect(&storage.database_url()).await?;
    db.migrate().await?;
    let forms =
        consent::forms::service::load_all(&db, &storage.consent_forms, Clock::system().now_ms())
            .await?;
    let instruments = instruments::catalogue::load(
        &db,
        storage.instruments_dir.as_deref(),
        Clock::system().now_ms(),
    )
    .await?;
    println!("The database is up to date; {forms}; {instruments}.");
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (at least 12 characters): ")?;
        let second = rpassword::prompt_password("The same password again: ")?;
        if first != second {
            bail!("the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// `fieldkit admin create`
pub async fn admin_create(storage: Storage, email: &str, name: &str) -> anyhow::Result<()> {
    let app = open(storage).await?;
    let password = read_password()?;
    let id = auth::service::create_admin_directly(&app, email, name, &password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "Administrator created (account {id}). Sign in at {}/login",
        app.server.public_url().as_str().trim_end_matches('/')
    );
    Ok(())
}

/// `fieldkit audit verify` against the database, or offline against an exported log.
pub async fn audit_verify(
    storage: Storage,
    log: Option<&Path>,
    public_key: Option<&Path>,
) -> anyhow::Result<bool> {
    let report = match (log, public_key) {
        (Some(log), Some(key_file)) => {
            let key_text = std::fs::read_to_string(key_file)
                .with_context(|| format!("cannot read {}", key_file.display()))?;
            audit::verify_log_file(log, &crate::keys::parse_public_key(&key_text)?)?
        }
        (Some(_), None) | (None, Some(_)) => {
            bail!("give both --log and --public-key to verify an exported log")
        }
        (None, None) => {
            let app = open(storage).await?;
            audit::verify_database(
                &app.db,
                &app.keys.verifying_key(),
                &app.storage.audit_dir(),
                app.now(),
            )
            .await?
        }
    };
    match &report.problem {
        None => println!(
            "The audit trail is intact: {} entries, {} signed checkpoints checked.",
            report.entries, report.checkpoints_checked
        ),
        Some(p) => println!("The audit trail has been tampered with: {p}"),
    }
    Ok(report.valid)
}

/// `fieldkit audit export`
pub async fn audit_export(storage: Storage, out: &Path) -> anyhow::Result<()> {
    let app = open(storage).await?;
    let mut file = std::io::BufWriter::new(
        std::fs::File::create_new(out)
            .with_context(|| format!("cannot create {} (it must not exist yet)", out.display()))?,
    );
    let size = audit::export_log(&app.db, &app.storage.audit_dir(), &mut file).await?;
    file.flush()?;
    audit::service::record_export(&app.db, &Actor::command_line(), size, app.now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("Wrote {size} entries to {}. Check it anywhere with: fieldkit audit verify --log {} --public-key {}", out.display(), out.display(), app.storage.keys_dir().join("audit-signing.pub").display());
    Ok(())
}

/// `fieldkit audit checkpoint`
pub async fn audit_checkpoint(storage: Storage) -> anyhow::Result<()> {
    let app = open(storage).await?;
    let cp = audit::checkpoint_now(&app.db, &app.keys, &app.storage.audit_dir(), app.now()).await?;
    println!("Signed checkpoint: {} entries, root {}", cp.size, cp.root);
    Ok(())
}

/// `fieldkit consent-forms check`: the files only, no database.
pub fn consent_forms_check(storage: &Storage) -> anyhow::Result<bool> {
    let checked = consent::forms::service::check_folder(&storage.consent_forms)?;
    println!("{checked}");
    Ok(checked.problems.is_empty())
}

/// `fieldkit instruments check`: the shipped definitions and the
/// deployment's folder, no database.
pub fn instruments_check(storage: &Storage) -> anyhow::Result<bool> {
    let checked = instruments::catalogue::check(storage.instruments_dir.as_deref())?;
    println!("{checked}");
    Ok(checked.problems.is_empty())
}

/// `fieldkit backup`
pub async fn backup(storage: Storage, out: &Path) -> anyhow::Result<()> {
    let db = Db::connect(&storage.database_url()).await?;
    match db.backend {
        Backend::Postgres => bail!(
            "fieldkit does not copy PostgreSQL itself. Use PostgreSQL's own tool, for example:\n  pg_dump --format=custom --file={} \"$FIELDKIT_DATABASE_URL\"\nand keep a copy of {} (the keys) with it, stored apart.",
            out.display(),
            storage.keys_dir().display()
        ),
        Backend::Sqlite => {
            if out.exists() {
                bail!("{} already exists; choose a new file name", out.display());
            }
            let target = out.to_str().context("the backup path must be valid UTF-8")?;
            sqlx::query("VACUUM INTO $1").bind(target).execute(&db.pool).await.context("the backup failed")?;
            println!(
                "Backed up the database to {}. Keep a copy of {} (the keys) with it, stored apart: without them identities cannot be read and checkpoints cannot be checked.",
                out.display(),
                storage.keys_dir().display()
            );
            Ok(())
        }
    }
}

/// `fieldkit vault rotate-key`
pub async fn vault_rotate_key(storage: Storage) -> anyhow::Result<()> {
    let app = open(storage).await?;
    let report = crate::vault::rotate(&app).await?;
    let from = match report.from_versions.as_slice() {
        [] => String::new(),
        versions => format!(
            ", from key {}",
            versions
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    println!(
        "Re-encrypted identities: {}{from} to key {}; re-sealed media keys: {}. Keep the older keys: backups made before now need them to be read.",
        report.rows, report.to_version, report.media_keys
    );
    Ok(())
}

/// `fieldkit demo [--participants N]`
pub async fn demo(storage: Storage, participants: usize) -> anyhow::Result<()> {
    let app = open(storage).await?;
    let fail = |e: AppError| anyhow::anyhow!("{e}");
    let created = demo::fill(&app).await.map_err(fail)?;
    if created {
        println!("Added two clearly synthetic demonstration studies. Start the server and sign in as an administrator to look around.");
    } else if participants == 0 {
        println!("The demonstration studies are already here; nothing changed.");
    }
    if participants > 0 {
        let actor = Actor::command_line();
        let study = studies::service::studies_for(&app, &actor)
            .await
            .map_err(fail)?
            .into_iter()
            .find(|s| s.slug == demo::COLLEGE)
            .context("the recovery-college demonstration study is missing")?;
        let sites: Vec<_> = studies::service::sites(&app, &actor, &study.id)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|s| s.id)
            .collect();
        demo::participants(&app, &actor, &study.id, &sites, participants)
            .await
            .map_err(fail)?;
        println!(
            "Enrolled {participants} synthetic participants in \"{}\".",
            study.title
        );
    }
    Ok(())
}
