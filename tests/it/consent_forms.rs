//! Consent forms as files: the shipped examples pass the check, a broken form
//! stops the server naming file and line, forms are published (and audited)
//! once their study exists, and a published version can never change (C5).

use std::path::{Path, PathBuf};

use fieldkit::app::App;
use fieldkit::auth::model::Actor;
use fieldkit::clock::Clock;
use fieldkit::config::{ServerConfig, Storage};
use fieldkit::consent::forms::service;
use fieldkit::ids::StudyId;
use fieldkit::studies::model::StudyInput;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::support::{
    fieldkit_command, run_fieldkit, serve_command, spawn, storage, Engine, TempDir,
};

const SLUG: &str = "recovery-college-codesign";

/// The example forms shipped in the repository.
fn shipped(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("consent-forms")
        .join(SLUG)
        .join(file)
}

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The 1-based line of the first line of `text` holding `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

/// Storage for a test whose consent forms live in the test's own folder.
async fn storage_with_own_forms(engine: Engine, dir: &TempDir) -> Option<Storage> {
    let mut storage = storage(engine, dir).await?;
    storage.consent_forms = dir.0.join("consent-forms");
    std::fs::create_dir_all(storage.consent_forms.join(SLUG)).unwrap();
    Some(storage)
}

/// Opens the app and publishes the forms, as `fieldkit serve` does.
async fn open(storage: &Storage) -> anyhow::Result<App> {
    let app = App::open(storage.clone(), ServerConfig::from_env(), Clock::system()).await?;
    service::load_all(&app.db, &storage.consent_forms, app.now()).await?;
    Ok(app)
}

/// (form id, version, content hash, source path) of every published version.
async fn published(app: &App) -> Vec<(String, i32, String, String)> {
    sqlx::query(
        "SELECT form_id, version, content_hash, source_path FROM consent_form_versions
         ORDER BY form_id, version",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

/// The details of every consent_form.publish entry, after checking who made it.
async fn publish_entries(app: &App) -> Vec<Value> {
    sqlx::query(
        "SELECT actor, role, details FROM audit_log WHERE action = 'consent_form.publish' ORDER BY seq",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        assert_eq!(r.get::<String, _>(0), "system");
        assert_eq!(r.get::<String, _>(1), "system");
        serde_json::from_str(&r.get::<String, _>(2)).unwrap()
    })
    .collect()
}

#[tokio::test]
async fn the_shipped_forms_pass_the_check() {
    let folder = shipped("").parent().unwrap().display().to_string();
    let run = run_fieldkit(
        fieldkit_command(&["consent-forms", "check", "--consent-forms", &folder]),
        None,
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.trim(), "3 forms checked, all correct");

    let help = run_fieldkit(
        fieldkit_command(&["consent-forms", "check", "--help"]),
        None,
    )
    .await;
    let text = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for phrase in [
        "Lists every problem with its file and line",
        "Needs no database",
        "--consent-forms",
    ] {
        assert!(
            text.contains(phrase),
            "help lacks {phrase:?}:\n{}",
            help.stdout
        );
    }
}

/// A form named as the easy-read version of another is offered to
/// participants as one, so it must be one.
#[test]
fn a_form_named_easy_read_must_be_easy_read() {
    let dir = TempDir::new();
    let study = dir.0.join(SLUG);
    std::fs::create_dir_all(&study).unwrap();
    let good = std::fs::read_to_string(shipped("participation.v1.md")).unwrap();
    let named = good.replace(
        "form_id = \"participation\"",
        "form_id = \"participation-easy-read\"",
    );
    std::fs::write(study.join("participation-easy-read.v1.md"), named).unwrap();
    let checked = service::check_folder(&dir.0).unwrap();
    let problems: Vec<String> = checked.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].ends_with("the form id ends in \"-easy-read\", which offers it to participants as the easy-read version of participation, but easy_read is false"),
        "{problems:?}"
    );
}

#[tokio::test]
async fn a_missing_folder_holds_no_forms() {
    let dir = TempDir::new();
    let missing = dir.0.join("nothing-here").display().to_string();
    let run = run_fieldkit(
        fieldkit_command(&["consent-forms", "check", "--consent-forms", &missing]),
        None,
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.trim(), "0 forms checked, all correct");
}

async fn a_broken_form_stops_the_server_naming_every_file_and_line(engine: Engine) {
    let dir = TempDir::new();
    let Some(storage) = storage_with_own_forms(engine, &dir).await else {
        return;
    };
    let good = std::fs::read_to_string(shipped("participation.v1.md")).unwrap();
    let study = storage.consent_forms.join(SLUG);
    // An optional use made mandatory, in an otherwise correct form...
    let compulsory = good.replacen(
        "mandatory = false\ngoverns = \"film_teaching\"",
        "mandatory = true\ngoverns = \"film_teaching\"",
        1,
    );
    std::fs::write(study.join("participation.v1.md"), &compulsory).unwrap();
    let compulsory_line = line_of(&compulsory, "governs = \"film_teaching\"") - 1;
    // ...and a misspelt field in another.
    let misspelt = good
        .replace("form_id = \"participation\"", "form_id = \"withdrawal\"")
        .replace("rec_reference =", "rec_refrence =");
    std::fs::write(study.join("withdrawal.v1.md"), &misspelt).unwrap();
    let misspelt_line = line_of(&misspelt, "rec_refrence");

    // ...a form left outside any study's folder, one in a folder of its own,
    // and a hidden file, which is left alone.
    std::fs::write(storage.consent_forms.join("participation.v1.md"), &good).unwrap();
    std::fs::create_dir(study.join("old")).unwrap();
    std::fs::write(study.join(".gitkeep"), "").unwrap();

    let shown = |file: &str| study.join(file).display().to_string();
    let expected = [
        format!(
            "{}: forms go in a folder named after the study's short name",
            storage.consent_forms.join("participation.v1.md").display()
        ),
        format!(
            "{}: folders inside a study's folder are not read",
            shown("old")
        ),
        format!(
            "{}:{compulsory_line}: clause \"film_teaching\": an optional use cannot be mandatory (C3)",
            shown("participation.v1.md")
        ),
        format!(
            "{}:{misspelt_line}: unknown field `rec_refrence`",
            shown("withdrawal.v1.md")
        ),
    ];

    let run = run_fieldkit(serve_command(&storage), None).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr
            .starts_with("fieldkit: 4 problems in the consent forms"),
        "{run:?}"
    );
    assert!(!run.stdout.contains("fieldkit is running"), "{run:?}");
    for line in &expected {
        assert!(
            run.stderr.lines().any(|l| l.starts_with(line.as_str())),
            "serve should say {line:?}:\n{}",
            run.stderr
        );
    }

    let mut check = fieldkit_command(&["consent-forms", "check"]);
    check.args([
        "--consent-forms",
        &storage.consent_forms.display().to_string(),
    ]);
    let run = run_fieldkit(check, None).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    for line in &expected {
        assert!(
            run.stdout.lines().any(|l| l.starts_with(line.as_str())),
            "check should say {line:?}:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("4 problems found"), "{run:?}");
}

async fn forms_are_published_once_their_study_exists_and_the_publishing_is_audited(engine: Engine) {
    let Some(t) = spawn(engine).await else {
        return;
    };
    assert!(
        published(&t.app).await.is_empty(),
        "no study yet, so the forms wait"
    );
    let admin = t.admin().await;
    t.study(&admin, "another-study").await;
    assert!(published(&t.app).await.is_empty(), "only their own study");

    let study = StudyId::parse(&t.study(&admin, SLUG).await).unwrap();
    let standard = sha256_of(&shipped("participation.v1.md"));
    let easy_read = sha256_of(&shipped("participation-easy-read.v1.md"));
    let urdu = sha256_of(&shipped("participation.v1.ur.md"));
    let rows = published(&t.app).await;
    assert_eq!(
        rows,
        [
            (
                "participation".to_owned(),
                1,
                standard.clone(),
                format!("{SLUG}/participation.v1.md")
            ),
            (
                "participation-easy-read".to_owned(),
                1,
                easy_read.clone(),
                format!("{SLUG}/participation-easy-read.v1.md")
            ),
        ]
    );
    let entries = publish_entries(&t.app).await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    for e in &entries {
        assert_eq!(e["version"], 1);
        if e["content_hash"] == urdu {
            assert_eq!(
                e["language"], "ur",
                "a translation is audited with its language: {e}"
            );
        } else {
            assert!(
                e["content_hash"] == standard || e["content_hash"] == easy_read,
                "{e}"
            );
            assert!(e.get("language").is_none(), "{e}");
        }
        assert!(e.get("body_markdown").is_none(), "{e}");
    }

    let again = service::load_all(&t.app.db, &t.storage.consent_forms, t.app.now())
        .await
        .unwrap();
    assert!(again.loaded.is_empty(), "{again:?}");
    assert_eq!(again.unchanged.len(), 3, "{again:?}");
    assert_eq!(
        published(&t.app).await,
        rows,
        "loading twice changes nothing"
    );
    assert_eq!(publish_entries(&t.app).await.len(), 3, "and audits nothing");

    let current = service::current_version(&t.app.db, &study, "participation-easy-read")
        .await
        .unwrap()
        .unwrap();
    assert!(current.form.easy_read);
    assert_eq!(current.form.study_slug, SLUG);
    assert_eq!(current.form.rec_reference, "24/NW/0123");
    assert_eq!(
        service::version_of(&t.app.db, &study, &current.id)
            .await
            .unwrap(),
        current
    );
    let uses: Vec<String> = current
        .form
        .clauses
        .iter()
        .filter(|c| !c.mandatory)
        .map(|c| c.governs.to_string())
        .collect();
    assert_eq!(
        uses,
        [
            "audio_recording",
            "video_recording",
            "film_teaching",
            "film_public",
            "quotes",
            "photos",
            "future_contact",
            "data_sharing",
            "archive"
        ]
    );
    assert_eq!(
        service::list_for_study(&t.app.db, &study)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(service::current_version(&t.app.db, &study, "no-such-form")
        .await
        .unwrap()
        .is_none());

    let report = t.verify_chain().await;
    assert!(report.valid, "{report:?}");
}

async fn an_edited_published_version_is_refused_and_a_new_version_is_published(engine: Engine) {
    let dir = TempDir::new();
    let Some(storage) = storage_with_own_forms(engine, &dir).await else {
        return;
    };
    let v1 = storage.consent_forms.join(SLUG).join("participation.v1.md");
    let original = std::fs::read_to_string(shipped("participation.v1.md")).unwrap();
    std::fs::write(&v1, &original).unwrap();

    let app = open(&storage).await.unwrap();
    let input = StudyInput {
        title: "Designing Together".into(),
        slug: SLUG.into(),
        retention_years: 10,
        ..StudyInput::default()
    };
    let study = fieldkit::studies::service::create_study(&app, &Actor::command_line(), &input)
        .await
        .unwrap();
    let study = study.id;
    let first = published(&app).await;
    assert_eq!(first.len(), 1);
    app.db.pool.close().await;

    let edited = original.replace(
        "I agree to take part in this study.",
        "I agree to take part in this study and its workshops.",
    );
    std::fs::write(&v1, &edited).unwrap();
    let run = run_fieldkit(serve_command(&storage), None).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    let refusal = format!(
        "{}: version 1 of form participation has already been published with different content; publish it as a new file participation.v2.md",
        v1.display()
    );
    assert!(
        run.stderr.lines().any(|l| l == refusal),
        "serve should say {refusal:?}:\n{}",
        run.stderr
    );

    // Publishing it as a new version, as told, keeps the old one as it was.
    std::fs::write(&v1, &original).unwrap();
    std::fs::write(
        v1.with_file_name("participation.v2.md"),
        edited.replace("version = 1", "version = 2"),
    )
    .unwrap();
    let app = open(&storage).await.unwrap();
    let rows = published(&app).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0], first[0], "version 1 is unchanged");
    let current = service::current_version(&app.db, &study, "participation")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.form.version, 2);
    assert!(current
        .form
        .clauses
        .iter()
        .any(|c| c.text.ends_with("and its workshops.")));
    let versions = service::list_for_study(&app.db, &study).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.form.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(publish_entries(&app).await.len(), 2);

    let frozen = sqlx::query("UPDATE consent_form_versions SET title = 'changed'")
        .execute(&app.db.pool)
        .await;
    assert!(
        frozen.is_err(),
        "the database refuses to change a published version"
    );
}

on_both_engines!(
    a_broken_form_stops_the_server_naming_every_file_and_line,
    forms_are_published_once_their_study_exists_and_the_publishing_is_audited,
    an_edited_published_version_is_refused_and_a_new_version_is_published,
);
