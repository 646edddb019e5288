//! Several `fieldkit serve` processes on one PostgreSQL database, as behind a
//! load balancer: they share one gapless audit chain under concurrent writes,
//! sessions and sign-in throttling work across instances, logs hold no secrets
//! or email addresses, and instances started together on an empty database all
//! come up. PostgreSQL only; skipped (or failed under CI=true) without it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;

use crate::support::{
    created_id, fieldkit_command, fresh_postgres_url, run_fieldkit, Authenticator, Server, TempDir,
    PASSWORD,
};

/// One PostgreSQL schema and the keys every instance on it shares.
struct Cluster {
    url: String,
    secret_key: String,
    signing_key: String,
    /// The vault's keys: every instance opens what another sealed (a
    /// second factor's secret, an identity).
    vault_key: String,
    vault_index_key: String,
    dirs: Vec<TempDir>,
}

impl Cluster {
    /// None when PostgreSQL is not available (the harness says so).
    async fn new(instances: usize) -> Option<Cluster> {
        let url = fresh_postgres_url().await?;
        let hex64 = || {
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
        };
        Some(Cluster {
            url,
            secret_key: hex64(),
            signing_key: hex64(),
            vault_key: format!("1:{}", hex64()),
            vault_index_key: hex64(),
            dirs: (0..instances).map(|_| TempDir::new()).collect(),
        })
    }

    /// A fieldkit command for instance `i`: its own data folder, the shared
    /// database and keys.
    fn command(&self, i: usize, args: &[&str]) -> Command {
        let mut cmd = fieldkit_command(args);
        cmd.arg("--data-dir")
            .arg(&self.dirs[i].0)
            .arg("--database-url")
            .arg(&self.url)
            .env("FIELDKIT_SECRET_KEY", &self.secret_key)
            .env("FIELDKIT_AUDIT_SIGNING_KEY", &self.signing_key)
            .env("FIELDKIT_VAULT_KEYS", &self.vault_key)
            .env("FIELDKIT_VAULT_INDEX_KEY", &self.vault_index_key);
        cmd
    }

    fn serve_command(&self, i: usize) -> Command {
        self.command(i, &["serve", "--bind", "127.0.0.1:0"])
    }

    async fn start(&self, i: usize) -> Server {
        Server::start(self.serve_command(i)).await
    }

