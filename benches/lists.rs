//! Lists and authentication under load (issue 6). One page of participants
//! in a study of 50 and in a study of 50,000 (the first page and one deep in
//! the list), and an authenticated `GET /api/v1/studies/{id}`, each beside
//! `/healthz` and `/readyz` measured in the same run: the ceiling is what the
//! same server answers through the same middleware with no work to do.
//!
//! ```sh
//! cargo bench --bench lists                      # SQLite, 50,000 participants
//! cargo bench --bench lists -- --participants 5000
//! FIELDKIT_BENCH_DATABASE_URL=postgres://root@127.0.0.1/bench cargo bench --bench lists
//! ```
//!
//! The PostgreSQL database must be empty. Studies are built with
//! `fieldkit::demo`, the generator behind `fieldkit demo --participants N`.

mod common;

use std::time::{Duration, Instant};

use common::{staff_session, PASSWORD};
use fieldkit::app::App;
use fieldkit::auth::model::{Actor, Role};
use fieldkit::clock::Clock;
use fieldkit::config::{ServerConfig, Storage};
use fieldkit::ids::{SiteId, StudyId};
use fieldkit::studies::model::{LawfulBasis, StudyInput, StudyStatus};
use fieldkit::{auth, demo, studies};
use poem::listener::{Listener, TcpListener};

const SMALL: usize = 50;
/// Requests per measurement, after a tenth as many to warm up.
const ROUNDS: usize = 1000;

struct Timing {
    name: String,
    p50: Duration,
    p95: Duration,
    per_second: f64,
}

/// `ROUNDS` sequential requests on one keep-alive connection.
async fn measure(http: &reqwest::Client, name: &str, url: &str, token: Option<&str>) -> Timing {
    let get = || {
        let rb = http.get(url);
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    };
    for _ in 0..ROUNDS / 10 {
        let r = get().send().await.expect("the server answers");
        assert!(r.status().is_success(), "{name}: {}", r.status());
        r.bytes().await.unwrap();
    }
    let mut times = Vec::with_capacity(ROUNDS);
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let r = get().send().await.unwrap();
        assert!(r.status().is_success(), "{name}: {}", r.status());
        r.bytes().await.unwrap();
        times.push(t.elapsed());
    }
    let total = started.elapsed();
    times.sort();
    Timing {
        name: name.to_owned(),
        p50: times[ROUNDS / 2],
        p95: times[ROUNDS * 95 / 100],
        per_second: ROUNDS as f64 / total.as_secs_f64(),
    }
}

