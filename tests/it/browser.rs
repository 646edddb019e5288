//! The pages in a real browser: headless Chromium driven through chromedriver
//! (W3C WebDriver). A person signs in, sees their study, signs out; the
//! keyboard reaches the skip link first; and every main page passes axe-core's
//! WCAG 2.2 AA rules, runs no inline script or style (the CSP forbids them),
//! and is saved as a screenshot in target/screenshots/.
//!
//! Needs /usr/bin/chromium, chromedriver on PATH and axe-core in
//! tests/browser/node_modules (`npm ci` there). Without them the tests say
//! they were skipped; under CI=true they fail.
//!
//! WebDriver is plain JSON over HTTP, spoken here with reqwest. (fantoccini
//! cannot be used in this test binary as it stands: its rustls brings the
//! aws-lc-rs crypto provider while reqwest's brings ring, so rustls refuses to
//! pick one and panics unless a provider is installed through a direct
//! dependency on rustls.)

use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::{free_port, missing_tool, spawn, Engine, TempDir, TestApp, PASSWORD};

const CHROMIUM: &str = "/usr/bin/chromium";
const SESSION_COOKIE: &str = "__Host-fieldkit_session";
/// Chromium is slow to start and to render on a small machine; waits are generous.
const WAIT: Duration = Duration::from_secs(60);
const AXE_TAGS: [&str; 5] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];
/// WebDriver's names for the Tab and Enter keys.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

fn axe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/node_modules/axe-core/axe.min.js")
}

/// The axe-core source, when chromium, chromedriver and axe-core are all
/// here. Outside CI anything missing skips the test (one notice on stderr);
/// under CI=true it fails it.
fn prerequisites() -> Option<String> {
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!("{CHROMIUM} (apt-get install chromium)"));
    }
    let driver = Command::new("chromedriver")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !driver.is_ok_and(|s| s.success()) {
        missing.push("chromedriver on PATH (apt-get install chromium-driver)".into());
    }
    let axe = std::fs::read_to_string(axe_path());
    if axe.is_err() {
        missing.push(format!(
            "{} (run `npm ci` in tests/browser)",
            axe_path().display()
        ));
    }
    if missing.is_empty() {
        return axe.ok();
    }
    missing_tool(&format!("the browser tests' tools: {}", missing.join(", ")));
    None
}

/// A chromedriver process in its own process group, so that the Chromium it
/// starts goes too when the group is killed on drop.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is the child's (process_group(0) below). bash's kill
        // takes a negative id for a group; std can only kill the child itself.
        let group = format!("-{}", self.child.id());
        let killed_group = Command::new("bash")
            .args(["-c", "kill -KILL -- \"$0\"", &group])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !killed_group {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let dir = TempDir::new();
        let port = free_port();
        let log = dir.0.join("chromedriver.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let mut driver = Driver {
            child,
            port,
            log,
            _dir: dir,
        };
        let status = format!("http://127.0.0.1:{port}/status");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = http.get(&status).send().await {
                if r.status().is_success() {
                    return driver;
                }
            }
            if let Ok(Some(exit)) = driver.child.try_wait() {
                panic!("chromedriver exited ({exit}):\n{}", driver.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on port {port}:\n{}",
                driver.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Starts headless Chromium in a new WebDriver session.
    async fn session(&self) -> Browser {
        let http = reqwest::Client::builder()
            .timeout(2 * WAIT)
            .build()
            .unwrap();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                ],
            },
        }}});
        let r = http
            .post(format!("http://127.0.0.1:{}/session", self.port))
            .json(&caps)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        let Some(id) = body["value"]["sessionId"].as_str() else {
            panic!(
                "chromedriver could not start Chromium ({status}): {body}\n{}",
                self.log_text()
            );
        };
        let b = Browser {
            http,
            session: format!("http://127.0.0.1:{}/session/{id}", self.port),
        };
        b.post(
            "/timeouts",
            json!({ "script": WAIT.as_millis() as u64, "pageLoad": WAIT.as_millis() as u64, "implicit": 0 }),
        )
        .await
        .unwrap();
        b
    }
}

/// One WebDriver session: the few commands these tests use.
#[derive(Clone)]
struct Browser {
    http: reqwest::Client,
    session: String,
}

/// A WebDriver error: its code (e.g. "no such element") and message.
#[derive(Debug)]
struct WdError {
    error: String,
    message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

type WdResult<T> = Result<T, WdError>;

/// An element on the current page.
struct Element<'a> {
    b: &'a Browser,
    id: String,
}

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> WdResult<Value> {
        let mut rb = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            rb = rb.json(&body);
        }
        let r = rb.send().await.map_err(|e| WdError {
            error: "no answer from chromedriver".into(),
            message: e.to_string(),
        })?;
        let ok = r.status().is_success();
        let body: Value = r.json().await.map_err(|e| WdError {
            error: "unreadable answer from chromedriver".into(),
            message: e.to_string(),
        })?;
        let value = body["value"].clone();
        if ok {
            Ok(value)
        } else {
            Err(WdError {
                error: value["error"].as_str().unwrap_or("unknown error").into(),
                message: value["message"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .into(),
            })
        }
    }

    async fn get(&self, path: &str) -> WdResult<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> WdResult<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Ends the session, which quits Chromium.
    async fn quit(&self) -> WdResult<Value> {
        self.call(reqwest::Method::DELETE, "", None).await
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }))
            .await
            .unwrap_or_else(|e| panic!("could not open {url}: {e}"));
    }

    async fn path(&self) -> String {
        let url = self.get("/url").await.unwrap();
        url::Url::parse(url.as_str().unwrap())
            .unwrap()
            .path()
            .to_owned()
    }

    async fn source(&self) -> String {
        self.get("/source")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    fn element(&self, value: &Value) -> Element<'_> {
        Element {
            b: self,
            id: value[ELEMENT_KEY].as_str().expect("an element").to_owned(),
        }
    }

    /// Finds an element by CSS selector, or by XPath when it starts with '/'.
    async fn find(&self, selector: &str) -> WdResult<Element<'_>> {
        let using = if selector.starts_with('/') {
            "xpath"
        } else {
            "css selector"
        };
        let v = self
            .post("/element", json!({ "using": using, "value": selector }))
            .await?;
        Ok(self.element(&v))
    }

    /// Clicks the element matching `selector`, which must be on the page.
    async fn click_on(&self, selector: &str) {
        self.find(selector)
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .click()
            .await;
    }

    /// Waits (generously) until the page has an element matching `selector`.
    async fn wait_for(&self, selector: &str) -> Element<'_> {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.find(selector).await {
                Ok(e) => return e,
                Err(e) if e.error == "no such element" && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!(
                    "no {selector} on {} ({e}):\n{}",
                    self.path().await,
                    self.source().await
                ),
            }
        }
    }

    async fn active_element(&self) -> Element<'_> {
        let v = self.get("/element/active").await.unwrap();
        self.element(&v)
    }

    async fn execute(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.post("/execute/async", json!({ "script": script, "args": args }))
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Presses and releases one key, wherever the focus is.
    async fn press(&self, key: &str) {
        self.post(
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": [
                { "type": "keyDown", "value": key }, { "type": "keyUp", "value": key },
            ]}]}),
        )
        .await
        .unwrap();
    }

    async fn has_cookie(&self, name: &str) -> bool {
        match self.get(&format!("/cookie/{name}")).await {
            Ok(_) => true,
            Err(e) if e.error == "no such cookie" => false,
            Err(e) => panic!("cookie {name}: {e}"),
        }
    }

    async fn window_size(&self) -> (u64, u64) {
        let r = self.get("/window/rect").await.unwrap();
        (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap())
    }

    async fn set_window_size(&self, width: u64, height: u64) {
        self.post("/window/rect", json!({ "width": width, "height": height }))
            .await
            .unwrap();
    }

    async fn screenshot_png(&self) -> Vec<u8> {
        let v = self.get("/screenshot").await.unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    }
}

