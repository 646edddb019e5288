//! The command line: help that explains itself, start-up errors as one clear
//! line, `admin create`, `backup`, `demo`, a first run with no options, and
//! the two migration folders kept in lock-step.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::support::{
    fieldkit_command, fresh_postgres_url, run_fieldkit, serve_command, storage, storage_args,
    Engine, Run, Server, TempDir, PASSWORD,
};

/// Runs `fieldkit <args> <storage args>`.
async fn run_on(storage: &fieldkit::config::Storage, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = fieldkit_command(args);
    cmd.args(storage_args(storage));
    run_fieldkit(cmd, stdin).await
}

/// A failed command says why in one line on stderr, "fieldkit: ...", and
/// exits non-zero, without a panic or a backtrace.
#[track_caller]
fn assert_one_clear_line(run: &Run, needle: &str) {
    assert!(
        matches!(run.code, Some(code) if code != 0),
        "should fail: {run:?}"
    );
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {run:?}");
    assert!(lines[0].starts_with("fieldkit: "), "{run:?}");
    assert!(
        lines[0].contains(needle),
        "should mention {needle:?}: {run:?}"
    );
}

#[tokio::test]
async fn help_explains_every_command() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--help"],
            &[
                "tamper-evident trail",
                "serve",
                "audit",
                "--data-dir",
                "--database-url",
            ],
        ),
        (
            &["serve", "--help"],
            &["Start the server", "--bind", "--public-url", "--smtp-url"],
        ),
        (
            &["migrate", "--help"],
            &["Bring the database's structure up to date"],
        ),
        (
            &["admin", "create", "--help"],
            &["Create an administrator", "standard input", "--email"],
        ),
        (
            &["audit", "verify", "--help"],
            &["Names the first bad entry", "--log", "--public-key"],
        ),
        (
            &["audit", "export", "--help"],
            &["Write the whole audit trail", "must not exist yet"],
        ),
        (
            &["backup", "--help"],
            &["Copy the embedded database", "pg_dump", "--out"],
        ),
        (&["demo", "--help"], &["synthetic demonstration studies"]),
        (
            &["vault", "rotate-key", "--help"],
            &["re-encrypt every stored identity", "backups made before"],
        ),
    ];
    for (args, phrases) in cases {
        let run = run_fieldkit(fieldkit_command(args), None).await;
        assert_eq!(run.code, Some(0), "{args:?}: {run:?}");
        let text = run.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        for phrase in *phrases {
            assert!(
                text.contains(phrase),
                "`fieldkit {}` lacks {phrase:?}:\n{}",
                args.join(" "),
                run.stdout
            );
        }
    }
}

#[tokio::test]
async fn a_database_url_that_is_neither_sqlite_nor_postgres_is_refused_in_one_line() {
    let dir = TempDir::new();
    let mut cmd = fieldkit_command(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        "mysql://x",
    ]);
    cmd.arg("--data-dir").arg(&dir.0);
    let run = run_fieldkit(cmd, None).await;
    assert_one_clear_line(&run, "sqlite: or postgres:");
}

#[tokio::test]
async fn an_unreachable_database_is_reported_in_one_line_with_the_reason() {
    let dir = TempDir::new();
    let mut cmd = fieldkit_command(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        "postgres://root@127.0.0.1:1/nope",
    ]);
    cmd.arg("--data-dir").arg(&dir.0);
    let started = std::time::Instant::now();
    let run = run_fieldkit(cmd, None).await;
    assert_one_clear_line(&run, "cannot reach the database");
    assert!(
        run.stderr.to_lowercase().contains("refused"),
        "the reason is given: {run:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "a refused connection is reported at once, not after a pool timeout ({:?})",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_address_already_in_use_is_reported_in_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = TempDir::new();
    let mut cmd = fieldkit_command(&["serve", "--bind", &addr]);
    cmd.arg("--data-dir").arg(&dir.0);
    let run = run_fieldkit(cmd, None).await;
    assert_one_clear_line(&run, &addr);
    assert!(run.stderr.contains("in use"), "{run:?}");
}

