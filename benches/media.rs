//! Media upload and download throughput, and the server's memory while it
//! moves a large file (issue: "upload and download throughput for a 1 GB
//! file beside `cp` of the same file, and the server's peak memory during
//! it; it must not grow with the file").
//!
//! ```sh
//! cargo bench --bench media                      # SQLite, a 1,024 MiB recording
//! cargo bench --bench media -- --size-mb 64
//! FIELDKIT_BENCH_DATABASE_URL=postgres://root@127.0.0.1/bench cargo bench --bench media
//! ```
//!
//! A WAV file of `--size-mb` MiB (a real RIFF header, then pseudo-random
//! bytes that do not compress) is copied with `cp`, the ceiling measured in
//! the same run; then uploaded as `multipart/form-data` to
//! `POST /api/v1/studies/{id}/encounters/{id}/media`, streamed from disk;
//! then downloaded whole from `GET /api/v1/studies/{id}/media/{id}/content`
//! with its SHA-256 checked, and read by byte ranges as a player seeking
//! would. The study, its consenting participant and the encounter are set up
//! through the library; the server then runs as the `fieldkit serve` binary
//! in a process of its own on the same data folder, so the peak resident
//! memory read from its `/proc/<pid>/status` (`VmHWM`) is the server's
//! alone. The PostgreSQL database must be empty.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{staff_session, PASSWORD};
use fieldkit::app::App;
use fieldkit::auth::model::{Actor, Role};
use fieldkit::clock::Clock;
use fieldkit::config::{ServerConfig, Storage};
use fieldkit::consent::forms::model::DataUse;
use fieldkit::consent::kernel::model::{ConsentMethod, Submitted};
use fieldkit::participants::model::StakeholderGroup;
use fieldkit::recordings::model::EncounterKind;
use fieldkit::recordings::service::EncounterInput;
use fieldkit::studies::model::{LawfulBasis, StudyInput, StudyStatus};
use fieldkit::vault::model::IdentityInput;
use fieldkit::{auth, consent, participants, recordings, studies};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// The study whose consent forms ship in `consent-forms/`.
const SLUG: &str = "recovery-college-codesign";
const NAME: &str = "Synthetic Participant";
/// How much of the file the client reads or hands over at a time.
const CHUNK: usize = 256 * 1024;
const MIB: u64 = 1024 * 1024;
/// Range requests, spread over the file, and the bytes each asks for.
const RANGES: u64 = 21;
const RANGE_LEN: u64 = 1_000_000;

/// Writes a WAV file of `len` bytes, a RIFF header then xorshift noise;
/// returns its SHA-256.
fn write_wav(path: &Path, len: u64) -> String {
    let data = len.saturating_sub(44).min(u64::from(u32::MAX - 36)) as u32;
    let mut head = Vec::with_capacity(44);
    head.extend_from_slice(b"RIFF");
    head.extend_from_slice(&(data + 36).to_le_bytes());
    head.extend_from_slice(b"WAVEfmt ");
    head.extend_from_slice(&16u32.to_le_bytes());
    head.extend_from_slice(&1u16.to_le_bytes()); // PCM
    head.extend_from_slice(&1u16.to_le_bytes()); // mono
    head.extend_from_slice(&8000u32.to_le_bytes());
    head.extend_from_slice(&8000u32.to_le_bytes());
    head.extend_from_slice(&1u16.to_le_bytes());
    head.extend_from_slice(&8u16.to_le_bytes());
    head.extend_from_slice(b"data");
    head.extend_from_slice(&data.to_le_bytes());
    let mut out = std::io::BufWriter::with_capacity(CHUNK, std::fs::File::create(path).unwrap());
    let mut hasher = Sha256::new();
    out.write_all(&head).unwrap();
    hasher.update(&head);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; CHUNK];
    let mut left = len - head.len() as u64;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(CHUNK as u64) as usize;
        out.write_all(&buf[..n]).unwrap();
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    out.into_inner().unwrap().sync_all().unwrap();
    hex::encode(hasher.finalize())
}

/// A file's bytes as a stream of `CHUNK`s, for a streamed request body.
fn file_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static {
    futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            let n = file.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            return Ok(None);
        }
        buf.truncate(filled);
        Ok(Some((Bytes::from(buf), file)))
    })
}

/// Peak and current resident memory of a process, in KiB (`VmHWM`, `VmRSS`).
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mb_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

/// What the server needs to receive the recording: the ids to post to and
/// a researcher's session token.
struct Fieldwork {
    study: String,
    encounter: String,
    token: String,
}