impl Element<'_> {
    async fn click(&self) {
        self.b
            .post(&format!("/element/{}/click", self.id), json!({}))
            .await
            .unwrap();
    }

    async fn clear(&self) {
        self.b
            .post(&format!("/element/{}/clear", self.id), json!({}))
            .await
            .unwrap();
    }

    async fn type_text(&self, text: &str) {
        self.b
            .post(
                &format!("/element/{}/value", self.id),
                json!({ "text": text }),
            )
            .await
            .unwrap();
    }

    async fn attr(&self, name: &str) -> Option<String> {
        let v = self
            .b
            .get(&format!("/element/{}/attribute/{name}", self.id))
            .await
            .unwrap();
        v.as_str().map(str::to_owned)
    }

    async fn outer_html(&self) -> String {
        let v = self
            .b
            .execute(
                "return arguments[0].outerHTML;",
                json!([{ ELEMENT_KEY: self.id }]),
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// (x, y, width, height) on the page.
    async fn rect(&self) -> (f64, f64, f64, f64) {
        let r = self
            .b
            .get(&format!("/element/{}/rect", self.id))
            .await
            .unwrap();
        let f = |k: &str| r[k].as_f64().unwrap();
        (f("x"), f("y"), f("width"), f("height"))
    }
}

/// Runs `body` with a browser, then ends the browser session whether the
/// body passed or panicked (the panic is passed on afterwards).
async fn with_browser<F, Fut>(body: F)
where
    F: FnOnce(Browser, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(axe) = prerequisites() else { return };
    let driver = Driver::start().await;
    let browser = driver.session().await;
    let outcome = tokio::spawn(body(browser.clone(), axe)).await;
    let _ = tokio::time::timeout(WAIT, browser.quit()).await;
    drop(driver);
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the browser test did not finish: {e}"),
        }
    }
}

/// The server's address as the browser uses it: `localhost` is a secure
/// context, so Chromium keeps the `__Host-` (Secure) cookies over plain http.
fn browser_base(t: &TestApp) -> String {
    t.base.replace("127.0.0.1", "localhost")
}

/// Waits for a page whose main heading is `text`.
async fn wait_for_heading(b: &Browser, text: &str) {
    b.wait_for(&format!("//h1[normalize-space()=\"{text}\"]"))
        .await;
}

async fn fill(b: &Browser, css: &str, text: &str) {
    let field = b.wait_for(css).await;
    field.clear().await;
    field.type_text(text).await;
}

/// Signs in through the login page, with the code from the account's
/// authenticator when it has a second factor, and waits for the dashboard.
async fn sign_in(b: &Browser, t: &TestApp, email: &str) {
    b.goto(&format!("{}/login", browser_base(t))).await;
    wait_for_heading(b, "Sign in").await;
    submit_sign_in(b, email, PASSWORD).await;
    b.wait_for("//h1[normalize-space()=\"Your studies\" or normalize-space()=\"Enter your code\"]")
        .await;
    if b.path().await == "/login/second-factor" {
        let code = t.authenticator.code(email).await.expect("a second factor");
        submit_code(b, "/login/second-factor", &code).await;
        wait_for_heading(b, "Your studies").await;
    }
}

/// Types a code into the form posting to `action` and submits it.
async fn submit_code(b: &Browser, action: &str, code: &str) {
    fill(b, &format!("form[action=\"{action}\"] #field-code"), code).await;
    b.click_on(&format!(
        "form[action=\"{action}\"] button[type=\"submit\"]"
    ))
    .await;
}

async fn submit_sign_in(b: &Browser, email: &str, password: &str) {
    fill(b, "#field-email", email).await;
    fill(b, "#field-password", password).await;
    b.click_on("form[action=\"/login\"] button[type=\"submit\"]")
        .await;
}