#[tokio::test]
async fn a_key_file_others_can_read_is_refused_with_the_fix() {
    let dir = TempDir::new();
    let keys = dir.0.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = keys.join("secret.key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = fieldkit_command(&["serve", "--bind", "127.0.0.1:0"]);
    cmd.arg("--data-dir").arg(&dir.0);
    let run = run_fieldkit(cmd, None).await;
    assert_one_clear_line(&run, "chmod 600");
    assert!(run.stderr.contains(&key.display().to_string()), "{run:?}");
}

async fn admin_create_takes_the_password_on_stdin_and_the_admin_can_sign_in(engine: Engine) {
    let dir = TempDir::new();
    let Some(storage) = storage(engine, &dir).await else {
        return;
    };
    let email = format!("ada-{}@example.ac.uk", uuid::Uuid::new_v4().simple());
    let create = [
        "admin",
        "create",
        "--email",
        email.as_str(),
        "--name",
        "Ada Admin",
    ];

    let run = run_on(&storage, &create, Some("short pw\n")).await;
    assert_one_clear_line(&run, "at least 15 characters");

    let run = run_on(&storage, &create, Some(&format!("{PASSWORD}\n"))).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("Administrator created"), "{run:?}");
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));

    let server = Server::start(serve_command(&storage)).await;
    let http = reqwest::Client::new();
    let sign_in = |password: &str| {
        http.post(server.url("/api/v1/sessions"))
            .json(&json!({ "email": email, "password": password }))
            .send()
    };
    assert_eq!(
        sign_in("short pw").await.unwrap().status(),
        401,
        "the refused password was never set"
    );
    let r = sign_in(PASSWORD).await.unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .request(Method::GET, server.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["is_admin"], json!(true));
    assert_eq!(me["display_name"], json!("Ada Admin"));
    let (stdout, _) = server.stop();
    assert!(
        !stdout.contains("/setup?token="),
        "no setup link once an administrator exists:\n{stdout}"
    );
}

async fn backup_copies_sqlite_and_points_postgres_to_pg_dump(engine: Engine) {
    let dir = TempDir::new();
    let Some(storage) = storage(engine, &dir).await else {
        return;
    };
    let email = format!("ada-{}@example.ac.uk", uuid::Uuid::new_v4().simple());
    let run = run_on(
        &storage,
        &["admin", "create", "--email", &email],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let out = dir.0.join("backup.db");
    let out_arg = out.display().to_string();
    let run = run_on(&storage, &["backup", "--out", &out_arg], None).await;

    match engine {
        Engine::Postgres => {
            assert_ne!(run.code, Some(0), "{run:?}");
            assert!(run.stderr.starts_with("fieldkit: "), "{run:?}");
            assert!(run.stderr.contains("pg_dump"), "{run:?}");
            assert!(!out.exists());
        }
        Engine::Sqlite => {
            assert_eq!(run.code, Some(0), "{run:?}");
            let copy = fieldkit::db::Db::connect(&format!("sqlite://{out_arg}"))
                .await
                .unwrap();
            let check: String = sqlx::query("PRAGMA integrity_check")
                .fetch_one(&copy.pool)
                .await
                .unwrap()
                .get(0);
            assert_eq!(check, "ok");
            let emails: Vec<String> = sqlx::query("SELECT email FROM accounts")
                .fetch_all(&copy.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(emails, vec![email.clone()]);
            copy.pool.close().await;

            let before = std::fs::read(&out).unwrap();
            let run = run_on(&storage, &["backup", "--out", &out_arg], None).await;
            assert_one_clear_line(&run, "already exists");
            assert_eq!(
                std::fs::read(&out).unwrap(),
                before,
                "the old backup is untouched"
            );
        }
    }
}

/// One column of a query's rows, read on a connection of its own.
async fn column<T>(storage: &fieldkit::config::Storage, sql: &str) -> Vec<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    let db = fieldkit::db::Db::connect(&storage.database_url())
        .await
        .unwrap();
    let rows = sqlx::query(sql).fetch_all(&db.pool).await.unwrap();
    db.pool.close().await;
    rows.iter().map(|r| r.get(0)).collect()
}

async fn table_counts(storage: &fieldkit::config::Storage) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in ["studies", "sites", "teams", "audit_log"] {
        counts.extend(column::<i64>(storage, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    counts
}

async fn demo_adds_synthetic_studies_once_and_their_audit_entries_verify(engine: Engine) {
    let dir = TempDir::new();
    let Some(storage) = storage(engine, &dir).await else {
        return;
    };
    let run = run_on(&storage, &["demo"], None).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let titles: Vec<String> = column(&storage, "SELECT title FROM studies ORDER BY title").await;
    assert_eq!(titles.len(), 2, "{titles:?}");
    for title in &titles {
        assert!(title.to_lowercase().contains("synthetic"), "{title}");
    }
    let names: Vec<String> = column(
        &storage,
        "SELECT name FROM sites UNION ALL SELECT name FROM teams",
    )
    .await;
    assert!(!names.is_empty());
    for name in &names {
        assert!(
            name.contains("synthetic"),
            "every name says it is made up: {name}"
        );
    }

    let after_first = table_counts(&storage).await;
    let run = run_on(&storage, &["demo"], None).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("nothing changed"), "{run:?}");
    assert_eq!(
        table_counts(&storage).await,
        after_first,
        "a second run changes nothing"
    );

    // Synthetic participants, through the one enrolment path: codes in
    // sequence over both batches, names sealed, an audit entry each.
    let run = run_on(&storage, &["demo", "--participants", "520"], None).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("Enrolled 520 synthetic participants"),
        "{run:?}"
    );
    let codes: Vec<String> =
        column(&storage, "SELECT study_code FROM participants ORDER BY id").await;
    let expected: Vec<String> = (1..=520).map(|n| format!("DRC-{n:04}")).collect();
    assert_eq!(codes, expected);
    let sealed: Vec<i64> = column(
        &storage,
        "SELECT COUNT(*) FROM identities WHERE name_ct LIKE 'v1:%' AND name_ct NOT LIKE '%Synthetic%'",
    )
    .await;
    assert_eq!(sealed, [520]);

    let run = run_on(&storage, &["audit", "verify"], None).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("intact"), "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("{} entries", after_first[3] + 520)),
        "{run:?}"
    );
    let db = fieldkit::db::Db::connect(&storage.database_url())
        .await
        .unwrap();
    let key = std::fs::read_to_string(storage.keys_dir().join("audit-signing.pub")).unwrap();
    let report = fieldkit::audit::verify_database(
        &db,
        &fieldkit::keys::parse_public_key(&key).unwrap(),
        &storage.audit_dir(),
        0,
    )
    .await
    .unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(report.entries, after_first[3] + 520);
}

