//! The identity vault (DESIGN "Identity vault"; DOMAIN G2, G6, A4), through
//! the library until the participants' routes exist: an identity is stored
//! sealed, with no detail in clear anywhere in the database; it is found by
//! email through the blind index, in its own study only; only a researcher at
//! the participant's site who gives a reason sees it, and exactly one audit
//! entry records that, holding no detail; erasure leaves nothing to open; and
//! rotating the key re-encrypts every identity, from the library and from the
//! command line, with keys from files or from the environment.

use std::os::unix::fs::PermissionsExt;

use fieldkit::audit::Entry;
use fieldkit::auth::model::Actor;
use fieldkit::error::AppError;
use fieldkit::ids::{ParticipantId, SiteId, StudyId};
use fieldkit::vault::{self, Identity, IdentityInput};
use serde_json::{json, Value};
use sqlx::{Column, Row};

use crate::support::{
    fieldkit_command, run_fieldkit, spawn, storage_args, Engine, TestApp, PASSWORD,
};

const NAME: &str = "Marigold Featherstonehaugh";
const EMAIL: &str = "marigold.featherstonehaugh@example.org";
const PHONE: &str = "07700 900123";
const DATE_OF_BIRTH: &str = "1984-03-27";
const NOTES: &str = "Prefers calls after four on weekdays";

/// Every detail, and the parts of them most likely to leak on their own.
const IN_CLEAR: [&str; 7] = [
    NAME,
    "Marigold",
    "Featherstonehaugh",
    EMAIL,
    "900123",
    DATE_OF_BIRTH,
    NOTES,
];

fn identity() -> Identity {
    IdentityInput {
        name: NAME,
        email: Some(EMAIL),
        phone: Some(PHONE),
        date_of_birth: Some(DATE_OF_BIRTH),
        notes: Some(NOTES),
    }
    .parse()
    .unwrap()
}

/// A server with an administrator, a study with two sites and a participant
/// at the first site.
struct Fixture {
    t: TestApp,
    admin: String,
    study: StudyId,
    site: SiteId,
    other_site: SiteId,
    participant: ParticipantId,
}

async fn fixture(engine: Engine) -> Option<Fixture> {
    let t = spawn(engine).await?;
    let admin = t.admin().await;
    let study = StudyId::parse(&t.study(&admin, "vault").await).unwrap();
    let site = SiteId::parse(&t.site(&admin, study.as_str(), "North site").await).unwrap();
    let other_site = SiteId::parse(&t.site(&admin, study.as_str(), "South site").await).unwrap();
    let participant = add_participant(&t, &study, &site, "P-0001").await;
    Some(Fixture {
        t,
        admin,
        study,
        site,
        other_site,
        participant,
    })
}

/// A participant row written directly, until the participants' routes exist.
async fn add_participant(t: &TestApp, study: &StudyId, site: &SiteId, code: &str) -> ParticipantId {
    let id = ParticipantId::new();
    sqlx::query(
        "INSERT INTO participants (id, study_id, study_code, site_id, stakeholder_group, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'service_user', 'consented', $5, $5)",
    )
    .bind(&id)
    .bind(study.as_str())
    .bind(code)
    .bind(site.as_str())
    .bind(t.app.now())
    .execute(&t.app.db.pool)
    .await
    .unwrap();
    id
}