/// A server with an administrator (whose email we know, with the second
/// factor their role needs) and one study.
async fn server_with_study(slug: &str) -> (TestApp, String, String) {
    let t = spawn(Engine::Sqlite).await.expect("SQLite is always there");
    let other_admin = t.admin().await;
    let study = t.study(&other_admin, slug).await;
    let email = format!("browser-{}@example.ac.uk", uuid::Uuid::new_v4().simple());
    fieldkit::auth::service::create_admin_directly(&t.app, &email, "Bea Browser", PASSWORD)
        .await
        .unwrap();
    t.sign_in(&email, PASSWORD).await;
    (t, email, study)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_sets_up_a_second_factor_and_signs_in_with_it() {
    with_browser(|b, axe| async move {
        let t = spawn(Engine::Sqlite).await.expect("SQLite is always there");
        let email = format!("browser-{}@example.ac.uk", uuid::Uuid::new_v4().simple());
        fieldkit::auth::service::create_admin_directly(&t.app, &email, "Bea Browser", PASSWORD)
            .await
            .unwrap();
        let base = browser_base(&t);
        let mut problems = Vec::new();

        // The password alone leads to setting up the second factor first.
        b.goto(&format!("{base}/login")).await;
        wait_for_heading(&b, "Sign in").await;
        submit_sign_in(&b, &email, PASSWORD).await;
        wait_for_heading(&b, "Second factor").await;
        assert_eq!(b.path().await, "/account/second-factor");
        problems.extend(check_page(&b, "second-factor-needed", &axe).await);

        b.click_on("//button[normalize-space()=\"Set up a second factor\"]")
            .await;
        b.wait_for("figure.qr-code svg").await;
        problems.extend(check_page(&b, "second-factor-enrol", &axe).await);
        let secret = b
            .execute(
                "return document.getElementById('totp-secret').textContent;",
                json!([]),
            )
            .await
            .as_str()
            .unwrap()
            .to_owned();
        t.authenticator.remember(&email, &secret);

        submit_code(&b, "/account/second-factor/confirmation", "000000").await;
        b.wait_for(".error-summary").await;
        problems.extend(check_page(&b, "second-factor-wrong-code", &axe).await);

        let code = t.authenticator.code(&email).await.unwrap();
        submit_code(&b, "/account/second-factor/confirmation", &code).await;
        b.wait_for("//h2[normalize-space()=\"Your recovery codes\"]")
            .await;
        problems.extend(check_page(&b, "second-factor-recovery-codes", &axe).await);

        // Signing in again asks for a code after the password.
        b.click_on("//button[normalize-space()=\"Sign out\"]").await;
        wait_for_heading(&b, "Sign in").await;
        submit_sign_in(&b, &email, PASSWORD).await;
        wait_for_heading(&b, "Enter your code").await;
        let field = b.wait_for("#field-code").await;
        assert_eq!(
            field.attr("autocomplete").await.as_deref(),
            Some("one-time-code")
        );
        assert_eq!(field.attr("inputmode").await.as_deref(), Some("numeric"));
        problems.extend(check_page(&b, "sign-in-code", &axe).await);
        let code = t.authenticator.code(&email).await.unwrap();
        submit_code(&b, "/login/second-factor", &code).await;
        wait_for_heading(&b, "Your studies").await;
        assert!(b.has_cookie(SESSION_COOKIE).await);

        assert_no_problems(&problems);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_sees_their_study_and_signs_out() {
    with_browser(|b, _| async move {
        let (t, email, study) = server_with_study("journey").await;
        let base = browser_base(&t);

        sign_in(&b, &t, &email).await;
        assert_eq!(b.path().await, "/");
        assert!(
            b.has_cookie(SESSION_COOKIE).await,
            "Chromium did not keep the session cookie"
        );
        b.find("//main//a[normalize-space()=\"Study journey\"]")
            .await
            .expect("the dashboard lists the study")
            .click()
            .await;

        wait_for_heading(&b, "Study journey").await;
        assert_eq!(b.path().await, format!("/studies/{study}"));

        b.click_on("//button[normalize-space()=\"Sign out\"]").await;
        wait_for_heading(&b, "Sign in").await;
        assert_eq!(b.path().await, "/login");
        assert!(
            !b.has_cookie(SESSION_COOKIE).await,
            "the session cookie outlived signing out"
        );

        // Signed out, the dashboard sends the browser back to sign in.
        b.goto(&format!("{base}/")).await;
        wait_for_heading(&b, "Sign in").await;
        assert_eq!(b.path().await, "/login");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_tab_on_the_sign_in_page_reaches_the_skip_link() {
    with_browser(|b, _| async move {
        let t = spawn(Engine::Sqlite).await.expect("SQLite is always there");
        b.goto(&format!("{}/login", browser_base(&t))).await;
        wait_for_heading(&b, "Sign in").await;

        b.press(TAB).await;
        let focused = b.active_element().await;
        assert_eq!(
            focused.attr("class").await.as_deref(),
            Some("skip-link"),
            "the first Tab focused {}",
            focused.outer_html().await
        );
        assert_eq!(focused.attr("href").await.as_deref(), Some("#main"));
        // Focused, it is on screen (it hides off screen otherwise).
        let (x, y, w, h) = focused.rect().await;
        assert!(
            x >= 0.0 && y >= 0.0 && w > 0.0 && h > 0.0,
            "skip link at {x},{y} size {w}x{h}"
        );

        // Following it moves focus to the main content.
        b.press(ENTER).await;
        let focused = b.active_element().await;
        assert_eq!(focused.attr("id").await.as_deref(), Some("main"));
    })
    .await;
}

/// Checks the page in the browser now; returns what is wrong with it.
async fn check_page(b: &Browser, name: &str, axe: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let found = b
        .execute(
            "return {
                inline_scripts: document.querySelectorAll('script:not([src])').length,
                style_attributes: Array.from(document.querySelectorAll('[style]'), e => e.outerHTML.slice(0, 120)),
                style_elements: document.querySelectorAll('style').length,
                stylesheet_applied: getComputedStyle(document.querySelector('.site-header')).borderBottomStyle === 'solid',
                scrolls_sideways: document.documentElement.scrollWidth > window.innerWidth,
            };",
            json!([]),
        )
        .await;
    if found["inline_scripts"] != 0 {
        problems.push(format!(
            "{name}: {} inline script(s), which the CSP blocks",
            found["inline_scripts"]
        ));
    }
    if found["style_attributes"] != json!([]) || found["style_elements"] != 0 {
        problems.push(format!(
            "{name}: inline styles, which the CSP blocks: {} <style> element(s), style attributes on {}",
            found["style_elements"], found["style_attributes"]
        ));
    }
    if found["stylesheet_applied"] != true {
        problems.push(format!("{name}: /static/app.css was not applied"));
    }
    if found["scrolls_sideways"] != false {
        problems.push(format!(
            "{name}: the page is wider than the window and scrolls sideways"
        ));
    }

    screenshot(b, name).await;

    let result = run_axe(b, axe).await;
    if let Some(error) = result.get("error") {
        problems.push(format!("{name}: axe-core failed: {error}"));
        return problems;
    }
    if result["passes"] == 0 {
        problems.push(format!("{name}: axe-core checked nothing"));
    }
    for v in result["violations"].as_array().unwrap() {
        let nodes: Vec<String> = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                format!(
                    "      {} {}\n        {}",
                    n["target"],
                    n["html"].as_str().unwrap_or_default(),
                    n["summary"]
                        .as_str()
                        .unwrap_or_default()
                        .replace('\n', "\n        ")
                )
            })
            .collect();
        problems.push(format!(
            "{name}: axe {} ({}): {}\n{}",
            v["id"].as_str().unwrap_or_default(),
            v["impact"].as_str().unwrap_or("unknown impact"),
            v["help"].as_str().unwrap_or_default(),
            nodes.join("\n")
        ));
    }
    let incomplete: Vec<&str> = result["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !incomplete.is_empty() {
        println!("{name}: axe could not decide {incomplete:?}; check by hand");
    }
    problems
}

fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Loads axe-core into the page and runs the WCAG 2.x A and AA rules.
async fn run_axe(b: &Browser, axe: &str) -> Value {
    b.execute(axe, json!([])).await;
    b.execute_async(
        "const done = arguments[arguments.length - 1];
         axe.run(document, { runOnly: { type: 'tag', values: arguments[0] } })
           .then(r => done({
             violations: r.violations.map(v => ({
               id: v.id, impact: v.impact, help: v.help,
               nodes: v.nodes.map(n => ({ target: n.target, html: n.html, summary: n.failureSummary })),
             })),
             incomplete: r.incomplete.map(v => v.id),
             passes: r.passes.length,
           }))
           .catch(e => done({ error: String(e) }));",
        json!([AXE_TAGS]),
    )
    .await
}

/// Saves the whole page as target/screenshots/<name>.png.
async fn screenshot(b: &Browser, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    // Grow the window to the page's height so the picture shows all of it.
    let (width, height) = b.window_size().await;
    let needed = b
        .execute(
            "return document.documentElement.scrollHeight + (window.outerHeight - window.innerHeight);",
            json!([]),
        )
        .await
        .as_u64()
        .unwrap_or(height);
    if needed > height {
        b.set_window_size(width, needed).await;
    }
    let png = b.screenshot_png().await;
    if needed > height {
        b.set_window_size(width, height).await;
    }
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    println!("saved {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_pages_pass_axe_and_keep_to_the_content_security_policy() {
    with_browser(|b, axe| async move {
        let (t, email, study) = server_with_study("audit").await;
        let base = browser_base(&t);
        let mut problems = Vec::new();

        b.goto(&format!("{base}/login")).await;
        wait_for_heading(&b, "Sign in").await;
        problems.extend(check_page(&b, "login", &axe).await);

        submit_sign_in(&b, &email, "not the right password").await;
        b.wait_for(".error-summary").await;
        problems.extend(check_page(&b, "login-error", &axe).await);

        b.goto(&format!("{base}/password-reset/request")).await;
        b.wait_for("main h1").await;
        assert_eq!(b.path().await, "/password-reset/request");
        problems.extend(check_page(&b, "password-reset-request", &axe).await);

        sign_in(&b, &t, &email).await;
        problems.extend(check_page(&b, "dashboard", &axe).await);

        b.goto(&format!("{base}/studies/{study}")).await;
        wait_for_heading(&b, "Study audit").await;
        problems.extend(check_page(&b, "study", &axe).await);
        let audit = b
            .execute("return document.getElementById('audit-caption').closest('table').innerText;", json!([]))
            .await;
        let audit = audit.as_str().unwrap();
        assert!(!audit.contains("account:"), "the study audit names people: {audit}");
        let roles = b
            .execute("return document.getElementById('field-role').innerText;", json!([]))
            .await;
        assert!(roles.as_str().unwrap().contains("never sees who participants are"), "roles are explained: {roles}");

        b.goto(&format!("{base}/account")).await;
        wait_for_heading(&b, "Your account").await;
        problems.extend(check_page(&b, "account", &axe).await);

        b.goto(&format!("{base}/admin/accounts")).await;
        b.wait_for("main h1").await;
        assert_eq!(b.path().await, "/admin/accounts");
        problems.extend(check_page(&b, "admin-accounts", &axe).await);

        assert_no_problems(&problems);

        // A control: axe does report a problem when there is one.
        b.execute(
            "document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"data:,\">');",
            json!([]),
        )
        .await;
        let control = run_axe(&b, &axe).await;
        assert!(
            control["violations"]
                .as_array()
                .is_some_and(|v| v.iter().any(|v| v["id"] == "image-alt")),
            "axe missed an image without alt text: {control}"
        );
    })
    .await;
}

/// A researcher and a participant with an account in the recovery-college
/// study (whose shipped forms are published): (researcher session,
/// participant id, participant email).
async fn recovery_college_participant(t: &TestApp, study: &str) -> (String, String, String) {
    let admin = t.admin().await;
    let site = t.site(&admin, study, "College").await;
    let (researcher, researcher_email) = t.person(&admin, "Rhea Researcher").await;
    t.member(&admin, study, &researcher, "researcher", &[])
        .await;
    let session = t.sign_in(&researcher_email, PASSWORD).await;
    let (account, email) = t.person(&admin, "Pat Participant").await;
    t.member(&admin, study, &account, "participant", &[]).await;
    let r = t
        .api(reqwest::Method::POST, &format!("/studies/{study}/participants"), Some(&session))
        .json(&json!({ "site_id": site, "stakeholder_group": "student", "name": "Pat Participant", "account_id": account }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let participant = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (session, participant, email)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_consents_online_and_the_consent_pages_pass_axe() {
    with_browser(|b, axe| async move {
        let (t, _, study) = server_with_study("recovery-college-codesign").await;
        let (researcher, participant, email) = recovery_college_participant(&t, &study).await;
        let base = browser_base(&t);
        let mut problems = Vec::new();
        for (form_id, language, name) in [
            ("participation", "", "consent"),
            ("participation-easy-read", "", "consent-easy-read"),
            ("participation", "&language=ur", "consent-urdu"),
        ] {
            let r = t
                .api(
                    reqwest::Method::POST,
                    &format!("/studies/{study}/participants/{participant}/consent-invitations"),
                    Some(&researcher),
                )
                .json(&json!({ "form_id": form_id }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            let link = r.json::<Value>().await.unwrap()["link"]
                .as_str()
                .unwrap()
                .to_owned();
            let path = &link[link.find("/consent?token=").unwrap()..];
            // A participant on a phone, from the start to the thank-you page.
            b.set_window_size(390, 844).await;
            b.goto(&format!("{base}{path}{language}")).await;
            b.wait_for("form#journey").await;
            if !language.is_empty() {
                let heading = b
                    .execute(
                        "const h = document.querySelector('main h1'); return [h.lang, h.dir, getComputedStyle(h).direction];",
                        json!([]),
                    )
                    .await;
                assert_eq!(heading, json!(["ur", "rtl", "rtl"]), "the Urdu form reads right to left");
            }
            problems.extend(check_page(&b, &format!("{name}-start"), &axe).await);
            click_and_reload(&b, "form#journey button[value=\"next\"]").await;
            let mut part = 1;
            loop {
                let ticked = b
                    .execute(
                        "return document.querySelectorAll('input[type=radio]:checked').length;",
                        json!([]),
                    )
                    .await;
                assert_eq!(ticked, 0, "{name}: an answer was ticked for the participant");
                if part == 1 {
                    problems.extend(check_page(&b, &format!("{name}-part-1"), &axe).await);
                    problems.extend(small_targets(&b, name).await);
                    if form_id == "participation" && language.is_empty() {
                        // Continuing without answering: each statement named and linked.
                        click_and_reload(&b, "form#journey button[value=\"next\"]").await;
                        b.wait_for(".error-summary").await;
                        let listed = b
                            .execute("return document.querySelectorAll('.error-summary li a').length;", json!([]))
                            .await;
                        assert_eq!(listed, 2, "each unanswered statement listed apart");
                        problems.extend(check_page(&b, "consent-error", &axe).await);
                    }
                }
                // Every statement answered: the first by keyboard, the rest by clicking the label.
                let yes: Vec<String> = serde_json::from_value(
                    b.execute(
                        "return Array.from(document.querySelectorAll('input[type=radio][value=yes]'), e => e.id);",
                        json!([]),
                    )
                    .await,
                )
                .unwrap();
                assert!(!yes.is_empty() && yes.len() <= 4, "{name}: a few statements a page");
                b.execute("document.getElementById(arguments[0]).focus();", json!([yes[0]]))
                    .await;
                b.press(" ").await;
                for id in &yes[1..] {
                    b.click_on(&format!("label[for=\"{id}\"]")).await;
                }
                let answered = b
                    .execute(
                        "return document.querySelectorAll('input[type=radio][value=yes]:checked').length;",
                        json!([]),
                    )
                    .await;
                assert_eq!(answered, yes.len(), "{name}: every statement on the page is answered");
                click_and_reload(&b, "form#journey button[value=\"next\"]").await;
                if b.execute("return !!document.getElementById('field-signature');", json!([])).await == true {
                    break;
                }
                part += 1;
                assert!(part < 10, "{name}: the parts end in a check page");
            }
            let rows = b
                .execute("return document.querySelectorAll('.check-answers > div').length;", json!([]))
                .await;
            assert_eq!(rows, 14, "{name}: every answer is on the check page");
            problems.extend(check_page(&b, &format!("{name}-check"), &axe).await);
            // Enter in the signature box signs (not the first Change button).
            fill(&b, "#field-signature", "Pat Participant").await;
            b.execute("document.documentElement.dataset.before = 'yes';", json!([]))
                .await;
            b.press("\u{E007}").await;
            b.wait_for("html:not([data-before])").await;
            b.wait_for(".panel h1").await;
            problems.extend(check_page(&b, &format!("{name}-thank-you"), &axe).await);
            // Opening the link again: it was used, and says so kindly.
            b.goto(&format!("{base}{path}{language}")).await;
            b.wait_for("main h1").await;
            problems.extend(check_page(&b, &format!("{name}-used"), &axe).await);
            b.set_window_size(1280, 900).await;
        }

        // The participant's own page, with both records and their choices.
        sign_in(&b, &t, &email).await;
        b.goto(&format!("{base}/my/studies/{study}")).await;
        b.wait_for("form[action$=\"/choices\"]").await;
        problems.extend(check_page(&b, "consent-my-study", &axe).await);

        assert_no_problems(&problems);
    })
    .await;
}

/// The researcher's and reviewer's pages at phone size (390 x 844): a paged
/// participant list, a participant's page, the consent register and the
/// re-consent list pass axe-core and the CSP, and are saved as screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_study_pages_pass_axe_at_phone_size() {
    with_browser(|b, axe| async move {
        let (t, _, study) = server_with_study("recovery-college-codesign").await;
        let (researcher, participant, participant_email) =
            recovery_college_participant(&t, &study).await;
        let admin = t.admin().await;
        let (account, email) = t.person(&admin, "Phoebe Phone").await;
        t.member(&admin, &study, &account, "researcher", &[]).await;
        // Her role needs a second factor: set up as staff do on first sign-in.
        t.sign_in(&email, PASSWORD).await;
        // Enough synthetic participants for a second page.
        let sites: Vec<fieldkit::ids::SiteId> =
            sqlx::query_scalar::<_, String>("SELECT id FROM sites WHERE study_id = $1")
                .bind(&study)
                .fetch_all(&t.app.db.pool)
                .await
                .unwrap()
                .into_iter()
                .map(fieldkit::ids::SiteId::from_db)
                .collect();
        let study_id = fieldkit::ids::StudyId::parse(&study).unwrap();
        fieldkit::demo::participants(
            &t.app,
            &fieldkit::auth::model::Actor::command_line(),
            &study_id,
            &sites,
            60,
        )
        .await
        .unwrap();
        // A consent taken in person, so the register has a row.
        let form = t.consent_form(&researcher, &study, "participation").await;
        let answers: serde_json::Map<String, Value> = form["clauses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["key"].as_str().unwrap().to_owned(), json!("yes")))
            .collect();
        let r = t
            .api(reqwest::Method::POST, &format!("/studies/{study}/participants/{participant}/consents"), Some(&researcher))
            .json(&json!({ "form_version_id": form["id"], "method": "in_person_witnessed", "answers": answers, "signature": "Pat Participant" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        // A withdrawal whose erasure is refused, so the register lists one
        // and they stay due for re-consent.
        let r = t
            .api(reqwest::Method::POST, &format!("/studies/{study}/participants/{participant}/withdrawals"), Some(&researcher))
            .json(&json!({ "remove_identifiable": true, "erasure_refused_because": "already analysed" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        // Another participant, in a study approved under the Mental Capacity
        // Act (set directly: the study form is not what this test is about),
        // assessed as lacking capacity, whose consultee advised against.
        sqlx::query("UPDATE studies SET mca_approved = 1 WHERE id = $1")
            .bind(&study)
            .execute(&t.app.db.pool)
            .await
            .unwrap();
        let advised: String = sqlx::query_scalar(
            "SELECT id FROM participants WHERE study_id = $1 AND id <> $2 ORDER BY id LIMIT 1",
        )
        .bind(&study)
        .bind(&participant)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
        for (what, body) in [
            ("capacity-assessments", json!({ "decision": "take_part", "assessed_on": "2026-01-10", "outcome": "lacks_capacity" })),
            ("consultee-advice", json!({ "consultee_kind": "personal", "advice": "not_take_part", "consultee_name": "Priya Okonkwo" })),
        ] {
            let r = t
                .api(reqwest::Method::POST, &format!("/studies/{study}/participants/{advised}/{what}"), Some(&researcher))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{what}: {}", r.text().await.unwrap());
        }
        // A newer version of the form, so they are due for re-consent.
        t.publish_copy(form["id"].as_str().unwrap(), "participation", 2)
            .await;

        let base = browser_base(&t);
        b.set_window_size(390, 844).await;
        sign_in(&b, &t, &email).await;
        let mut problems = Vec::new();

        b.goto(&format!("{base}/studies/{study}/participants"))
            .await;
        b.wait_for("main table").await;
        problems.extend(check_page(&b, "phone-participants", &axe).await);
        b.find("//main//a[contains(normalize-space(), \"Next\")]")
            .await
            .expect("a link to the next page")
            .click()
            .await;
        b.wait_for("main table").await;
        assert!(b.path().await.ends_with("/participants"));
        problems.extend(check_page(&b, "phone-participants-next", &axe).await);

        b.goto(&format!(
            "{base}/studies/{study}/participants/{participant}"
        ))
        .await;
        b.wait_for("main h1").await;
        problems.extend(check_page(&b, "phone-participant", &axe).await);

        b.goto(&format!("{base}/studies/{study}/participants/{advised}"))
            .await;
        b.wait_for("main h1").await;
        assert!(b
            .source()
            .await
            .contains("kept from taking part"));
        assert!(
            !b.source().await.contains("Record a consultee's advice"),
            "no advice form for someone advice can no longer bring in"
        );
        assert!(b
            .source()
            .await
            .contains("no consultee's advice can be recorded"));
        problems.extend(check_page(&b, "phone-participant-consultee", &axe).await);

        b.goto(&format!("{base}/studies/{study}/consent-register"))
            .await;
        b.wait_for("main h1").await;
        problems.extend(check_page(&b, "phone-register", &axe).await);
        // A record's own page: every answer in the form's words.
        click_and_reload(&b, "#records-caption ~ tbody th[scope=\"row\"] a").await;
        b.wait_for(".answers-summary").await;
        problems.extend(check_page(&b, "phone-record", &axe).await);

        b.goto(&format!("{base}/studies/{study}/reconsent")).await;
        b.wait_for("input[name=\"participant_id\"]").await;
        problems.extend(check_page(&b, "phone-reconsent", &axe).await);
        b.click_on("label[for^=\"reconsent-\"]").await;
        b.click_on("main form button[type=\"submit\"]").await;
        wait_for_heading(&b, "Re-consent invitations").await;
        problems.extend(check_page(&b, "phone-reconsent-sent", &axe).await);

        // The participant withdraws from contact on their own page: the
        // confirmation is on screen, with their record to download.
        b.click_on("//button[normalize-space()=\"Sign out\"]").await;
        wait_for_heading(&b, "Sign in").await;
        sign_in(&b, &t, &participant_email).await;
        b.goto(&format!("{base}/my/studies/{study}")).await;
        b.wait_for("#scope-contact").await.click().await;
        b.click_on("form[action$=\"/withdrawals\"] button[type=\"submit\"]").await;
        // The notice after the redirect: the page already listed a withdrawal.
        b.wait_for("//*[contains(text(), \"We have not emailed you\")]")
            .await;
        assert!(
            b.source()
                .await
                .contains("could not be removed: already analysed"),
            "the refused erasure is shown as refused"
        );
        problems.extend(check_page(&b, "phone-my-study-withdrawn", &axe).await);

        assert_no_problems(&problems);
    })
    .await;
}

/// A practitioner completes the draft Connecting People checklist about
/// their team: the form drawn from the definition, its errors tied to the
/// items, the scored result; then a researcher reads the fidelity view with
/// its pictures. Each page at desktop and phone size, under axe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practitioner_completes_a_fidelity_checklist_and_the_pages_pass_axe() {
    with_browser(|b, axe| async move {
        let (t, _, study) = server_with_study("connecting-people").await;
        let admin = t.admin().await;
        let site = t.site(&admin, &study, "Example Trust").await;
        let r = t
            .api(reqwest::Method::POST, &format!("/studies/{study}/sites/{site}/teams"), Some(&admin))
            .json(&json!({ "name": "North CMHT", "kind": "CMHT", "arm": "intervention" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let (rater, rater_email) = t.person(&admin, "Pat Practitioner").await;
        t.member(&admin, &study, &rater, "rater", &[]).await;
        let (researcher, researcher_email) = t.person(&admin, "Rhea Researcher").await;
        t.member(&admin, &study, &researcher, "researcher", &[]).await;
        t.sign_in(&researcher_email, PASSWORD).await;
        let base = browser_base(&t);
        let mut problems = Vec::new();
        let both_sizes = |name: &'static str| {
            let b = b.clone();
            let axe = axe.clone();
            async move {
                let mut found = check_page(&b, name, &axe).await;
                let (width, height) = b.window_size().await;
                b.set_window_size(390, 844).await;
                found.extend(check_page(&b, &format!("phone-{name}"), &axe).await);
                b.set_window_size(width, height).await;
                found
            }
        };

        sign_in(&b, &t, &rater_email).await;
        b.goto(&format!("{base}/studies/{study}/instruments")).await;
        wait_for_heading(&b, "Checklists and questionnaires").await;
        problems.extend(both_sizes("instruments").await);
        // Begin: the checklist's own form, its team, as a practitioner, at baseline.
        let form = "//form[.//input[@name='instrument_version_id']][.//option[normalize-space()='North CMHT (Example Trust)']]";
        b.execute(
            "const f = document.evaluate(arguments[0], document, null, 9, null).singleNodeValue;
             for (const [name, label] of [['subject_id', 'North CMHT (Example Trust)'], ['rater_role', 'Practitioner'], ['time_point', 'Baseline']]) {
               const s = f.querySelector(`select[name=${name}]`);
               s.value = Array.from(s.options).find(o => o.text === label).value;
             }
             f.querySelector('button[type=submit]').click();",
            json!([form]),
        )
        .await;
        wait_for_heading(&b, "Connecting People fidelity checklist (draft)").await;
        problems.extend(both_sizes("checklist").await);

        // Submitted with nothing answered: each required item named and linked.
        b.click_on("//button[normalize-space()='Submit']").await;
        b.wait_for(".error-summary").await;
        let linked = b
            .execute(
                "return Array.from(document.querySelectorAll('.error-summary a'), a => a.getAttribute('href'));",
                json!([]),
            )
            .await;
        assert_eq!(linked.as_array().unwrap().len(), 4, "{linked}");
        assert!(linked[0].as_str().unwrap().starts_with("#field-answers."), "{linked}");
        problems.extend(check_page(&b, "checklist-errors", &axe).await);

        // Every item "Fully in place" by clicking its label, then submit.
        b.execute(
            "document.querySelectorAll('fieldset').forEach(f => {
               const l = Array.from(f.querySelectorAll('label')).find(l => l.textContent === 'Fully in place');
               if (l) l.click();
             });",
            json!([]),
        )
        .await;
        b.click_on("//button[normalize-space()='Submit']").await;
        b.wait_for("//h2[normalize-space()='Scores']").await;
        let scored = b.source().await;
        assert!(scored.contains("High fidelity"), "the score and its band are shown");
        problems.extend(both_sizes("checklist-submitted").await);
        b.click_on("//button[normalize-space()=\"Sign out\"]").await;
        wait_for_heading(&b, "Sign in").await;

        sign_in(&b, &t, &researcher_email).await;
        b.goto(&format!("{base}/studies/{study}/instruments")).await;
        b.click_on("//a[normalize-space()='Fidelity by team, time point and rater']").await;
        wait_for_heading(&b, "Fidelity: Connecting People fidelity checklist (draft)").await;
        let svgs = b
            .execute("return Array.from(document.querySelectorAll('figure svg[role=img]'), s => s.getAttribute('aria-labelledby'));", json!([]))
            .await;
        assert_eq!(svgs.as_array().unwrap().len(), 2, "{svgs}");
        problems.extend(both_sizes("fidelity").await);
        assert_no_problems(&problems);
    })
    .await;
}

/// Clicks and waits for the next page to load, not the one clicked on
/// (which may have the same parts).
/// Radios and their labels smaller than 44 by 44 CSS pixels (GOV.UK's
/// target size, beyond WCAG 2.2 AA's 24).
async fn small_targets(b: &Browser, name: &str) -> Vec<String> {
    let small = b
        .execute(
            "return Array.from(document.querySelectorAll('input[type=radio], input[type=checkbox]'), e => {
                const r = e.getBoundingClientRect();
                const l = document.querySelector('label[for=\"' + e.id + '\"]').getBoundingClientRect();
                return [e.id, Math.round(r.width), Math.round(r.height), Math.round(l.height)];
            }).filter(([, w, h, lh]) => w < 44 || h < 44 || lh < 44);",
            json!([]),
        )
        .await;
    if small == json!([]) {
        Vec::new()
    } else {
        vec![format!(
            "{name}: targets under 44 px (id, width, height, label height): {small}"
        )]
    }
}

async fn click_and_reload(b: &Browser, selector: &str) {
    b.execute(
        "document.documentElement.dataset.before = 'yes';",
        json!([]),
    )
    .await;
    b.click_on(selector).await;
    b.wait_for("html:not([data-before])").await;
}

/// A researcher logs a vox pop, uploads its recording, imports its Teams
/// transcript, maps the speakers, accepts the suggested redactions, redacts
/// it and marks a quote; then the quotes list shows it usable. Each page at
/// desktop and phone size, under axe; a turn's time seeks the player.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_researcher_logs_a_vox_pop_with_its_transcript_and_a_quote() {
    with_browser(|b, axe| async move {
        let t = spawn(Engine::Sqlite).await.expect("SQLite is always there");
        let s = crate::consent::setup(&t).await;
        let consent = crate::consent::answers(&s, &["audio_recording", "quotes"], "no");
        assert_eq!(crate::consent::take(&t, &s, &consent).await.status(), 200);
        let code = t.get_json(&s.researcher, &format!("/studies/{}/participants/{}", s.study, s.participant)).await
            ["study_code"].as_str().unwrap().to_owned();
        let dir = TempDir::new();
        let sound = dir.0.join("vox-pop-3.wav");
        std::fs::write(&sound, crate::recordings::wav(400_000)).unwrap();
        // A Teams transcript naming the participant (as people do) and a phone number.
        let vtt = dir.0.join("vox-pop-3.vtt");
        std::fs::write(
            &vtt,
            "WEBVTT\n\n00:00:03.000 --> 00:00:07.000\n<v Interviewer>Thanks for stopping by the stall. What brought you here?</v>\n\n\
             00:00:10.000 --> 00:00:15.000\n<v Zoë Okonkwo-Price>I'm Zoë, and a friend said ring 07700 900123 to book.</v>\n\n\
             00:00:16.000 --> 00:00:21.000\n<v Zoë Okonkwo-Price>The course was the first thing that felt like it was made for people like me.</v>\n",
        )
        .unwrap();
        let base = browser_base(&t);
        let study = &s.study;
        let mut problems = Vec::new();
        let both_sizes = |name: &'static str| {
            let b = b.clone();
            let axe = axe.clone();
            async move {
                let mut found = check_page(&b, name, &axe).await;
                let (width, height) = b.window_size().await;
                b.set_window_size(390, 844).await;
                found.extend(check_page(&b, &format!("phone-{name}"), &axe).await);
                b.set_window_size(width, height).await;
                found
            }
        };
        let choose = |form: &'static str, name: &'static str, value: String| {
            let b = b.clone();
            async move {
                b.execute(
                    "document.querySelector(arguments[0]).querySelector(`[name='${arguments[1]}']`).value = arguments[2];",
                    json!([form, name, value]),
                )
                .await;
            }
        };

        sign_in(&b, &t, &s.researcher_email).await;

        // First a paper consent, its scan uploaded with the form.
        let scan = dir.0.join("consent-scan.pdf");
        std::fs::write(&scan, b"%PDF-1.4 a signed paper consent form").unwrap();
        b.goto(&format!(
            "{base}/studies/{study}/participants/{}/consents/new?form={}",
            s.participant, s.form_version
        ))
        .await;
        b.wait_for("#field-scan").await;
        problems.extend(both_sizes("consent-take").await);
        b.execute(
            "document.querySelectorAll('input[type=radio][value=yes]').forEach(r => r.click());",
            json!([]),
        )
        .await;
        choose("form[enctype='multipart/form-data']", "method", "paper_scanned".into()).await;
        b.find("#field-scan").await.unwrap().type_text(scan.to_str().unwrap()).await;
        b.click_on("#field-send_copy").await;
        click_and_reload(&b, "form[enctype='multipart/form-data'] button[type=submit]").await;
        assert!(
            b.source().await.contains("The consent has been recorded"),
            "the paper consent is recorded"
        );
        // The box ticked above the file was read: the participant's copy is queued.
        let copies: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE template = 'consent_copy'")
                .fetch_one(&t.app.db.pool)
                .await
                .unwrap();
        assert_eq!(copies, 1);

        b.goto(&format!("{base}/studies/{study}/fieldwork")).await;
        wait_for_heading(&b, "Fieldwork").await;
        problems.extend(both_sizes("fieldwork").await);

        // Log the encounter: nothing typed first, so each problem is named.
        let new = "form[action$='/encounters']";
        b.click_on(&format!("{new} button[type=submit]")).await;
        b.wait_for(".error-summary").await;
        problems.extend(check_page(&b, "fieldwork-errors", &axe).await);
        choose(new, "kind", "vox_pop".into()).await;
        choose(new, "occurred_at", "2026-11-20T11:30".into()).await;
        let site = crate::consent::site(&t, &s.researcher, study).await;
        choose(new, "site_id", site).await;
        fill(&b, "#field-participants", &code).await;
        fill(&b, "#field-location", "Market square").await;
        b.click_on(&format!("{new} button[type=submit]")).await;
        wait_for_heading(&b, "Vox pop, 20 November 2026, 11:30").await;
        problems.extend(both_sizes("encounter").await);

        // Upload the recording through the page's multipart form.
        let upload = "form[enctype='multipart/form-data']";
        fill(&b, &format!("{upload} #field-title"), "Vox pop 3, market square").await;
        choose(upload, "kind", "audio".into()).await;
        b.find(&format!("{upload} #field-file")).await.unwrap().type_text(sound.to_str().unwrap()).await;
        b.click_on(&format!("{upload} button[type=submit]")).await;
        wait_for_heading(&b, "Vox pop 3, market square").await;
        // The player reads the recording by range, as a browser does to seek.
        let status = b
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(document.getElementById('player').src, { headers: { Range: 'bytes=100-199' } })
                   .then(r => done(r.status));",
                json!([]),
            )
            .await;
        assert_eq!(status, 206);

        // Import the transcript.
        b.find("form[action$='/transcript'] #field-file").await.unwrap().type_text(vtt.to_str().unwrap()).await;
        click_and_reload(&b, "form[action$='/transcript'] button[type=submit]").await;
        let page = b.source().await;
        assert!(page.contains("(“Zoë Okonkwo-Price” in the file)"), "the file's names are shown beside the raw words");
        assert!(page.contains("A participant&#x27;s name") || page.contains("A participant's name"), "the vault's name is suggested");
        problems.extend(both_sizes("recording-with-transcript").await);

        // A turn's time plays the recording from there.
        b.click_on("//ol[@class='turns']/li[3]//a[@data-seek]").await;
        let mut at = 0.0;
        for _ in 0..50 {
            at = b.execute("return document.getElementById('player').currentTime;", json!([])).await.as_f64().unwrap_or(0.0);
            if at >= 10.0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(at >= 10.0, "the player is at {at} s");

        // Map the speakers, accept every suggestion, redact.
        choose("form[action$='/speakers']", "speakers.0", "interviewer".into()).await;
        choose("form[action$='/speakers']", "speakers.1", format!("participant:{code}")).await;
        click_and_reload(&b, "form[action$='/speakers'] button[type=submit]").await;
        assert!(b.source().await.contains(&format!("<strong>{code}</strong>")));
        loop {
            let waiting = b.execute("return document.querySelectorAll(\"button[value='accept']\").length;", json!([])).await;
            if waiting == 0 {
                break;
            }
            click_and_reload(&b, "button[value='accept']").await;
        }
        choose("form[action$='/status']", "status", "redacted".into()).await;
        b.click_on("form[action$='/status'] button[type=submit]").await;
        b.wait_for("//h2[starts-with(normalize-space(), 'Transcript')]/span[normalize-space()='Redacted']").await;
        let redacted = b.execute("return document.querySelector('ol.turns').textContent;", json!([])).await;
        let redacted = redacted.as_str().unwrap();
        assert!(
            redacted.contains("[PERSON_1]") && !redacted.contains("Zoë") && !redacted.contains("07700"),
            "{redacted}"
        );
        problems.extend(both_sizes("recording-redacted").await);

        // A quote: words not in the turn are refused on the form, then the right ones.
        let quote = "form[action$='/quotes']";
        let turn = b
            .execute(
                "const li = Array.from(document.querySelectorAll('ol.turns li')).find(l => l.textContent.includes('the first thing'));
                 return String(Number(li.id.replace('turn-', '')) - 1);",
                json!([]),
            )
            .await;
        let turn = turn.as_str().unwrap().to_owned();
        choose(quote, "quote_position", turn.clone()).await;
        fill(&b, "#field-quote_words", "words nobody said").await;
        fill(&b, "#field-quote_theme", "belonging").await;
        b.click_on(&format!("{quote} button[type=submit]")).await;
        b.wait_for(".error-summary a[href='#field-quote_words']").await;
        problems.extend(check_page(&b, "quote-error", &axe).await);
        choose(quote, "quote_position", turn.clone()).await;
        fill(&b, "#field-quote_words", "the first thing").await;
        click_and_reload(&b, &format!("{quote} button[type=submit]")).await;
        assert!(!b.source().await.contains("error-summary"), "the quote is marked");
        b.goto(&format!("{base}/studies/{study}/quotes")).await;
        wait_for_heading(&b, "Quotes").await;
        let listed = b.source().await;
        assert!(listed.contains("the first thing") && listed.contains("belonging"), "the quote is listed");
        problems.extend(both_sizes("quotes").await);
        assert_no_problems(&problems);
    })
    .await;
}