    /// `fieldkit admin create`, the password on stdin; returns the email.
    async fn create_admin(&self) -> String {
        let email = format!("ops-{}@example.ac.uk", uuid::Uuid::new_v4().simple());
        let cmd = self.command(
            0,
            &["admin", "create", "--email", &email, "--name", "Ops Admin"],
        );
        let run = run_fieldkit(cmd, Some(&format!("{PASSWORD}\n"))).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        email
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn api(
    http: &reqwest::Client,
    server: &Server,
    method: Method,
    path: &str,
) -> reqwest::RequestBuilder {
    http.request(method, server.url(&format!("/api/v1{path}")))
}

async fn try_sign_in(
    http: &reqwest::Client,
    server: &Server,
    email: &str,
    password: &str,
) -> reqwest::Response {
    api(http, server, Method::POST, "/sessions")
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

/// The authenticator app of the administrators these tests create: each
/// process reads the system clock.
static AUTHENTICATOR: std::sync::LazyLock<Authenticator> =
    std::sync::LazyLock::new(|| Authenticator::new(fieldkit::clock::Clock::system()));

/// Signs an administrator in as staff do, with the second factor their role needs.
async fn sign_in(http: &reqwest::Client, server: &Server, email: &str) -> String {
    AUTHENTICATOR
        .sign_in(http, &server.url("/api/v1"), email, PASSWORD)
        .await
}

async fn me(http: &reqwest::Client, server: &Server, token: &str) -> StatusCode {
    api(http, server, Method::GET, "/me")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn create_study(http: &reqwest::Client, server: &Server, token: &str) -> String {
    let r = api(http, server, Method::POST, "/studies")
        .bearer_auth(token)
        .json(&json!({
            "title": "Cluster study", "slug": "cluster", "lawful_basis": "public_task",
            "retention_years": 10, "status": "setup"
        }))
        .send()
        .await
        .unwrap();
    created_id(r).await
}

fn public_key(data_dir: &Path) -> ed25519_dalek::VerifyingKey {
    let text = std::fs::read_to_string(data_dir.join("keys/audit-signing.pub")).unwrap();
    fieldkit::keys::parse_public_key(&text).unwrap()
}

/// 2 × 25 sites added at once, spread over two instances: every site exists,
/// and the audit chain is one gapless, valid sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_on_two_instances_keep_one_gapless_chain() {
    let Some(cluster) = Cluster::new(2).await else {
        return;
    };
    let email = cluster.create_admin().await;
    let servers = [cluster.start(0).await, cluster.start(1).await];
    let http = client();
    let token = sign_in(&http, &servers[0], &email).await;
    let study = create_study(&http, &servers[0], &token).await;

    const EACH: usize = 25;
    let started = Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..2 * EACH {
        let request = api(
            &http,
            &servers[i % 2],
            Method::POST,
            &format!("/studies/{study}/sites"),
        )
        .bearer_auth(&token)
        .json(&json!({ "name": format!("Site {i:02}") }));
        requests.spawn(async move {
            let r = request.send().await.unwrap();
            (i, r.status(), r.text().await.unwrap())
        });
    }
    let all = tokio::time::timeout(Duration::from_secs(120), requests.join_all())
        .await
        .expect("50 writes finish within 2 minutes");
    let elapsed = started.elapsed();
    for (i, status, body) in &all {
        assert_eq!(*status, 200, "request {i}: {body}");
    }
    eprintln!(
        "cluster: {} concurrent site writes over 2 instances took {elapsed:?}",
        2 * EACH
    );

    let r = api(
        &http,
        &servers[1],
        Method::GET,
        &format!("/studies/{study}/sites"),
    )
    .bearer_auth(&token)
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let mut names: Vec<String> = r
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let expected: Vec<String> = (0..2 * EACH).map(|i| format!("Site {i:02}")).collect();
    assert_eq!(names, expected, "every site exists once");

    let db = fieldkit::db::Db::connect(&cluster.url).await.unwrap();
    let seqs: Vec<i64> = sqlx::query("SELECT seq FROM audit_log ORDER BY seq")
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let n = seqs.len() as i64;
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<_>>(),
        "seq runs 1..={n} without gaps"
    );
    let head: i64 = sqlx::query("SELECT seq FROM audit_head WHERE id = 1")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(head, n);
    let site_entries: i64 = sqlx::query(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'site.create' AND study_id = $1",
    )
    .bind(&study)
    .fetch_one(&db.pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(site_entries, 2 * EACH as i64, "one entry per site");
    let report = fieldkit::audit::verify_database(
        &db,
        &public_key(&cluster.dirs[0].0),
        &cluster.dirs[0].0.join("audit"),
        0,
    )
    .await
    .unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(report.entries, n);

    for i in 0..2 {
        let run = run_fieldkit(cluster.command(i, &["audit", "verify"]), None).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        assert!(run.stdout.contains(&format!("{n} entries")), "{run:?}");
    }
}

/// Sessions live in the database: a sign-in on A works on B, and a sign-out on
/// B ends the session on A too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_works_on_every_instance_and_signing_out_ends_it_everywhere() {
    let Some(cluster) = Cluster::new(2).await else {
        return;
    };
    let email = cluster.create_admin().await;
    let (a, b) = (cluster.start(0).await, cluster.start(1).await);
    let http = client();
    let token = sign_in(&http, &a, &email).await;
    assert_eq!(me(&http, &a, &token).await, 200);
    let r = api(&http, &b, Method::GET, "/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["is_admin"], json!(true));

    let r = api(&http, &b, Method::DELETE, "/sessions/current")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(me(&http, &a, &token).await, 401, "signed out on A as well");
    assert_eq!(me(&http, &b, &token).await, 401);
}

/// Failed sign-ins are counted in the database, so spreading guesses over
/// instances gains nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_count_on_every_instance() {
    let Some(cluster) = Cluster::new(2).await else {
        return;
    };
    let email = cluster.create_admin().await;
    let servers = [cluster.start(0).await, cluster.start(1).await];
    let http = client();
    for i in 0..5 {
        let r = try_sign_in(
            &http,
            &servers[i % 2],
            &email,
            "a wrong guess of a password",
        )
        .await;
        assert_eq!(r.status(), 401, "guess {} on instance {}", i + 1, i % 2);
    }
    for server in &servers {
        let r = try_sign_in(&http, server, &email, "yet another wrong guess here").await;
        assert_eq!(r.status(), 429);
        let retry: u64 = r
            .headers()
            .get("retry-after")
            .expect("Retry-After")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=30).contains(&retry), "{retry}");
        let r = try_sign_in(&http, server, &email, PASSWORD).await;
        assert_eq!(r.status(), 429, "even the right password waits");
    }
}

