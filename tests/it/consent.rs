//! Consent (DOMAIN.md C1-C6, G2, G6) through the API and the online consent
//! page, on both engines, with the shipped recovery-college form.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::support::{created_id, spawn, Engine, Page, PageClient, TestApp, PASSWORD};

pub const NAME: &str = "Zoë Okonkwo-Price";

pub struct Setup {
    pub study: String,
    pub researcher: String,
    pub researcher_email: String,
    pub participant: String,
    pub form_version: String,
    /// The form's clause keys: mandatory ones first.
    pub mandatory: Vec<String>,
    pub optional: Vec<String>,
}

/// A study with the shipped form, a signed-in researcher, and a participant
/// enrolled with a name and an email address.
pub async fn setup(t: &TestApp) -> Setup {
    let admin = t.admin().await;
    let r = t
        .api(Method::POST, "/studies", Some(&admin))
        .json(&json!({ "title": "Designing Together", "slug": "recovery-college-codesign", "code_prefix": "RC",
                       "lawful_basis": "public_task", "retention_years": 10, "status": "recruiting" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let study = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{study}/sites"),
            Some(&admin),
        )
        .json(&json!({ "name": "College" }))
        .send()
        .await
        .unwrap();
    let site = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (rid, remail) = t.person(&admin, "Rhea Researcher").await;
    t.member(&admin, &study, &rid, "researcher", &[]).await;
    let researcher = t.sign_in(&remail, PASSWORD).await;
    let r = t
        .api(Method::POST, &format!("/studies/{study}/participants"), Some(&researcher))
        .json(&json!({ "site_id": site, "stakeholder_group": "student", "name": NAME, "email": "zoe@example.org" }))
        .send()
        .await
        .unwrap();
    let participant = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = t.consent_form(&researcher, &study, "participation").await;
    let keys = |mandatory: bool| -> Vec<String> {
        form["clauses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["mandatory"] == mandatory)
            .map(|c| c["key"].as_str().unwrap().to_owned())
            .collect()
    };
    Setup {
        study,
        researcher,
        researcher_email: remail,
        participant,
        form_version: form["id"].as_str().unwrap().to_owned(),
        mandatory: keys(true),
        optional: keys(false),
    }
}

/// Every mandatory clause yes, the listed optional ones yes, the rest as given.
pub fn answers(s: &Setup, yes: &[&str], rest: &str) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> = s
        .mandatory
        .iter()
        .map(|k| (k.clone(), "yes".to_owned()))
        .collect();
    for k in &s.optional {
        a.insert(
            k.clone(),
            if yes.contains(&k.as_str()) {
                "yes".into()
            } else {
                rest.into()
            },
        );
    }
    a
}

pub async fn take(t: &TestApp, s: &Setup, answers: &BTreeMap<String, String>) -> reqwest::Response {
    t.api(Method::POST, &format!("/studies/{}/participants/{}/consents", s.study, s.participant), Some(&s.researcher))
        .json(&json!({ "form_version_id": s.form_version, "method": "in_person_witnessed", "answers": answers, "signature": NAME }))
        .send()
        .await
        .unwrap()
}

/// The first site of the study.
pub async fn site(t: &TestApp, token: &str, study: &str) -> String {
    t.get_json(token, &format!("/studies/{study}/sites")).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Enrols another participant at `site`, linked to `account` if given.
pub async fn enrol(t: &TestApp, s: &Setup, site: &str, account: Option<&str>) -> String {
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{}/participants", s.study),
            Some(&s.researcher),
        )
        .json(&json!({ "site_id": site, "stakeholder_group": "student", "name": "Another Person", "account_id": account }))
        .send()
        .await
        .unwrap();
    created_id(r).await
}

/// Consent for any participant on any form version; returns the record id.
pub async fn take_on(t: &TestApp, s: &Setup, participant: &str, form_version: &str) -> String {
    let r = t
        .api(
            Method::POST,
            &format!("/studies/{}/participants/{participant}/consents", s.study),
            Some(&s.researcher),
        )
        .json(
            &json!({ "form_version_id": form_version, "method": "in_person_witnessed",
                       "answers": answers(s, &[], "no"), "signature": "Someone Typed" }),
        )
        .send()
        .await
        .unwrap();
    created_id(r).await
}

/// A one-time consent link for the participant, as a path on this server.
pub async fn invitation_path(t: &TestApp, s: &Setup) -> String {
    let r = t
        .api(
            Method::POST,
            &format!(
                "/studies/{}/participants/{}/consent-invitations",
                s.study, s.participant
            ),
            Some(&s.researcher),
        )
        .json(&json!({ "form_id": "participation" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let link: Value = r.json().await.unwrap();
    link["link"]
        .as_str()
        .unwrap()
        .trim_start_matches(&t.base)
        .to_owned()
}

/// The consent page's fields for a link (path or URL), as its check page
/// signs them: every mandatory clause yes, the rest no, signed.
pub fn consent_fields(s: &Setup, link: &str, send_copy: bool) -> Vec<(String, String)> {
    let token = link.split_once("token=").unwrap().1;
    let mut fields = vec![
        ("token".to_owned(), token.to_owned()),
        ("signature".to_owned(), NAME.to_owned()),
        ("at".to_owned(), "check".to_owned()),
        ("go".to_owned(), "sign".to_owned()),
    ];
    fields.extend(
        answers(s, &[], "no")
            .into_iter()
            .map(|(k, v)| (format!("answer.{k}"), v)),
    );
    if send_copy {
        fields.push(("send_copy".into(), "on".into()));
    }
    fields
}

/// Posts the consent page for a link with `consent_fields`, after the page
/// was opened in `page`.
pub async fn submit_online(page: &mut PageClient, s: &Setup, link: &str, send_copy: bool) -> Page {
    let fields = consent_fields(s, link, send_copy);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    page.post("/consent", &fields).await
}

/// A researcher records a withdrawal for the participant.
pub async fn withdraw(t: &TestApp, s: &Setup, body: Value) -> reqwest::Response {
    t.api(
        Method::POST,
        &format!(
            "/studies/{}/participants/{}/withdrawals",
            s.study, s.participant
        ),
        Some(&s.researcher),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

/// A PDF's text as lopdf extracts it, with runs of white space made one space.
pub fn pdf_text(pdf: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(pdf).unwrap();
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A number the database answers, e.g. a COUNT(*).
pub async fn count(t: &TestApp, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0)
}

async fn a_record_holds_everything_c1_asks_for(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let r = take(&t, &s, &answers(&s, &["audio_recording"], "no")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let row = sqlx::query(
        "SELECT r.study_id, f.form_id, f.version, f.information_sheet_version, f.information_sheet_date, p.study_code, r.method,
                r.signature_sealed, r.participant_signed_at, r.taken_by, r.countersigned_at, r.record_hash, r.pdf_sha256
         FROM consent_records r JOIN consent_form_versions f ON f.id = r.form_version_id JOIN participants p ON p.id = r.participant_id
         WHERE r.id = $1",
    )
    .bind(&id)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>(0), s.study);
    assert_eq!(
        (row.get::<String, _>(1), row.get::<i32, _>(2)),
        ("participation".into(), 1)
    );
    assert_eq!(row.get::<String, _>(3), "1.0");
    assert_eq!(row.get::<String, _>(5), "RC-0001");
    assert_eq!(row.get::<String, _>(6), "in_person_witnessed");
    let sealed: String = row.get(7);
    assert!(
        sealed.starts_with('v') && !sealed.contains(NAME),
        "the signature is sealed"
    );
    assert!(row.get::<i64, _>(8) > 1_700_000_000_000 && row.get::<Option<i64>, _>(10).is_some());
    assert!(
        row.get::<Option<String>, _>(9).is_some(),
        "the researcher countersigned"
    );
    let answers: Vec<(String, String, i16)> = sqlx::query(
        "SELECT clause_key, clause_text, agreed FROM consent_answers WHERE record_id = $1",
    )
    .bind(&id)
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    assert_eq!(answers.len(), s.mandatory.len() + s.optional.len());
    assert!(answers
        .iter()
        .any(|(k, text, agreed)| k == "audio_recording" && text.contains("audio") && *agreed == 1));
    assert!(answers
        .iter()
        .any(|(k, _, agreed)| k == "video_recording" && *agreed == 0));
    let status: Value = t
        .get_json(
            &s.researcher,
            &format!("/studies/{}/participants/{}", s.study, s.participant),
        )
        .await;
    assert_eq!(status["status"], "consented");
}

async fn a_mandatory_clause_without_yes_stores_nothing(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let entries = count(&t, "SELECT COUNT(*) FROM audit_log").await;
    for refused in ["no", ""] {
        let mut a = answers(&s, &[], "no");
        a.insert(s.mandatory[0].clone(), refused.into());
        let r = take(&t, &s, &a).await;
        assert_eq!(r.status(), 422);
        let p: Value = r.json().await.unwrap();
        assert_eq!(
            p["errors"][0]["field"],
            format!("answers.{}", s.mandatory[0])
        );
    }
    let mut a = answers(&s, &[], "no");
    a.insert("tap_dancing".into(), "yes".into());
    assert_eq!(take(&t, &s, &a).await.status(), 422);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consent_records").await, 0);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consent_answers").await, 0);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM audit_log").await, entries);
}

async fn an_optional_clause_left_blank_counts_as_no_and_never_blocks_taking_part(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let r = take(&t, &s, &answers(&s, &["audio_recording"], "")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consent_answers WHERE clause_key = 'video_recording' AND agreed = 0 AND left_blank = 1").await, 1);
    use fieldkit::consent::forms::model::DataUse;
    let audio = t.may(&s.participant, DataUse::AudioRecording).await;
    assert!(audio.is_ok());
    let video = t
        .may(&s.participant, DataUse::VideoRecording)
        .await
        .unwrap_err();
    assert!(video.to_string().contains("video recording"), "{video}");
    assert!(t.may(&s.participant, DataUse::TakePart).await.is_ok());
}

async fn the_pdf_copy_shows_the_answers_and_no_identity(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let r = take(&t, &s, &answers(&s, &["quotes"], "no")).await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .api(
            Method::GET,
            &format!("/studies/{}/consent-records/{id}/pdf", s.study),
            Some(&s.researcher),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let pdf = r.bytes().await.unwrap().to_vec();
    let (hash, stored_sha): (String, String) = {
        let row = sqlx::query("SELECT record_hash, pdf_sha256 FROM consent_records WHERE id = $1")
            .bind(&id)
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&pdf)), stored_sha);
    let text = pdf_text(&pdf);
    assert!(
        text.contains("RC-0001") && text.contains("24/NW/0123"),
        "{text}"
    );
    assert!(text.contains(&hash[..16]), "the record hash is printed");
    assert!(text.contains("Yes") && text.contains("No"));
    assert!(
        !text.contains("Zoë") && !text.contains("Okonkwo"),
        "no identity in the copy"
    );
}

async fn re_consent_is_a_new_record_linked_to_the_old_one(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let first = take(&t, &s, &answers(&s, &["video_recording"], "no"))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_hash: String = sqlx::query("SELECT record_hash FROM consent_records WHERE id = $1")
        .bind(&first)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
    let second = take(&t, &s, &answers(&s, &[], "no"))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let supersedes: Option<String> =
        sqlx::query("SELECT supersedes_id FROM consent_records WHERE id = $1")
            .bind(&second)
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap()
            .get(0);
    assert_eq!(supersedes.as_deref(), Some(first.as_str()));
    let still: String = sqlx::query("SELECT record_hash FROM consent_records WHERE id = $1")
        .bind(&first)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(still, first_hash, "the old record is never overwritten");
    use fieldkit::consent::forms::model::DataUse;
    assert!(
        t.may(&s.participant, DataUse::VideoRecording)
            .await
            .is_err(),
        "the newest choice counts"
    );
}

async fn consent_on_a_version_that_is_not_current_is_refused(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    // A newer version is published (as the loader would, from a new file).
    t.publish_copy(&s.form_version, "participation", 2).await;
    let r = take(&t, &s, &answers(&s, &[], "no")).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("not the current version"));
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consent_records").await, 0);
}

async fn withdrawal_takes_effect_at_once(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    take(&t, &s, &answers(&s, &["audio_recording"], "no")).await;
    let base = format!("/studies/{}/participants/{}", s.study, s.participant);
    let path = invitation_path(&t, &s).await;
    let r = t
        .api(
            Method::POST,
            &format!("{base}/withdrawals"),
            Some(&s.researcher),
        )
        .json(
            &json!({ "no_collection": true, "remove_identifiable": true, "reason": "moving away" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    use fieldkit::consent::forms::model::DataUse;
    let refused = t
        .may(&s.participant, DataUse::AudioRecording)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("withdrawn"), "{refused}");
    let page = t.http.get(t.url(&path)).send().await.unwrap();
    assert_eq!(page.status(), 410, "the invitation was cancelled");
    let r = t
        .api(
            Method::POST,
            &format!("{base}/identity"),
            Some(&s.researcher),
        )
        .json(&json!({ "reason": "check" }))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200, "the identity was erased");
    assert_eq!(
        take(&t, &s, &answers(&s, &[], "no")).await.status(),
        409,
        "no consent for a withdrawn participant"
    );
    let current: Value = t.get_json(&s.researcher, &format!("{base}/consent")).await;
    assert_eq!(current["withdrawn"]["no_collection"], true);
    let trail: String =
        sqlx::query("SELECT details FROM audit_log WHERE action = 'consent.withdraw'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap()
            .get(0);
    assert!(
        trail.contains("\"erasure\":\"erased\"") && !trail.contains("moving away"),
        "{trail}"
    );
}

async fn erasure_can_be_refused_with_a_reason(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let base = format!("/studies/{}/participants/{}", s.study, s.participant);
    let r = t
        .api(Method::POST, &format!("{base}/withdrawals"), Some(&s.researcher))
        .json(&json!({ "no_contact": true, "remove_identifiable": true, "erasure_refused_because": "interviews already transcribed and analysed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let row = sqlx::query("SELECT erasure, erasure_refusal_reason FROM withdrawals")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<String, _>(0),
            row.get::<Option<String>, _>(1).unwrap()
        ),
        (
            "refused".into(),
            "interviews already transcribed and analysed".into()
        )
    );
    let r = t
        .api(
            Method::POST,
            &format!("{base}/identity"),
            Some(&s.researcher),
        )
        .json(&json!({ "reason": "check" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the identity is kept");
}

async fn online_consent_through_a_one_time_link(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let path = invitation_path(&t, &s).await;
    // The link is a random secret: no study code, no name.
    let token = path
        .strip_prefix("/consent?token=fkc_")
        .expect("a consent link");
    assert!(
        token.len() == 43
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{path}"
    );
    let mut page = t.pages();
    let start = page.get(&path).await;
    start.assert_status(200);
    // The start says whose study, who to ask and where the information
    // sheet is, offers the easy-read form, and keeps staff notes to staff.
    for wanted in [
        "Dr Sam Okafor",
        "example.ac.uk&#x2f;designing-together&#x2f;information-sheet",
        "presentation=easy-read",
        "There are 14 statements",
    ] {
        assert!(start.text.contains(wanted), "{wanted}:\n{}", start.text);
    }
    assert!(!start.text.contains("Example form"), "{}", start.text);
    let token = path.split_once("token=").unwrap().1.to_owned();
    let step = |at: &str, go: &str, answers: &[(&str, &str)]| {
        let mut fields: Vec<(String, String)> = vec![
            ("token".into(), token.clone()),
            ("at".into(), at.into()),
            ("go".into(), go.into()),
        ];
        fields.extend(
            answers
                .iter()
                .map(|(k, v)| (format!("answer.{k}"), v.to_string())),
        );
        fields
    };
    async fn post(page: &mut PageClient, fields: Vec<(String, String)>) -> Page {
        let refs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        page.post("/consent", &refs).await
    }
    // Answers for another version of the form than the one now current
    // start again from the start, nothing kept.
    let mut stale = step("part-2", "next", &[(s.mandatory[0].as_str(), "yes")]);
    stale.push(("version".into(), "an-older-version".into()));
    let restarted = post(&mut page, stale).await;
    restarted.assert_status(422);
    assert!(
        restarted
            .text
            .contains("This form was updated while you were reading it")
            && restarted.text.contains("There are 14 statements")
            && !restarted.text.contains(r#"value="yes""#),
        "{}",
        restarted.text
    );
    // Part 1: the first two statements needed to take part, nothing ticked.
    let part1 = post(&mut page, step("start", "next", &[])).await;
    part1.assert_status(200);
    assert!(part1.text.contains("Part 1 of 5"), "{}", part1.text);
    assert!(!part1.text.contains("checked"), "nothing is pre-ticked");
    assert!(part1.text.contains("Statement 2 of 14"));
    assert!(!part1.text.contains("Statement 3 of 14"));
    // Continuing with nothing answered names each statement apart.
    let refused = post(&mut page, step("part-1", "next", &[])).await;
    refused.assert_status(422);
    for n in [1, 2] {
        let named = format!("Statement {n} of 14 is not answered");
        assert!(refused.text.contains(&named), "{named}:\n{}", refused.text);
    }
    let first = s.mandatory[0].as_str();
    assert!(refused
        .text
        .contains(&format!("href=\"#field-answers.{first}\"")));
    // A no to a needed statement stops the participant kindly, at that part.
    let no = post(
        &mut page,
        step("part-1", "next", &[(first, "no"), (&s.mandatory[1], "yes")]),
    )
    .await;
    no.assert_status(422);
    assert!(
        no.text.contains("Statement 1 of 14 needs a yes"),
        "{}",
        no.text
    );
    // Signing with a statement unanswered and no signature names both.
    let mut answers: Vec<(&str, &str)> = s.mandatory.iter().map(|k| (k.as_str(), "yes")).collect();
    answers.extend(s.optional[1..].iter().map(|k| (k.as_str(), "no")));
    let unsigned = post(&mut page, step("check", "sign", &answers)).await;
    unsigned.assert_status(422);
    assert!(
        unsigned.text.contains("Statement 6 of 14 is not answered"),
        "{}",
        unsigned.text
    );
    assert!(
        unsigned.text.contains("href=\"#field-signature\""),
        "{}",
        unsigned.text
    );
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consent_records").await, 0);
    // Changing an answer from the check page goes to its part and back.
    let change = post(&mut page, step("check", "change-3", &answers)).await;
    assert!(change.text.contains("Part 3 of 5") && change.text.contains("name=\"returning\""));
    answers.push((&s.optional[0], "yes"));
    let mut back = step("part-3", "next", &answers);
    back.push(("returning".into(), "yes".into()));
    let check = post(&mut page, back).await;
    assert!(check.text.contains("Check your answers"), "{}", check.text);
    let mut sign = step("check", "sign", &answers);
    sign.push(("signature".into(), NAME.into()));
    let done = post(&mut page, sign.clone()).await;
    done.assert_status(200);
    assert!(done.text.contains("You agreed to") && done.text.contains("You said no to"));
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM consent_records WHERE method = 'online'"
        )
        .await,
        1
    );
    // Their copy, now, named for what it is.
    let token_field = [("token", token.as_str())];
    let copy = page.post("/consent/copy", &token_field).await;
    copy.assert_status(200);
    let disposition = copy.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.contains("-participation-v1-") && disposition.ends_with(".pdf\""),
        "{disposition}"
    );
    assert!(copy.text.starts_with("%PDF"));
    // Signing again stores nothing and says the form was answered.
    let again = post(&mut page, sign).await;
    again.assert_status(410);
    assert!(
        again.text.contains("You have already answered this form"),
        "{}",
        again.text
    );
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM consent_records").await,
        1,
        "a second submission stores nothing"
    );
    let opened = page.get(&path).await;
    opened.assert_status(410);
    assert!(opened.text.contains("Download your copy"));
    // An hour on, the copy comes from the research team instead.
    t.app.clock.advance(fieldkit::clock::HOUR);
    page.post("/consent/copy", &token_field)
        .await
        .assert_status(410);
    assert!(!page.get(&path).await.text.contains("Download your copy"));
    let tampered = format!("/consent?token={}x", token);
    let unknown = page.get(&tampered).await;
    unknown.assert_status(404);
    assert!(unknown.text.contains("We cannot find this link"));
}

async fn an_invitation_expires(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let path = invitation_path(&t, &s).await;
    t.app.clock.advance(15 * fieldkit::clock::DAY);
    let expired = t.pages().get(&path).await;
    expired.assert_status(410);
    assert!(
        expired.text.contains("This link has expired"),
        "{}",
        expired.text
    );
    assert!(
        expired.text.contains("Dr Sam Okafor"),
        "whom to ask: {}",
        expired.text
    );
}

/// The same link signed from several tabs at once: one record, and every
/// other tab is told the form was answered.
async fn one_link_signed_at_once_records_once(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let path = invitation_path(&t, &s).await;
    let mut page = t.pages();
    page.get(&path).await.assert_status(200);
    let fields = consent_fields(&s, &path, false);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let tabs: Vec<PageClient> = (0..8).map(|_| page.clone()).collect();
    let answers = futures_util::future::join_all(tabs.into_iter().map(|mut tab| {
        let refs = refs.clone();
        async move { tab.post("/consent", &refs).await }
    }))
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 410, 410, 410, 410, 410, 410, 410]);
    assert!(answers
        .iter()
        .filter(|a| a.status == 410)
        .all(|a| a.text.contains("You have already answered this form")));
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consent_records").await, 1);
}

/// A participant who asks for the easy-read form signs that form, and reads
/// its words around the statements too.
async fn the_easy_read_form_is_one_tap_away(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let path = invitation_path(&t, &s).await;
    let mut page = t.pages();
    let easy = page.get(&format!("{path}&presentation=easy-read")).await;
    easy.assert_status(200);
    assert!(
        easy.text
            .contains("Saying yes to the Designing Together project"),
        "{}",
        easy.text
    );
    assert!(
        easy.text.contains("There are 14 sentences"),
        "{}",
        easy.text
    );
    assert!(easy.text.contains("presentation=standard"));
    assert!(
        !easy.text.contains("Easy read forms put a picture"),
        "staff note: {}",
        easy.text
    );
    let mut fields = consent_fields(&s, &path, false);
    fields.push(("presentation".into(), "easy-read".into()));
    fields.retain(|(k, _)| k != "signature");
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let unsigned = page.post("/consent", &refs).await;
    unsigned.assert_status(422);
    assert!(
        unsigned.text.contains("Write your name to sign."),
        "{}",
        unsigned.text
    );
    let mut refs = refs.clone();
    refs.push(("signature", NAME));
    let done = page.post("/consent", &refs).await;
    done.assert_status(200);
    assert!(done.text.contains("You said yes to"), "{}", done.text);
    let form: String = sqlx::query_scalar(
        "SELECT f.form_id FROM consent_records r JOIN consent_form_versions f ON f.id = r.form_version_id",
    )
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    assert_eq!(form, "participation-easy-read");
}

/// C1: each way of taking consent keeps its own evidence; a researcher
/// cannot record "online" consent on someone's behalf.
async fn verbal_and_paper_consent_keep_their_evidence(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let path = format!(
        "/studies/{}/participants/{}/consents",
        s.study, s.participant
    );
    let send = |body: Value| {
        t.api(Method::POST, &path, Some(&s.researcher))
            .json(&body)
            .send()
    };
    let a = answers(&s, &[], "no");
    let refused = [
        json!({ "form_version_id": s.form_version, "method": "verbal_recorded", "answers": a }),
        json!({ "form_version_id": s.form_version, "method": "paper_scanned", "answers": a }),
        json!({ "form_version_id": s.form_version, "method": "online", "answers": a, "signature": NAME }),
        json!({ "form_version_id": s.form_version, "method": "paper_scanned", "answers": a, "scan_base64": "not base64!" }),
    ];
    for body in refused {
        let r = send(body.clone()).await.unwrap();
        assert_eq!(r.status(), 422, "{body}");
    }
    assert_eq!(count(&t, "SELECT COUNT(*) FROM consent_records").await, 0);

    let verbal = json!({ "form_version_id": s.form_version, "method": "verbal_recorded", "answers": a,
                         "verbal_record": "phone call 2026-11-21, recording VC-017 on the secure drive" });
    assert_eq!(send(verbal).await.unwrap().status(), 200);
    let kept: String =
        sqlx::query("SELECT verbal_record FROM consent_records WHERE method = 'verbal_recorded'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap()
            .get(0);
    assert!(kept.contains("VC-017"));

    let scan = b"%PDF-1.4 a scanned, signed paper form";
    use base64::Engine as _;
    let paper = json!({ "form_version_id": s.form_version, "method": "paper_scanned", "answers": a,
                        "scan_base64": base64::engine::general_purpose::STANDARD.encode(scan) });
    assert_eq!(send(paper).await.unwrap().status(), 200);
    let row = sqlx::query(
        "SELECT c.scan_sha256, c.scan_sealed, o.id, o.purpose, o.sha256 FROM consent_records c
         JOIN media_objects o ON o.id = c.scan_object_id WHERE c.method = 'paper_scanned'",
    )
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(scan));
    assert_eq!(row.get::<String, _>(0), digest);
    // The scan is a media object now, not sealed text in the record.
    assert_eq!(row.get::<Option<String>, _>(1), None);
    assert_eq!(row.get::<String, _>(3), "consent_scan");
    assert_eq!(row.get::<String, _>(4), digest);
    let object: String = row.get(2);
    let files = crate::recordings::stored_files(&t);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].to_string_lossy().contains(&object));
    let on_disk = std::fs::read(&files[0]).unwrap();
    assert!(
        !on_disk.windows(9).any(|w| w == b"a scanned"),
        "the scan is encrypted on disk"
    );

    // On the researcher's page the scan comes with the form, the CSRF token first.
    let mut page = t.pages();
    page.sign_in(&s.researcher_email, PASSWORD).await;
    let form_path = format!(
        "/studies/{}/participants/{}/consents/new?form={}",
        s.study, s.participant, s.form_version
    );
    page.get(&form_path).await.assert_status(200);
    let token = page.csrf.clone().unwrap();
    let paper_form = |with_scan: bool| {
        let mut f = reqwest::multipart::Form::new()
            .text("csrf_token", token.clone())
            .text("method", "paper_scanned");
        for (key, answer) in &a {
            f = f.text(format!("answer.{key}"), answer.clone());
        }
        let scan: &[u8] = if with_scan {
            b"%PDF-1.4 page two of a paper form"
        } else {
            b""
        };
        f.part(
            "file",
            reqwest::multipart::Part::bytes(scan.to_vec()).file_name("scan.pdf"),
        )
    };
    // A form with nothing answered and no scan names every problem at once,
    // worded for the researcher as much as the participant.
    let empty = reqwest::multipart::Form::new()
        .text("csrf_token", token.clone())
        .text("method", "paper_scanned")
        .part(
            "file",
            reqwest::multipart::Part::bytes(Vec::new()).file_name("scan.pdf"),
        );
    let everything = page.post_multipart(&form_path, empty).await;
    everything.assert_status(422);
    assert!(
        everything.text.contains("href=\"#field-scan\""),
        "{}",
        everything.text
    );
    for key in &s.mandatory {
        assert!(
            everything
                .text
                .contains(&format!("href=\"#field-answers.{key}\"")),
            "{key}"
        );
    }
    assert!(!everything.text.contains("you can ask the researcher"));
    let without = page.post_multipart(&form_path, paper_form(false)).await;
    without.assert_status(422);
    assert!(
        without.text.contains("href=\"#field-scan\""),
        "the missing scan is named"
    );
    let with = page.post_multipart(&form_path, paper_form(true)).await;
    with.assert_status(303);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM media_objects WHERE purpose = 'consent_scan'"
        )
        .await,
        2
    );

    // Bytes that are neither a document nor a picture are refused, and nothing is kept.
    let not_a_scan = json!({ "form_version_id": s.form_version, "method": "paper_scanned", "answers": a,
                             "scan_base64": base64::engine::general_purpose::STANDARD.encode(b"MZ\x90\x00 an executable") });
    assert_eq!(send(not_a_scan).await.unwrap().status(), 422);
    assert_eq!(crate::recordings::stored_files(&t).len(), 2);
}

/// C8: consent to be filmed and consent to each use of the film (teaching,
/// public showing) are separate clauses, and the gate keeps them apart.
async fn recording_a_film_and_each_use_of_it_are_consented_separately(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let r = take(
        &t,
        &s,
        &answers(&s, &["video_recording", "film_teaching"], "no"),
    )
    .await;
    assert_eq!(r.status(), 200);
    use fieldkit::consent::forms::model::DataUse;
    let gate = |u: DataUse| t.may(&s.participant, u);
    assert!(gate(DataUse::VideoRecording).await.is_ok());
    assert!(gate(DataUse::Custom("film_teaching".into())).await.is_ok());
    let public = gate(DataUse::FilmPublic).await.unwrap_err();
    assert!(public.to_string().contains("film public"), "{public}");
    // Agreeing to public showing without being filmed is recorded as given, but
    // each use still needs its own yes: showing needs the public clause only.
    let r = take(&t, &s, &answers(&s, &["film_public"], "no")).await;
    assert_eq!(r.status(), 200);
    assert!(
        gate(DataUse::VideoRecording).await.is_err(),
        "the newest record no longer allows filming"
    );
    assert!(gate(DataUse::FilmPublic).await.is_ok());
}

on_both_engines!(
    verbal_and_paper_consent_keep_their_evidence,
    recording_a_film_and_each_use_of_it_are_consented_separately,
    a_record_holds_everything_c1_asks_for,
    a_mandatory_clause_without_yes_stores_nothing,
    an_optional_clause_left_blank_counts_as_no_and_never_blocks_taking_part,
    the_pdf_copy_shows_the_answers_and_no_identity,
    re_consent_is_a_new_record_linked_to_the_old_one,
    consent_on_a_version_that_is_not_current_is_refused,
    withdrawal_takes_effect_at_once,
    erasure_can_be_refused_with_a_reason,
    online_consent_through_a_one_time_link,
    the_easy_read_form_is_one_tap_away,
    one_link_signed_at_once_records_once,
    an_invitation_expires,
);