/// A study with the shipped consent form and one site; the bench account an
/// administrator and a researcher in it; one participant enrolled who agreed
/// to take part and to audio recording; a vox pop with them present.
async fn fieldwork(app: &App) -> Fieldwork {
    let cli = Actor::command_line();
    let email = "bench-researcher@example.ac.uk";
    let account = auth::service::create_admin_directly(app, email, "Bench Researcher", PASSWORD)
        .await
        .unwrap();
    let input = StudyInput {
        title: "Benchmark (synthetic): media".into(),
        slug: SLUG.into(),
        iras_id: None,
        rec_reference: None,
        lawful_basis: LawfulBasis::PublicTask,
        retention_years: 10,
        status: StudyStatus::Recruiting,
        code_prefix: None,
        mca_approved: false,
    };
    let study = studies::service::create_study(app, &cli, &input)
        .await
        .unwrap()
        .id;
    let site = studies::service::add_site(app, &cli, &study, "Market square (synthetic)")
        .await
        .unwrap();
    studies::service::set_member(app, &cli, &study, &account, Role::Researcher, &[], None)
        .await
        .unwrap();
    let token = staff_session(app, email).await;
    let researcher = auth::service::actor_for_session(app, &token)
        .await
        .unwrap()
        .unwrap();
    let participant = participants::service::enrol(
        app,
        &researcher,
        &study,
        participants::service::Enrolment {
            site_id: &site,
            group: StakeholderGroup::Student,
            identity: IdentityInput {
                name: NAME,
                email: None,
                phone: None,
                date_of_birth: None,
                notes: None,
            },
            account_id: None,
        },
    )
    .await
    .unwrap();
    let form = consent::forms::service::current_version(&app.db, &study, "participation")
        .await
        .unwrap()
        .expect("the participation form in consent-forms/ is published");
    let answers: BTreeMap<String, Submitted> = form
        .form
        .clauses
        .iter()
        .map(|c| {
            let yes = c.mandatory || c.governs == DataUse::AudioRecording;
            let answer = if yes { Submitted::Yes } else { Submitted::No };
            (c.key.clone(), answer)
        })
        .collect();
    consent::records::service::take(
        app,
        &researcher,
        &study,
        &participant.id,
        consent::records::service::Taken {
            form_version_id: &form.id,
            language: None,
            method: ConsentMethod::InPersonWitnessed,
            answers,
            signature: Some(NAME),
            verbal_record: None,
            scan: None,
            send_copy: false,
        },
    )
    .await
    .unwrap();
    let encounter = recordings::service::create_encounter(
        app,
        &researcher,
        &study,
        EncounterInput {
            kind: EncounterKind::VoxPop,
            occurred_at: app.now() - 3_600_000,
            site_id: site,
            location: Some("Market square".into()),
            prompt_set: None,
            duration_minutes: Some(5),
            notes: None,
            interviewers: Vec::new(),
            participants: vec![participant.study_code.as_str().to_owned()],
        },
    )
    .await
    .unwrap();
    Fieldwork {
        study: study.to_string(),
        encounter: encounter.id.to_string(),
        token,
    }
}

