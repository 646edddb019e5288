//! The test harness: a fresh server per test on port 0 with its own data
//! folder and its own database (a temp SQLite file, or a fresh PostgreSQL
//! schema), an API client, and a page client that keeps cookies like a browser.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fieldkit::app::App;
use fieldkit::clock::Clock;
use fieldkit::config::{ServerConfig, Storage};
use poem::listener::{Listener, TcpListener};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Declares each listed `async fn name(engine: Engine)` as two tests,
/// `sqlite::name` and `postgres::name`. A test fn left out of the list is
/// dead code, which the build refuses.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Engine::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Engine::Postgres).await
                }
            )*
        }
    };
}

pub const PASSWORD: &str = "plum kettle orbit lantern";

/// The code of a TOTP secret (base32) for a time step, as an authenticator app shows it.
pub fn totp_code(secret: &str, step: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 0, 30, bytes, None, "t".into())
        .generate(step as u64 * 30)
}

/// The authenticator app of every account the helpers set a second factor
/// up for: its secret, by email, and the last time step used. A code is
/// accepted once, so each use takes a later step: the current one, then
/// the next (accepted as one step of drift), then it waits for the clock.
/// It reads the server's clock, which tests may move on.
#[derive(Clone)]
pub struct Authenticator {
    clock: Clock,
    secrets: std::sync::Arc<std::sync::Mutex<BTreeMap<String, (String, i64)>>>,
}

impl Authenticator {
    pub fn new(clock: Clock) -> Authenticator {
        Authenticator {
            clock,
            secrets: Default::default(),
        }
    }

    /// Signs in through the API at `api` (".../api/v1"), as staff do: with a
    /// code when the account has a second factor, and setting one up first
    /// when its role needs one. Returns the session token.
    pub async fn sign_in(
        &self,
        http: &reqwest::Client,
        api: &str,
        email: &str,
        password: &str,
    ) -> String {
        let post = |path: &str| http.post(format!("{api}{path}"));
        let r = post("/sessions")
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let mut body: Value = r.json().await.unwrap();
        if status == 202 {
            let code = self.code(email).await.expect("a second factor");
            let r = post("/sessions/second-factor")
                .json(&json!({ "pending_token": body["pending_token"], "code": code }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "second step of {email}");
            body = r.json().await.unwrap();
        } else {
            assert_eq!(status, 200, "sign-in of {email} failed: {body}");
        }
        let token = body["token"].as_str().unwrap().to_owned();
        let me: Value = http
            .get(format!("{api}/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if me["second_factor"] == json!({ "enrolled": false, "required": true }) {
            self.enrol(http, api, &token, email).await;
        }
        token
    }

    /// Sets up a second factor for a signed-in account through the API at
    /// `api`; returns its recovery codes.
    pub async fn enrol(
        &self,
        http: &reqwest::Client,
        api: &str,
        token: &str,
        email: &str,
    ) -> Vec<String> {
        let post = |path: &str| http.post(format!("{api}{path}")).bearer_auth(token);
        let r = post("/me/second-factor").send().await.unwrap();
        assert_eq!(r.status(), 200, "enrolment of {email}");
        let secret = r.json::<Value>().await.unwrap()["secret"]
            .as_str()
            .unwrap()
            .to_owned();
        self.remember(email, &secret);
        let code = self.code(email).await.unwrap();
        let r = post("/me/second-factor/confirmation")
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "confirmation of {email}");
        serde_json::from_value(r.json::<Value>().await.unwrap()["recovery_codes"].clone()).unwrap()
    }

    fn current_step(&self) -> i64 {
        self.clock.now_ms() / 30_000
    }

    pub fn remember(&self, email: &str, secret: &str) {
        self.secrets
            .lock()
            .unwrap()
            .insert(email.to_owned(), (secret.to_owned(), 0));
    }

    /// A code of a step not used before, or None if the account has no factor here.
    pub async fn code(&self, email: &str) -> Option<String> {
        let (secret, step) = {
            let mut all = self.secrets.lock().unwrap();
            let (secret, last) = all.get_mut(email)?;
            *last = (*last + 1).max(self.current_step());
            (secret.clone(), *last)
        };
        while step > self.current_step() + 1 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Some(totp_code(&secret, step))
    }
}

/// A folder removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("fieldkit-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn postgres_base_url() -> String {
    std::env::var("FIELDKIT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

static POSTGRES: OnceCell<Result<(), String>> = OnceCell::const_new();

/// A tool some tests need is missing. Under CI=true that is a failure;
/// otherwise the test is skipped and `what` is said once on stderr (written
/// straight to stderr, so the test harness does not swallow it).
pub fn missing_tool(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true needs {what}");
    }
    static TOLD: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut told = TOLD.lock().unwrap_or_else(|e| e.into_inner());
    if !told.iter().any(|t| t == what) {
        let _ = writeln!(std::io::stderr(), "\nSkipped, missing {what}\n");
        told.push(what.to_owned());
    }
}

/// A port nothing listens on at the moment.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A URL to a fresh, empty PostgreSQL schema, or None (with one notice on
/// stderr) when PostgreSQL is not reachable outside CI.
pub async fn fresh_postgres_url() -> Option<String> {
    let base = postgres_base_url();
    let probe = POSTGRES
        .get_or_init(|| async {
            match fieldkit::db::Db::connect(&base).await {
                Ok(_) => Ok(()),
                Err(e) => Err(format!("{e:#}")),
            }
        })
        .await;
    if let Err(reason) = probe {
        missing_tool(&format!("PostgreSQL at {base} ({reason}); set FIELDKIT_TEST_POSTGRES_URL or start PostgreSQL; PostgreSQL skipped"));
        return None;
    }
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let db = fieldkit::db::Db::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&db.pool)
        .await
        .unwrap();
    db.pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// Storage for a test: its own folder, and its own database on the engine.
/// The consent forms are the repository's own, so every test checks them.
pub async fn storage(engine: Engine, dir: &TempDir) -> Option<Storage> {
    let database_url = match engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some(fresh_postgres_url().await?),
    };
    Some(Storage {
        data_dir: dir.0.clone(),
        database_url,
        consent_forms: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/consent-forms")),
        instruments_dir: None,
        media_dir: None,
    })
}