/// Stores an identity in its own transaction, as enrolment will.
async fn store(t: &TestApp, participant: &ParticipantId, identity: &Identity) {
    let mut tx = t.app.db.begin().await.unwrap();
    vault::store_identity(&mut tx, &t.app, participant, identity)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Invites a person, gives them a role in the study (at these sites; none
/// means all) and returns them signed in, as an actor.
async fn person(f: &Fixture, name: &str, role: Option<&str>, sites: &[&SiteId]) -> Actor {
    let (id, email) = f.t.person(&f.admin, name).await;
    if let Some(role) = role {
        let sites: Vec<&str> = sites.iter().map(|s| s.as_str()).collect();
        f.t.member(&f.admin, f.study.as_str(), &id, role, &sites)
            .await;
    }
    actor(&f.t, &f.t.sign_in(&email, PASSWORD).await).await
}

async fn actor(t: &TestApp, token: &str) -> Actor {
    fieldkit::auth::service::actor_for_session(&t.app, token)
        .await
        .unwrap()
        .expect("a live session")
}

async fn reveal(
    f: &Fixture,
    who: &Actor,
    site: &SiteId,
    reason: &str,
) -> Result<Identity, AppError> {
    vault::reveal(&f.t.app, who, &f.study, site, &f.participant, reason).await
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, AppError>, status: u16) {
    let err = result.expect_err("should be refused");
    assert_eq!(err.status().as_u16(), status, "{err}");
}

async fn entries(t: &TestApp, action: &str) -> Vec<Entry> {
    fieldkit::audit::store::page(&t.app.db.pool, 0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

/// Every table.column of the database where one of `texts` appears in clear,
/// ignoring case. Every text column of every table is read.
async fn found_in_clear(t: &TestApp, texts: &[&str]) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(match t.engine {
        Engine::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        Engine::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()"
        }
    })
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap();
    let mut found = Vec::new();
    let mut text_values = 0;
    // The migrations table has timestamp columns the Any driver cannot read, and only SQL in it.
    for table in tables.iter().filter(|t| !t.starts_with("_sqlx")) {
        let rows = sqlx::query(&format!("SELECT * FROM {table}"))
            .fetch_all(&t.app.db.pool)
            .await
            .unwrap();
        for row in rows {
            for column in row.columns() {
                let Ok(Some(value)) = row.try_get::<Option<String>, _>(column.ordinal()) else {
                    continue;
                };
                text_values += 1;
                let value = value.to_lowercase();
                if texts.iter().any(|t| value.contains(&t.to_lowercase())) {
                    found.push(format!("{table}.{}", column.name()));
                }
            }
        }
    }
    assert!(text_values > 0, "no text was read at all");
    found
}

/// key_version, the five sealed columns, email_index and erased_at.
async fn identity_row(
    t: &TestApp,
    participant: &ParticipantId,
) -> (i32, Vec<Option<String>>, Option<String>, Option<i64>) {
    let row = sqlx::query(
        "SELECT key_version, name_ct, email_ct, phone_ct, date_of_birth_ct, notes_ct, email_index, erased_at
         FROM identities WHERE participant_id = $1",
    )
    .bind(participant)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    let sealed = (1..=5).map(|i| row.get(i)).collect();
    (row.get(0), sealed, row.get(6), row.get(7))
}

#[track_caller]
fn assert_all_sealed_with(sealed: &[Option<String>], version: i32) {
    for value in sealed {
        let value = value.as_deref().expect("every detail is stored");
        assert!(value.starts_with(&format!("v{version}:")), "{value}");
    }
}

async fn an_identity_is_stored_sealed_and_found_by_email_in_its_own_study(engine: Engine) {
    let Some(f) = fixture(engine).await else {
        return;
    };
    store(&f.t, &f.participant, &identity()).await;

    assert_eq!(found_in_clear(&f.t, &IN_CLEAR).await, Vec::<String>::new());
    if engine == Engine::Sqlite {
        for file in ["fieldkit.db", "fieldkit.db-wal"] {
            let bytes = std::fs::read(f.t.dir.0.join(file)).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("Featherstonehaugh"), "{file} holds the name");
        }
    }
    let (version, sealed, index, erased_at) = identity_row(&f.t, &f.participant).await;
    assert_eq!(version, 1);
    assert_all_sealed_with(&sealed, 1);
    assert_eq!(index.map(|i| i.len()), Some(64));
    assert_eq!(erased_at, None);

    let found = vault::find_by_email(
        &f.t.app,
        &f.study,
        "  Marigold.Featherstonehaugh@EXAMPLE.org ",
    )
    .await
    .unwrap();
    assert_eq!(found, std::slice::from_ref(&f.participant));
    let nobody = vault::find_by_email(&f.t.app, &f.study, "someone.else@example.org").await;
    assert!(nobody.unwrap().is_empty());
    let other_study = StudyId::parse(&f.t.study(&f.admin, "vault-other").await).unwrap();
    let elsewhere = vault::find_by_email(&f.t.app, &other_study, EMAIL).await;
    assert!(elsewhere.unwrap().is_empty(), "another study's search");

    // Storing again replaces the identity, index included.
    let without_email = IdentityInput {
        name: NAME,
        email: None,
        phone: None,
        date_of_birth: None,
        notes: None,
    }
    .parse()
    .unwrap();
    store(&f.t, &f.participant, &without_email).await;
    let (_, sealed, index, _) = identity_row(&f.t, &f.participant).await;
    assert!(sealed[0].is_some() && sealed[1..].iter().all(Option::is_none));
    assert_eq!(index, None);
    let found = vault::find_by_email(&f.t.app, &f.study, EMAIL).await;
    assert!(found.unwrap().is_empty());
}

async fn a_researcher_at_the_site_sees_the_identity_and_one_audit_entry_records_it(engine: Engine) {
    let Some(f) = fixture(engine).await else {
        return;
    };
    store(&f.t, &f.participant, &identity()).await;
    let researcher = person(&f, "Rita Researcher", Some("researcher"), &[&f.site]).await;

    for (reason, why) in [
        ("", "no reason"),
        ("   ", "a blank reason"),
        (
            "Calling Marigold Featherstonehaugh back",
            "a reason naming them",
        ),
        (
            "Wrong number 07700 900123",
            "a reason with their phone number",
        ),
    ] {
        let err = reveal(&f, &researcher, &f.site, reason)
            .await
            .expect_err(why);
        assert_eq!(err.status().as_u16(), 422, "{why}: {err}");
        assert_eq!(err.field_problems()[0].field, "reason", "{why}");
    }
    assert!(
        entries(&f.t, "identity.reveal").await.is_empty(),
        "a refusal is not a reveal"
    );
    // Refusing a reason that repeats a detail needed the identity opened: recorded, without the reason.
    let refused = entries(&f.t, "identity.reveal_refused").await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused
        .iter()
        .all(|e| e.entity_id == f.participant.as_str() && e.reason.is_none()));

    let shown = reveal(
        &f,
        &researcher,
        &f.site,
        "  Arranging the follow-up interview ",
    )
    .await
    .unwrap();
    assert_eq!(shown, identity());
    assert_eq!(shown.name(), NAME);
    assert_eq!(shown.email(), Some(EMAIL));
    assert_eq!(shown.phone(), Some(PHONE));
    assert_eq!(shown.date_of_birth(), Some(DATE_OF_BIRTH));
    assert_eq!(shown.notes(), Some(NOTES));

    let reveals = entries(&f.t, "identity.reveal").await;
    assert_eq!(reveals.len(), 1, "{reveals:?}");
    let e = &reveals[0];
    assert_eq!(e.actor, format!("account:{}", researcher.account_id));
    assert_eq!(e.role, "researcher");
    assert_eq!(e.entity_type, "participant");
    assert_eq!(e.entity_id, f.participant.as_str());
    assert_eq!(e.study_id.as_deref(), Some(f.study.as_str()));
    assert_eq!(
        e.reason.as_deref(),
        Some("Arranging the follow-up interview")
    );
    let details: Value = serde_json::from_str(&e.details).unwrap();
    assert_eq!(
        details["fields"],
        json!(["name", "email", "phone", "date_of_birth", "notes"])
    );
    assert_eq!(details["site_id"], f.site.as_str());

    assert_eq!(found_in_clear(&f.t, &IN_CLEAR).await, Vec::<String>::new());
    let report = f.t.verify_chain().await;
    assert!(report.valid, "{report:?}");
}