/// `fieldkit serve` on the data folder, on a port of its choosing: the
/// child and the address it printed.
async fn serve(storage: &Storage, max_upload: u64) -> (tokio::process::Child, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_fieldkit"));
    command
        .arg("serve")
        .env("FIELDKIT_DATA_DIR", &storage.data_dir)
        .env("FIELDKIT_CONSENT_FORMS", &storage.consent_forms)
        .env("FIELDKIT_BIND", "127.0.0.1:0")
        .env("FIELDKIT_MAX_UPLOAD_BYTES", max_upload.to_string())
        .env("FIELDKIT_LOG", "warn")
        .env_remove("FIELDKIT_PUBLIC_URL")
        .env_remove("FIELDKIT_MEDIA_DIR")
        .env_remove("FIELDKIT_INSTRUMENTS_DIR")
        .env_remove("FIELDKIT_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = &storage.database_url {
        command.env("FIELDKIT_DATABASE_URL", url);
    }
    let mut child = command.spawn().expect("the fieldkit binary starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("fieldkit serve says where it runs within a minute")
            .unwrap()
            .expect("fieldkit serve exited before it said where it runs");
        if let Some(rest) = line.strip_prefix("fieldkit is running at ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('/')
                .to_owned();
        }
    };
    // Whatever else it prints is read, so it never waits on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

#[tokio::main]
async fn main() {
    let mut size_mb: u64 = 1024;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--size-mb" {
            size_mb = args
                .next()
                .and_then(|n| n.parse().ok())
                .filter(|&n| n > 0)
                .expect("--size-mb N");
        }
    }
    let len = size_mb * MIB;
    let dir =
        std::env::temp_dir().join(format!("fieldkit-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let storage = Storage {
        data_dir: dir.join("data"),
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

    let source: PathBuf = dir.join("recording.wav");
    let started = Instant::now();
    let sha256 = write_wav(&source, len);
    println!(
        "wrote a {size_mb} MiB WAV file of noise in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The ceiling: the same bytes copied by cp on the same disk, then the
    // copy synced as the server syncs an upload before it answers.
    let copy = dir.join("copy.wav");
    let started = Instant::now();
    let status = std::process::Command::new("cp")
        .arg(&source)
        .arg(&copy)
        .status()
        .expect("cp runs");
    assert!(status.success(), "cp: {status}");
    let cp = started.elapsed();
    std::fs::File::open(&copy).unwrap().sync_all().unwrap();
    let cp_sync = started.elapsed();
    std::fs::remove_file(&copy).unwrap();

    // The records the upload needs, written through the library; then the
    // server in a process of its own on the same data folder.
    let app = App::open(storage.clone(), ServerConfig::from_env(), Clock::system())
        .await
        .unwrap();
    let work = fieldwork(&app).await;
    app.db.pool.close().await;
    drop(app);
    let (mut server, base) = serve(&storage, len.max(4 * 1024 * MIB)).await;
    let pid = server.id().unwrap();
    let http = reqwest::Client::new();
    let ready = Instant::now();
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(ready.elapsed() < Duration::from_secs(30), "not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let at_start = memory(pid);

    // Upload: text fields first, the file last, streamed from disk.
    let file = tokio::fs::File::open(&source).await.unwrap();
    let part = reqwest::multipart::Part::stream_with_length(
        reqwest::Body::wrap_stream(file_stream(file)),
        len,
    )
    .file_name("recording.wav")
    .mime_str("audio/wav")
    .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("title", "Benchmark recording (synthetic)")
        .text("kind", "audio")
        .part("file", part);
    let started = Instant::now();
    let r = http
        .post(format!(
            "{base}/api/v1/studies/{}/encounters/{}/media",
            work.study, work.encounter
        ))
        .bearer_auth(&work.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    let upload = started.elapsed();
    assert_eq!(status, 200, "{body}");
    let item: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(item["size_bytes"], len, "{item}");
    assert_eq!(item["sha256"], sha256.as_str(), "{item}");
    let item = item["id"].as_str().expect("the item's id").to_owned();
    let after_upload = memory(pid);

    // Download: the whole file, hashed as it arrives.
    let content = format!("{base}/api/v1/studies/{}/media/{item}/content", work.study);
    let started = Instant::now();
    let r = http
        .get(&content)
        .bearer_auth(&work.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut body = r.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        received += chunk.len() as u64;
        hasher.update(&chunk);
    }
    let download = started.elapsed();
    assert_eq!(received, len);
    assert_eq!(
        hex::encode(hasher.finalize()),
        sha256,
        "the download differs"
    );
    let after_download = memory(pid);

    // Seeking: a megabyte at offsets spread over the file, each checked.
    let mut original = std::fs::File::open(&source).unwrap();
    let mut seeks = Vec::new();
    for i in 0..RANGES {
        let start = (len - RANGE_LEN.min(len)) * i / (RANGES - 1);
        let end = (start + RANGE_LEN).min(len) - 1;
        let started = Instant::now();
        let r = http
            .get(&content)
            .bearer_auth(&work.token)
            .header("range", format!("bytes={start}-{end}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206);
        let got = r.bytes().await.unwrap();
        seeks.push(started.elapsed());
        let mut want = vec![0u8; (end - start + 1) as usize];
        original.seek(std::io::SeekFrom::Start(start)).unwrap();
        original.read_exact(&mut want).unwrap();
        assert!(
            got.as_ref() == want.as_slice(),
            "bytes={start}-{end} differ"
        );
    }
    seeks.sort();
    let at_end = memory(pid);
    server.start_kill().unwrap();
    let _ = server.wait().await;

    let row = |name: &str, took: Duration| {
        println!(
            "{:<50} {:>9.2} {:>9.0} {:>8.2}",
            name,
            took.as_secs_f64(),
            mb_per_s(len, took),
            cp.as_secs_f64() / took.as_secs_f64()
        );
    };
    println!(
        "\n{engine}, one file of {size_mb} MiB ({len} bytes), server in its own process (pid {pid})"
    );
    println!("{:<50} {:>9} {:>9} {:>8}", "", "seconds", "MB/s", "of cp");
    row("cp (the ceiling)", cp);
    row("cp, then fsync of the copy", cp_sync);
    row("upload: POST multipart, streamed from disk", upload);
    row("download: GET whole, SHA-256 checked", download);
    println!(
        "range requests: {RANGES} of {} bytes spread over the file: p50 {:.2} ms, max {:.2} ms",
        RANGE_LEN.min(len),
        seeks[seeks.len() / 2].as_secs_f64() * 1000.0,
        seeks[seeks.len() - 1].as_secs_f64() * 1000.0
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("\nserver memory (MiB)    peak (VmHWM)   now (VmRSS)");
    for (name, (hwm, rss)) in [
        ("started, ready", at_start),
        ("after the upload", after_upload),
        ("after the download", after_download),
        ("after the ranges", at_end),
    ] {
        println!("{name:<22} {:>12.1} {:>13.1}", mib(hwm), mib(rss));
    }
    println!(
        "peak grew by {:.1} MiB while moving a file of {size_mb} MiB twice",
        mib(at_end.0.saturating_sub(at_start.0))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