/// Guesses sent all at once over both instances are each counted: none is
/// lost to another instance writing the same counter at the same moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_failed_sign_ins_are_all_counted() {
    let Some(cluster) = Cluster::new(2).await else {
        return;
    };
    let email = cluster.create_admin().await;
    let servers = [cluster.start(0).await, cluster.start(1).await];
    let http = client();
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..10 {
        let request = api(&http, &servers[i % 2], Method::POST, "/sessions")
            .json(&json!({ "email": email, "password": format!("wrong guess number {i}") }));
        guesses.spawn(async move { request.send().await.unwrap().status() });
    }
    let statuses = tokio::time::timeout(Duration::from_secs(60), guesses.join_all())
        .await
        .expect("10 sign-ins finish within a minute");
    let refused = statuses.iter().filter(|s| **s == 401).count() as i32;
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let db = fieldkit::db::Db::connect(&cluster.url).await.unwrap();
    let counted: i32 =
        sqlx::query("SELECT attempts FROM login_throttle WHERE throttle_key LIKE 'account:%'")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get(0);
    assert_eq!(counted, refused, "every wrong password counted once");
    for server in &servers {
        let r = try_sign_in(&http, server, &email, PASSWORD).await;
        assert_eq!(r.status(), 429);
    }
}

/// Logs go to stderr; neither instance logs the password, a session or API
/// token it issued, or any email address it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_password_token_or_email_address() {
    let Some(cluster) = Cluster::new(2).await else {
        return;
    };
    let email = cluster.create_admin().await;
    let a = cluster.start(0).await;
    let mut json_logs = cluster.serve_command(1);
    json_logs.env("FIELDKIT_LOG_FORMAT", "json");
    let b = Server::start(json_logs).await;
    let http = client();

    let wrong_password = "horse battery wrong staple";
    let stranger = format!("stranger-{}@example.org", uuid::Uuid::new_v4().simple());
    let invited = format!("invited-{}@example.net", uuid::Uuid::new_v4().simple());
    assert_eq!(
        try_sign_in(&http, &a, &email, wrong_password)
            .await
            .status(),
        401
    );
    assert_eq!(
        try_sign_in(&http, &b, &stranger, PASSWORD).await.status(),
        401
    );
    let session_a = sign_in(&http, &a, &email).await;
    let session_b = sign_in(&http, &b, &email).await;
    let study = create_study(&http, &a, &session_a).await;

    let r = api(&http, &b, Method::POST, "/accounts")
        .bearer_auth(&session_b)
        .json(&json!({ "email": invited, "display_name": "Ivy Invited" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = api(&http, &a, Method::POST, "/password-resets")
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = api(&http, &a, Method::POST, "/me/tokens")
        .bearer_auth(&session_a)
        .json(&json!({ "study_id": study, "name": "nightly script", "permissions": ["view_study"], "days": 7 }))
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    let api_token = serde_json::from_str::<Value>(&body).unwrap()["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("no API token made: {body}"))
        .to_owned();
    let r = api(&http, &b, Method::GET, &format!("/studies/{study}"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A token sent in the query string is not logged either.
    let r = http
        .get(b.url(&format!("/api/v1/me?token={session_b}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for token in [&session_a, &session_b] {
        let r = api(&http, &b, Method::DELETE, "/sessions/current")
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    // A signed-out token is refused, and not echoed into the logs either.
    assert_eq!(me(&http, &a, &session_a).await, 401);

    let (_, logs_a) = a.stop();
    let (_, logs_b) = b.stop();
    for (name, logs) in [("A (text)", &logs_a), ("B (json)", &logs_b)] {
        assert!(
            logs.contains("/api/v1/sessions"),
            "instance {name} logged its requests:\n{logs}"
        );
        for secret in [
            PASSWORD,
            wrong_password,
            &session_a,
            &session_b,
            &api_token,
            &email,
            &stranger,
            &invited,
        ] {
            assert!(
                !logs.contains(secret),
                "instance {name} logged {secret:?}:\n{logs}"
            );
        }
        assert!(!logs.contains("@example."), "instance {name}:\n{logs}");
    }
    assert!(logs_b.lines().any(|l| l.starts_with('{')), "JSON logs");
}

/// Instances started at the same moment on an empty schema all come up: the
/// migrator's advisory lock lets one migrate while the others wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_started_together_on_an_empty_schema_all_come_up() {
    let Some(cluster) = Cluster::new(3).await else {
        return;
    };
    let mut servers: Vec<Server> = (0..3)
        .map(|i| Server::spawn(&mut cluster.serve_command(i)))
        .collect();
    for server in servers.iter_mut() {
        server.wait_until_running().await;
    }
    let http = client();
    for server in &servers {
        let r = http.get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", server.stderr());
    }
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count() as i64;
    let db = fieldkit::db::Db::connect(&cluster.url).await.unwrap();
    let applied: i64 = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, migrations, "each migration applied once");
    let heads: i64 = sqlx::query("SELECT COUNT(*) FROM audit_head")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(heads, 1);
}