async fn admins_reviewers_analysts_and_other_sites_may_not_reveal(engine: Engine) {
    let Some(f) = fixture(engine).await else {
        return;
    };
    store(&f.t, &f.participant, &identity()).await;
    let reason = "Checking the consent form";

    let admin = actor(&f.t, &f.admin).await;
    assert_refused(reveal(&f, &admin, &f.site, reason).await, 403);
    let reviewer = person(&f, "Rhys Reviewer", Some("reviewer"), &[]).await;
    assert_refused(reveal(&f, &reviewer, &f.site, reason).await, 403);
    let analyst = person(&f, "Anna Analyst", Some("analyst"), &[]).await;
    assert_refused(reveal(&f, &analyst, &f.site, reason).await, 403);
    let outsider = person(&f, "Oscar Outsider", None, &[]).await;
    assert_refused(reveal(&f, &outsider, &f.site, reason).await, 404);

    let south = person(&f, "Sam South", Some("researcher"), &[&f.other_site]).await;
    assert_refused(reveal(&f, &south, &f.site, reason).await, 403);
    // Naming their own site does not reach a participant of another site.
    assert_refused(reveal(&f, &south, &f.other_site, reason).await, 404);

    assert!(entries(&f.t, "identity.reveal").await.is_empty());
}

async fn an_erased_identity_holds_nothing_and_cannot_be_revealed(engine: Engine) {
    let Some(f) = fixture(engine).await else {
        return;
    };
    store(&f.t, &f.participant, &identity()).await;
    let researcher = person(&f, "Rita Researcher", Some("researcher"), &[]).await;
    let never_stored = add_participant(&f.t, &f.study, &f.site, "P-0002").await;

    let mut tx = f.t.app.db.begin().await.unwrap();
    assert!(vault::erase(&mut tx, &f.t.app, &f.participant)
        .await
        .unwrap());
    assert!(!vault::erase(&mut tx, &f.t.app, &never_stored)
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let (_, sealed, index, erased_at) = identity_row(&f.t, &f.participant).await;
    assert!(sealed.iter().all(Option::is_none), "{sealed:?}");
    assert_eq!(index, None);
    assert!(erased_at.is_some());
    let found = vault::find_by_email(&f.t.app, &f.study, EMAIL).await;
    assert!(found.unwrap().is_empty());
    let err = reveal(&f, &researcher, &f.site, "Sending the thank-you voucher")
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 409, "{err}");
    assert!(err.to_string().contains("erased"), "{err}");
    assert!(entries(&f.t, "identity.reveal").await.is_empty());
}