/// A study with two sites, `count` synthetic participants spread over them,
/// and `researcher` a researcher at both: its id and its sites.
async fn study(
    app: &App,
    slug: &str,
    count: usize,
    researcher: &fieldkit::ids::AccountId,
) -> (StudyId, Vec<SiteId>) {
    let actor = Actor::command_line();
    let input = StudyInput {
        title: format!("Benchmark (synthetic): {count} participants").into(),
        slug: slug.into(),
        iras_id: None,
        rec_reference: None,
        lawful_basis: LawfulBasis::PublicTask,
        retention_years: 10,
        status: StudyStatus::Recruiting,
        code_prefix: None,
        mca_approved: false,
    };
    let id = studies::service::create_study(app, &actor, &input)
        .await
        .unwrap()
        .id;
    let mut sites: Vec<SiteId> = Vec::new();
    for name in ["North site (synthetic)", "South site (synthetic)"] {
        sites.push(
            studies::service::add_site(app, &actor, &id, name)
                .await
                .unwrap(),
        );
    }
    studies::service::set_member(app, &actor, &id, researcher, Role::Researcher, &[], None)
        .await
        .unwrap();
    let started = Instant::now();
    demo::participants(app, &actor, &id, &sites, count)
        .await
        .unwrap();
    println!(
        "enrolled {count} synthetic participants in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    (id, sites)
}

/// Prints a table of timings, each beside the first (the ceiling).
fn report(heading: &str, timings: &[Timing]) {
    let ceiling = timings[0].per_second;
    println!("\n{heading}, {ROUNDS} sequential requests each, one keep-alive connection");
    println!(
        "{:<58} {:>8} {:>8} {:>8} {:>10}",
        "request", "p50 ms", "p95 ms", "req/s", "of healthz"
    );
    for t in timings {
        println!(
            "{:<58} {:>8.3} {:>8.3} {:>8.0} {:>10.2}",
            t.name,
            t.p50.as_secs_f64() * 1000.0,
            t.p95.as_secs_f64() * 1000.0,
            t.per_second,
            t.per_second / ceiling
        );
    }
}

/// The id of the `n`th participant enrolled in `study` (0-based).
async fn nth_participant(app: &App, study: &StudyId, n: usize) -> String {
    use sqlx::Row;
    sqlx::query("SELECT id FROM participants WHERE study_id = $1 ORDER BY id LIMIT 1 OFFSET $2")
        .bind(study.as_str())
        .bind(n as i64)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get(0)
}

#[tokio::main]
async fn main() {
    let mut large = 50_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--participants" {
            large = args
                .next()
                .and_then(|n| n.parse().ok())
                .expect("--participants N");
        }
    }
    let dir =
        std::env::temp_dir().join(format!("fieldkit-bench-{}", uuid::Uuid::new_v4().simple()));
    let storage = Storage {
        data_dir: dir.clone(),
        database_url: std::env::var("FIELDKIT_BENCH_DATABASE_URL").ok(),
        consent_forms: concat!(env!("CARGO_MANIFEST_DIR"), "/consent-forms").into(),
        instruments_dir: None,
        media_dir: None,
    };
    let engine = if storage.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let app = App::open(storage, ServerConfig::from_env(), Clock::system())
        .await
        .unwrap();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let base = format!("http://{}", fieldkit::http::local_addr(&acceptor).unwrap());
    tokio::spawn(fieldkit::http::serve(
        app.clone(),
        acceptor,
        std::future::pending(),
    ));

    let email = "bench-researcher@example.ac.uk";
    let account = auth::service::create_admin_directly(&app, email, "Bench Researcher", PASSWORD)
        .await
        .unwrap();
    let token = staff_session(&app, email).await;
    let http = reqwest::Client::new();
    let bearer = Some(token.as_str());
    let list = |study: &StudyId| format!("{base}/api/v1/studies/{study}/participants?limit=50");

    // The first day: only the small study exists.
    let (small_study, _) = study(&app, "bench-small", SMALL, &account).await;
    let first_day = [
        ("GET /healthz", format!("{base}/healthz"), None),
        ("GET /readyz", format!("{base}/readyz"), None),
        (
            "GET /api/v1/studies/{id} (bearer)",
            format!("{base}/api/v1/studies/{small_study}"),
            bearer,
        ),
        (
            "participants, first page, 50 enrolled",
            list(&small_study),
            bearer,
        ),
    ];
    let mut timings = Vec::new();
    for (name, url, token) in &first_day {
        timings.push(measure(&http, name, url, *token).await);
    }
    report(
        &format!("{engine}, {SMALL} participants in the database"),
        &timings,
    );

    // Then a large study beside it, and a researcher kept to one of its sites.
    let (large_study, large_sites) = study(&app, "bench-large", large, &account).await;
    let limited_email = "bench-north@example.ac.uk";
    let limited = auth::service::create_admin_directly(&app, limited_email, "North Only", PASSWORD)
        .await
        .unwrap();
    studies::service::set_member(
        &app,
        &Actor::command_line(),
        &large_study,
        &limited,
        Role::Researcher,
        &large_sites[..1],
        None,
    )
    .await
    .unwrap();
    let limited_token = staff_session(&app, limited_email).await;
    let deep = nth_participant(&app, &large_study, large.saturating_sub(SMALL + 1)).await;
    let at_scale = [
        ("GET /healthz".to_owned(), format!("{base}/healthz"), None),
        (
            format!("participants, first page, {SMALL} enrolled"),
            list(&small_study),
            bearer,
        ),
        (
            format!("participants, first page, {large} enrolled"),
            list(&large_study),
            bearer,
        ),
        (
            format!("participants, a page near the end, {large} enrolled"),
            format!("{}&after={deep}", list(&large_study)),
            bearer,
        ),
        (
            format!("participants, first page, one site of {large}"),
            list(&large_study),
            Some(limited_token.as_str()),
        ),
        (
            format!("participants, status none has, {large} enrolled"),
            format!("{}&status=withdrawn", list(&large_study)),
            bearer,
        ),
    ];
    let mut scaled = Vec::new();
    for (name, url, token) in &at_scale {
        scaled.push(measure(&http, name, url, *token).await);
    }
    report(
        &format!("{engine}, {} participants in the database", large + SMALL),
        &scaled,
    );
    println!(
        "\none page with {large} enrolled takes {:.2}x the time of one with {SMALL} on the first day (p50)",
        scaled[2].p50.as_secs_f64() / timings[3].p50.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