pub struct TestApp {
    pub base: String,
    pub app: App,
    pub engine: Engine,
    pub storage: Storage,
    pub dir: TempDir,
    pub http: reqwest::Client,
    pub authenticator: Authenticator,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The id in a 200 answer to a create request.
pub async fn created_id(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Starts a server; None when the engine is unavailable (PostgreSQL outside CI).
pub async fn spawn(engine: Engine) -> Option<TestApp> {
    spawn_with(engine, |_| {}).await
}

pub async fn spawn_with(
    engine: Engine,
    configure: impl FnOnce(&mut ServerConfig),
) -> Option<TestApp> {
    let dir = TempDir::new();
    let storage = storage(engine, &dir).await?;
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = fieldkit::http::local_addr(&acceptor).unwrap();
    let mut server = ServerConfig::from_env();
    server.bind = addr;
    server.public_url = Some(format!("http://{addr}").parse().unwrap());
    configure(&mut server);
    let app = App::open(storage.clone(), server, Clock::system())
        .await
        .unwrap();
    fieldkit::commands::load_definitions(&app).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(fieldkit::http::serve(app.clone(), acceptor, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let app_clock = app.clock.clone();
    Some(TestApp {
        base: format!("http://{addr}"),
        app,
        engine,
        storage,
        dir,
        http,
        authenticator: Authenticator::new(app_clock),
        stop: Some(stop),
    })
}

impl TestApp {
    /// Sends the email that is due, as the background sender would.
    pub async fn send_mail(&self) -> usize {
        fieldkit::mail::send_due(&self.app.db, &self.app.mailer, &self.app.clock)
            .await
            .unwrap()
    }

    /// Asks the consent gate, in a transaction of its own (rolled back).
    pub async fn may(
        &self,
        participant: &str,
        use_: fieldkit::consent::forms::model::DataUse,
    ) -> fieldkit::error::Result<fieldkit::consent::gate::Permit> {
        let id = fieldkit::ids::ParticipantId::parse(participant).expect("a participant id");
        let mut tx = self.app.db.begin().await.unwrap();
        fieldkit::consent::gate::may(&mut tx, &id, use_).await
    }

    /// The whole audit chain verified, as `fieldkit audit verify` does.
    pub async fn verify_chain(&self) -> fieldkit::audit::VerifyReport {
        fieldkit::audit::verify_database(
            &self.app.db,
            &self.app.keys.verifying_key(),
            &self.storage.audit_dir(),
            self.app.now(),
        )
        .await
        .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// An API request, with a bearer token when given.
    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let rb = self
            .http
            .request(method, self.url(&format!("/api/v1{path}")));
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// What an attacker with DDL rights does first: drops the triggers that
    /// keep the audit trail append-only.
    pub async fn drop_audit_triggers(&self) {
        let statements = match self.engine {
            Engine::Sqlite => [
                "DROP TRIGGER audit_log_no_update",
                "DROP TRIGGER audit_log_no_delete",
            ],
            Engine::Postgres => [
                "DROP TRIGGER audit_log_no_update ON audit_log",
                "DROP TRIGGER audit_log_no_delete ON audit_log",
            ],
        };
        for sql in statements {
            sqlx::query(sql).execute(&self.app.db.pool).await.unwrap();
        }
    }

    /// A GET of a public path (no sign-in) that must answer 200; its JSON.
    pub async fn public_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// A GET under /api/v1 that must answer 200; its JSON.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let r = self
            .api(reqwest::Method::GET, path, Some(token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}: {}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// Publishes a copy of a published form version as `form_id` version
    /// `version`, as the loader would from a new file; returns its id.
    pub async fn publish_copy(&self, of_version: &str, form_id: &str, version: i32) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO consent_form_versions (id, study_id, form_id, version, language, title, information_sheet_version, information_sheet_date,
                 rec_reference, rec_approval_date, easy_read, withdrawal_policy, body_markdown, clauses, content_hash, source_path, loaded_at)
             SELECT $1, study_id, $2, $3, language, title, information_sheet_version, information_sheet_date, rec_reference, rec_approval_date,
                 easy_read, withdrawal_policy, body_markdown, clauses, $4, 'copy.md', loaded_at FROM consent_form_versions WHERE id = $5",
        )
        .bind(&id)
        .bind(form_id)
        .bind(version)
        .bind(format!("copy-{id}"))
        .bind(of_version)
        .execute(&self.app.db.pool)
        .await
        .unwrap();
        id
    }

    /// The study's published consent form `form_id` (its first listed
    /// version), as the API lists it.
    pub async fn consent_form(&self, token: &str, study: &str, form_id: &str) -> Value {
        let forms = self
            .get_json(token, &format!("/studies/{study}/consent-forms"))
            .await;
        forms
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["form_id"] == form_id)
            .unwrap_or_else(|| panic!("form {form_id} is published"))
            .clone()
    }

    /// Follows a list's `next` links from `first` (a path under /api/v1) to
    /// its last page; returns every page.
    pub async fn pages_of(&self, token: &str, first: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut next = Some(format!("/api/v1{first}"));
        while let Some(path) = next {
            let r = self
                .http
                .get(self.url(&path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let page: Value = r.json().await.unwrap();
            next = page["next"].as_str().map(str::to_owned);
            pages.push(page);
            assert!(pages.len() <= 100, "the next links do not end");
        }
        pages
    }

    /// Signs in through the API, as staff do (see `Authenticator::sign_in`).
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let api = self.url("/api/v1");
        self.authenticator
            .sign_in(&self.http, &api, email, password)
            .await
    }

    /// Sets up a second factor for a signed-in account; its recovery codes.
    pub async fn enrol(&self, token: &str, email: &str) -> Vec<String> {
        let api = self.url("/api/v1");
        self.authenticator
            .enrol(&self.http, &api, token, email)
            .await
    }

    /// Creates an administrator the way `fieldkit admin create` does and signs in.
    pub async fn admin(&self) -> String {
        let email = format!("admin-{}@example.ac.uk", uuid::Uuid::new_v4().simple());
        fieldkit::auth::service::create_admin_directly(&self.app, &email, "Ada Admin", PASSWORD)
            .await
            .unwrap();
        self.sign_in(&email, PASSWORD).await
    }

    /// Invites an account through the API, accepts the emailed invitation
    /// through the pages, and returns (account id, email).
    pub async fn person(&self, admin: &str, name: &str) -> (String, String) {
        let email = format!(
            "{}-{}@example.ac.uk",
            name.to_lowercase().replace(' ', "."),
            uuid::Uuid::new_v4().simple()
        );
        let r = self
            .api(reqwest::Method::POST, "/accounts", Some(admin))
            .json(&json!({ "email": email, "display_name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let link = self.link_in_last_email_to(&email).await;
        let mut page = self.pages();
        page.get(&link).await.assert_status(200);
        let path = link.split_once('?').unwrap().0;
        let token = link.split_once("token=").unwrap().1.to_owned();
        page.post(path, &[("token", &token), ("password", PASSWORD)])
            .await
            .assert_status(303);
        (id, email)
    }

    /// The newest message queued for an address: (subject, text, html).
    pub async fn last_email_to(&self, email: &str) -> (String, String, String) {
        use sqlx::Row;
        let row = sqlx::query("SELECT subject, body_text, body_html FROM outbox WHERE to_addr = $1 ORDER BY created_at DESC, id DESC LIMIT 1")
            .bind(email)
            .fetch_one(&self.app.db.pool)
            .await
            .unwrap_or_else(|e| panic!("no email to {email}: {e}"));
        (row.get(0), row.get(1), row.get(2))
    }

    /// The one-time link in the newest email to an address, as a path and query.
    pub async fn link_in_last_email_to(&self, email: &str) -> String {
        let (_, text, _) = self.last_email_to(email).await;
        let start = text.find(&self.base).expect("a link to this server") + self.base.len();
        text[start..].split_whitespace().next().unwrap().to_owned()
    }

    /// Creates a study through the API and returns its id.
    pub async fn study(&self, admin: &str, slug: &str) -> String {
        let r = self
            .api(reqwest::Method::POST, "/studies", Some(admin))
            .json(&json!({
                "title": format!("Study {slug}"), "slug": slug, "iras_id": "312345", "rec_reference": "24/LO/0123",
                "lawful_basis": "public_task", "retention_years": 10, "status": "setup"
            }))
            .send()
            .await
            .unwrap();
        created_id(r).await
    }

    /// Adds a site to a study through the API and returns its id.
    pub async fn site(&self, admin: &str, study: &str, name: &str) -> String {
        let r = self
            .api(
                reqwest::Method::POST,
                &format!("/studies/{study}/sites"),
                Some(admin),
            )
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        created_id(r).await
    }

    /// Gives an account a role in a study through the API.
    pub async fn member(
        &self,
        admin: &str,
        study: &str,
        account: &str,
        role: &str,
        sites: &[&str],
    ) {
        let r = self
            .api(
                reqwest::Method::PUT,
                &format!("/studies/{study}/members"),
                Some(admin),
            )
            .json(&json!({ "account_id": account, "role": role, "site_ids": sites }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    pub fn pages(&self) -> PageClient {
        PageClient {
            base: self.base.clone(),
            http: self.http.clone(),
            cookies: BTreeMap::new(),
            csrf: None,
            authenticator: self.authenticator.clone(),
        }
    }
}

/// A response read whole.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Page {
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Page {
        assert_eq!(
            self.status, status,
            "unexpected status; body:\n{}",
            self.text
        );
        self
    }

    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .map_or("", |v| v.to_str().unwrap())
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// Scrapes the CSRF token from a page's forms.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    Some(html[at..].split('"').next()?.to_owned())
}

/// A browser stand-in: keeps cookies (including Secure ones, as browsers do on
/// localhost) and the CSRF token of the last page it saw. A clone is another
/// tab of the same browser.
#[derive(Clone)]
pub struct PageClient {
    pub base: String,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    pub csrf: Option<String>,
    authenticator: Authenticator,
}

impl PageClient {
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, resp: reqwest::Response) -> Page {
        for sc in resp.headers().get_all("set-cookie") {
            let sc = sc.to_str().unwrap();
            let (pair, attrs) = sc.split_once(';').unwrap_or((sc, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.to_ascii_lowercase().contains("max-age=0") || value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        if let Some(token) = csrf_in(&text) {
            self.csrf = Some(token);
        }
        Page {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let resp = self
            .http
            .get(format!("{}{}", self.base, path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(resp).await
    }

    /// Posts a form with the CSRF token of the last page seen.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !fields.iter().any(|(k, _)| *k == "csrf_token") {
            form.push(("csrf_token".into(), self.csrf.clone().unwrap_or_default()));
        }
        let resp = self
            .http
            .post(format!("{}{}", self.base, path))
            .header("cookie", self.cookie_header())
            .form(&form)
            .send()
            .await
            .unwrap();
        self.read(resp).await
    }

    /// Posts a multipart form as a page's upload form sends it.
    pub async fn post_multipart(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        let resp = self
            .http
            .post(format!("{}{}", self.base, path))
            .header("cookie", self.cookie_header())
            .multipart(form)
            .send()
            .await
            .unwrap();
        self.read(resp).await
    }

    /// Signs in through the sign-in page, as staff do: the code step when
    /// the account has a second factor, and setting one up when its role
    /// needs one. Returns the answer to the password step (a 303 when right).
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        self.get("/login").await.assert_status(200);
        let answer = self
            .post("/login", &[("email", email), ("password", password)])
            .await;
        if answer.location().starts_with("/login/second-factor") {
            self.get(answer.location()).await.assert_status(200);
            let code = self
                .authenticator
                .code(email)
                .await
                .expect("a second factor");
            self.post("/login/second-factor", &[("code", &code)])
                .await
                .assert_status(303);
        } else if answer.status == 303
            && self
                .get("/")
                .await
                .location()
                .starts_with("/account/second-factor")
        {
            self.get("/account/second-factor").await.assert_status(200);
            self.post("/account/second-factor", &[])
                .await
                .assert_status(303);
            let page = self.get("/account/second-factor").await;
            let at = page
                .text
                .find("id=\"totp-secret\">")
                .expect("the key for typing")
                + 17;
            let secret = page.text[at..].split('<').next().unwrap().to_owned();
            self.authenticator.remember(email, &secret);
            let code = self.authenticator.code(email).await.unwrap();
            self.post("/account/second-factor/confirmation", &[("code", &code)])
                .await
                .assert_status(200);
        }
        answer
    }
}

// Running the fieldkit binary (the cli, cluster and audit tests).

/// The fieldkit binary built for this test run.
pub const FIELDKIT: &str = env!("CARGO_BIN_EXE_fieldkit");

/// A command for the binary that inherits no FIELDKIT_* variable from the
/// test's own environment, so each test says everything it relies on.
pub fn fieldkit_command(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(FIELDKIT);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("FIELDKIT_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(args);
    cmd
}

/// `--data-dir D --consent-forms F [--database-url U]` for a test's storage.
pub fn storage_args(storage: &Storage) -> Vec<String> {
    let mut args = vec![
        "--data-dir".to_owned(),
        storage.data_dir.display().to_string(),
        "--consent-forms".to_owned(),
        storage.consent_forms.display().to_string(),
    ];
    if let Some(url) = &storage.database_url {
        args.push("--database-url".into());
        args.push(url.clone());
    }
    args
}

/// What a finished run of the binary printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary to completion (killed after 60 s), feeding `stdin` when given.
pub async fn run_fieldkit(cmd: std::process::Command, stdin: Option<&str>) -> Run {
    use tokio::io::AsyncWriteExt;
    let shown = format!("{cmd:?}");
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("the fieldkit binary starts");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{shown} did not finish within 60 s"))
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `fieldkit serve --bind 127.0.0.1:0` on a test's storage.
pub fn serve_command(storage: &Storage) -> std::process::Command {
    let mut cmd = fieldkit_command(&["serve", "--bind", "127.0.0.1:0"]);
    cmd.args(storage_args(storage));
    cmd
}

type Captured = std::sync::Arc<std::sync::Mutex<String>>;

fn capture(
    pipe: impl std::io::Read + Send + 'static,
    into: Captured,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut text = into.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    })
}

/// A running `fieldkit serve` process, killed when dropped. Everything it
/// prints is kept: stdout (the banner and links) and stderr (the logs).
pub struct Server {
    child: std::process::Child,
    out: Captured,
    err: Captured,
    readers: Vec<std::thread::JoinHandle<()>>,
    /// http://127.0.0.1:PORT, from the first line it prints.
    pub base: String,
}

impl Server {
    /// Starts the process and waits (at most 60 s) for its
    /// "fieldkit is running at http://127.0.0.1:PORT/ ..." line.
    pub async fn start(mut cmd: std::process::Command) -> Server {
        let mut server = Server::spawn(&mut cmd);
        server.wait_until_running().await;
        server
    }

    /// Starts the process without waiting for it; see `wait_until_running`.
    pub fn spawn(cmd: &mut std::process::Command) -> Server {
        let mut child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the fieldkit binary starts");
        let (out, err) = (Captured::default(), Captured::default());
        let readers = vec![
            capture(child.stdout.take().unwrap(), out.clone()),
            capture(child.stderr.take().unwrap(), err.clone()),
        ];
        Server {
            child,
            out,
            err,
            readers,
            base: String::new(),
        }
    }

    pub async fn wait_until_running(&mut self) {
        const BANNER: &str = "fieldkit is running at ";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(line) = self.stdout().lines().find(|l| l.starts_with(BANNER)) {
                let url = line[BANNER.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default();
                assert!(
                    url.starts_with("http://127.0.0.1:"),
                    "unexpected banner: {line}"
                );
                self.base = url.trim_end_matches('/').to_owned();
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(std::time::Duration::from_millis(100));
                panic!(
                    "fieldkit serve exited ({status}) before it was running.\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "fieldkit serve did not start within 60 s.\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// What it has printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// What it has logged on stderr so far.
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// Waits (at most `secs`) until stdout holds `needle`; returns that line.
    pub async fn wait_for_stdout(&self, needle: &str, secs: u64) -> Option<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if let Some(line) = self.stdout().lines().find(|l| l.contains(needle)) {
                return Some(line.to_owned());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// Kills the process and returns everything it printed: (stdout, stderr).
    pub fn stop(mut self) -> (String, String) {
        self.kill();
        (self.stdout(), self.stderr())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// Email through a real SMTP server (aiosmtpd), shared by the SMTP tests.

/// Whether `python3 -m aiosmtpd` can run here. Outside CI a missing aiosmtpd
/// skips the test (one notice on stderr); under CI=true it fails it.
pub fn aiosmtpd_available() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if probe.is_ok_and(|s| s.success()) {
        return true;
    }
    missing_tool("the aiosmtpd Python package (python3 -m pip install aiosmtpd)");
    false
}

/// A running aiosmtpd storing messages in a maildir; killed when dropped.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// Starts aiosmtpd on `port` and waits (bounded) until it accepts connections.
    pub fn start(port: u16, dir: &Path) -> SmtpServer {
        let maildir = dir.join("maildir");
        let log_path = dir.join(format!("aiosmtpd-{port}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("python3 starts");
        let mut server = SmtpServer {
            child,
            port,
            maildir,
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "aiosmtpd on port {port} exited ({status}):\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "aiosmtpd did not accept connections on port {port} within 30 s:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The files of the messages delivered so far.
    pub fn delivered(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.maildir.join("new"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}

/// A delivered message decoded by Python's own email package (an independent
/// MIME reader): its headers and its leaf parts with their decoded bodies
/// (for an attachment, its file name and the SHA-256 of its bytes).
pub fn parse_message(path: &Path) -> Value {
    const PARSE: &str = r#"
import email, email.policy, hashlib, html, html.parser, json, sys

class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []
    def handle_starttag(self, tag, attrs):
        self.hrefs += [v for k, v in attrs if tag == "a" and k == "href"]

def part(p):
    body = p.get_content()
    out = {"content_type": p.get_content_type()}
    if isinstance(body, bytes):
        # An attachment: its name and the SHA-256 of its decoded bytes.
        out["filename"] = p.get_filename()
        out["sha256"] = hashlib.sha256(body).hexdigest()
        return out
    out["body"] = body
    if p.get_content_type() == "text/html":
        links = Links()
        links.feed(body)
        out["hrefs"] = links.hrefs
        out["unescaped"] = html.unescape(body)
    return out

with open(sys.argv[1], "rb") as f:
    m = email.message_from_binary_file(f, policy=email.policy.default)
print(json.dumps({
    "content_type": m.get_content_type(),
    "to": str(m["To"]),
    "rcpt_to": str(m["X-RcptTo"]),
    "from": str(m["From"]),
    "subject": str(m["Subject"]),
    "parts": [part(p) for p in m.walk() if not p.is_multipart()],
}))
"#;
    let out = Command::new("python3")
        .args(["-c", PARSE])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python could not parse {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