/// The first run anyone does: `fieldkit serve` in an empty folder. (The port
/// comes from FIELDKIT_BIND so that parallel tests never collide on 8080.)
#[tokio::test]
async fn serve_with_no_options_sets_up_a_data_folder_and_prints_a_setup_link() {
    let cwd = TempDir::new();
    let mut cmd = fieldkit_command(&["serve"]);
    cmd.current_dir(&cwd.0).env("FIELDKIT_BIND", "127.0.0.1:0");
    let server = Server::start(cmd).await;
    let line = server
        .wait_for_stdout("/setup?token=", 10)
        .await
        .unwrap_or_else(|| panic!("no setup link:\n{}", server.stdout()));
    let link = line.trim();
    assert!(link.starts_with(&server.base), "{link}");

    let data = cwd.0.join("data");
    assert!(data.join("fieldkit.db").is_file());
    let keys: Vec<_> = std::fs::read_dir(data.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .collect();
    assert_eq!(keys.len(), 4, "secret, audit, vault, vault index: {keys:?}");
    for key in &keys {
        let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
    let mode = std::fs::metadata(data.join("keys"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "the keys folder is private");

    let r = reqwest::get(link).await.unwrap();
    assert_eq!(r.status(), 200, "the setup link opens the setup page");
}

/// DESIGN: the two migration folders hold the same files, and after migrating
/// both engines have the same tables with the same columns.
#[tokio::test]
async fn migrations_for_both_engines_stay_in_lock_step() {
    let folder = |engine: &str| -> BTreeSet<String> {
        std::fs::read_dir(format!(
            "{}/migrations/{engine}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
    };
    let files = folder("sqlite");
    assert!(!files.is_empty());
    assert_eq!(files, folder("postgres"), "same migration file names");

    type Columns = BTreeMap<String, BTreeSet<String>>;
    let collect = |rows: Vec<sqlx::any::AnyRow>| -> Columns {
        let mut tables = Columns::new();
        for row in rows {
            let table: String = row.get(0);
            if table != "_sqlx_migrations" {
                tables.entry(table).or_default().insert(row.get(1));
            }
        }
        tables
    };

    let dir = TempDir::new();
    let sqlite = fieldkit::db::Db::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.0.join("lockstep.db").display()
    ))
    .await
    .unwrap();
    sqlite.migrate().await.unwrap();
    let sqlite_columns = collect(
        sqlx::query(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(&sqlite.pool)
        .await
        .unwrap(),
    );
    assert!(
        sqlite_columns.contains_key("audit_log"),
        "{sqlite_columns:?}"
    );

    let Some(url) = fresh_postgres_url().await else {
        return;
    };
    let postgres = fieldkit::db::Db::connect(&url).await.unwrap();
    postgres.migrate().await.unwrap();
    let postgres_columns = collect(
        sqlx::query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema()",
        )
        .fetch_all(&postgres.pool)
        .await
        .unwrap(),
    );
    assert_eq!(
        sqlite_columns, postgres_columns,
        "the same tables and columns on both engines"
    );
}

on_both_engines!(
    admin_create_takes_the_password_on_stdin_and_the_admin_can_sign_in,
    backup_copies_sqlite_and_points_postgres_to_pg_dump,
    demo_adds_synthetic_studies_once_and_their_audit_entries_verify,
);