async fn rotating_the_key_re_encrypts_every_identity_and_keeps_the_old_key(engine: Engine) {
    let Some(f) = fixture(engine).await else {
        return;
    };
    store(&f.t, &f.participant, &identity()).await;
    let second = add_participant(&f.t, &f.study, &f.site, "P-0002").await;
    store(&f.t, &second, &identity()).await;
    let erased = add_participant(&f.t, &f.study, &f.site, "P-0003").await;
    store(&f.t, &erased, &identity()).await;
    let mut tx = f.t.app.db.begin().await.unwrap();
    vault::erase(&mut tx, &f.t.app, &erased).await.unwrap();
    tx.commit().await.unwrap();

    let report = vault::rotate(&f.t.app).await.unwrap();
    assert_eq!(
        (
            report.rows,
            report.from_versions.as_slice(),
            report.to_version
        ),
        (2, [1].as_slice(), 2)
    );
    for participant in [&f.participant, &second] {
        let (version, sealed, _, _) = identity_row(&f.t, participant).await;
        assert_eq!(version, 2);
        assert_all_sealed_with(&sealed, 2);
    }
    let (_, sealed, _, _) = identity_row(&f.t, &erased).await;
    assert!(sealed.iter().all(Option::is_none));

    let keys = f.t.storage.keys_dir();
    assert!(keys.join("vault-1.key").exists(), "the old key stays");
    let mode = std::fs::metadata(keys.join("vault-2.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let researcher = person(&f, "Rita Researcher", Some("researcher"), &[]).await;
    let shown = reveal(
        &f,
        &researcher,
        &f.site,
        "Arranging the follow-up interview",
    )
    .await;
    assert_eq!(shown.unwrap(), identity());

    let rotations = entries(&f.t, "vault.rotate_key").await;
    assert_eq!(rotations.len(), 1);
    assert_eq!(
        (rotations[0].actor.as_str(), rotations[0].role.as_str()),
        ("system", "system")
    );
    let details: Value = serde_json::from_str(&rotations[0].details).unwrap();
    assert_eq!(
        details,
        json!({ "rows": 2, "from_versions": [1], "to_version": 2 })
    );
    assert_eq!(found_in_clear(&f.t, &IN_CLEAR).await, Vec::<String>::new());

    let again = vault::rotate(&f.t.app).await.unwrap();
    assert_eq!((again.rows, again.to_version), (2, 3));
}

async fn the_rotate_key_command_re_encrypts_and_a_running_server_follows(engine: Engine) {
    let Some(f) = fixture(engine).await else {
        return;
    };
    store(&f.t, &f.participant, &identity()).await;

    let mut cmd = fieldkit_command(&["vault", "rotate-key"]);
    cmd.args(storage_args(&f.t.storage));
    let run = run_fieldkit(cmd, None).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains("Re-encrypted identities: 1, from key 1 to key 2; re-sealed media keys: 0."),
        "{run:?}"
    );
    let (version, sealed, _, _) = identity_row(&f.t, &f.participant).await;
    assert_eq!(version, 2);
    assert_all_sealed_with(&sealed, 2);
    assert_eq!(entries(&f.t, "vault.rotate_key").await.len(), 1);

    // The server started before the rotation reads the new key from the folder.
    let researcher = person(&f, "Rita Researcher", Some("researcher"), &[]).await;
    let shown = reveal(
        &f,
        &researcher,
        &f.site,
        "Arranging the follow-up interview",
    )
    .await;
    assert_eq!(shown.unwrap(), identity());
    let newcomer = add_participant(&f.t, &f.study, &f.site, "P-0002").await;
    store(&f.t, &newcomer, &identity()).await;
    let (version, _, _, _) = identity_row(&f.t, &newcomer).await;
    assert_eq!(version, 2, "new identities are sealed with the new key");
}

async fn with_keys_from_the_environment_rotation_uses_the_highest_listed_key(engine: Engine) {
    let Some(f) = fixture(engine).await else {
        return;
    };
    store(&f.t, &f.participant, &identity()).await;
    let keys = f.t.storage.keys_dir();
    let key_one = std::fs::read_to_string(keys.join("vault-1.key")).unwrap();
    let index_key = std::fs::read_to_string(keys.join("vault-index.key")).unwrap();
    let key_two = "5a".repeat(32);

    let mut cmd = fieldkit_command(&["vault", "rotate-key"]);
    cmd.args(storage_args(&f.t.storage))
        .env("FIELDKIT_VAULT_KEYS", format!("1:{key_one},2:{key_two}"))
        .env("FIELDKIT_VAULT_INDEX_KEY", &index_key);
    let run = run_fieldkit(cmd, None).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(!run.stdout.contains(&key_two) && !run.stderr.contains(&key_two));
    assert!(!keys.join("vault-2.key").exists(), "no key file is made");

    let (version, sealed, _, _) = identity_row(&f.t, &f.participant).await;
    assert_eq!(version, 2);
    let sealer = fieldkit::vault::model::Sealer::new(
        [(
            2,
            zeroize::Zeroizing::new(<[u8; 32]>::try_from(hex::decode(&key_two).unwrap()).unwrap()),
        )]
        .into(),
    )
    .unwrap();
    let name = sealer
        .open(
            "identities",
            "name_ct",
            f.participant.as_str(),
            sealed[0].as_deref().unwrap(),
        )
        .unwrap();
    assert_eq!(name.as_str(), NAME);

    let mut no_index_key = fieldkit_command(&["vault", "rotate-key"]);
    no_index_key
        .args(storage_args(&f.t.storage))
        .env("FIELDKIT_VAULT_KEYS", format!("1:{key_one},2:{key_two}"));
    let run = run_fieldkit(no_index_key, None).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("set FIELDKIT_VAULT_INDEX_KEY too"),
        "{run:?}"
    );

    let mut bad = fieldkit_command(&["vault", "rotate-key"]);
    bad.args(storage_args(&f.t.storage))
        .env(
            "FIELDKIT_VAULT_KEYS",
            format!("1:{key_one},2:{}", &key_two[..60]),
        )
        .env("FIELDKIT_VAULT_INDEX_KEY", &index_key);
    let run = run_fieldkit(bad, None).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("FIELDKIT_VAULT_KEYS must list keys"),
        "{run:?}"
    );
    assert!(!run.stderr.contains(&key_one.trim()[..16]), "{run:?}");
}

on_both_engines!(
    an_identity_is_stored_sealed_and_found_by_email_in_its_own_study,
    a_researcher_at_the_site_sees_the_identity_and_one_audit_entry_records_it,
    admins_reviewers_analysts_and_other_sites_may_not_reveal,
    an_erased_identity_holds_nothing_and_cannot_be_revealed,
    rotating_the_key_re_encrypts_every_identity_and_keeps_the_old_key,
    the_rotate_key_command_re_encrypts_and_a_running_server_follows,
    with_keys_from_the_environment_rotation_uses_the_highest_listed_key,
);
