//! One consent form in several languages (issue 7): the shipped Urdu
//! translation read and signed online and in person, the language kept on
//! the record, its register row and its audit entry; a language the form is
//! not published in refused; a translation whose clauses differ from its
//! source refused at `consent-forms check`; form text rendered as Markdown.

use std::path::Path;

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::consent::{answers, consent_fields, count, invitation_path, setup, NAME};
use crate::support::{
    created_id, fieldkit_command, missing_tool, run_fieldkit, spawn, Engine, Run, TempDir, PASSWORD,
};

const SLUG: &str = "recovery-college-codesign";

/// A clause of the shipped Urdu translation, as written in its file.
const URDU_TAKE_PART: &str = "میں اس مطالعے میں حصہ لینے پر رضامند ہوں۔";

fn shipped(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("consent-forms")
        .join(SLUG)
        .join(file);
    std::fs::read_to_string(path).unwrap()
}

/// The language stored on every consent record, oldest first.
async fn record_languages(t: &crate::support::TestApp) -> Vec<Option<String>> {
    sqlx::query("SELECT language FROM consent_records ORDER BY created_at, id")
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The details of the newest audit entry with this action.
async fn last_audit(t: &crate::support::TestApp, action: &str) -> Value {
    let row =
        sqlx::query("SELECT details FROM audit_log WHERE action = $1 ORDER BY seq DESC LIMIT 1")
            .bind(action)
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    serde_json::from_str(&row.get::<String, _>(0)).unwrap()
}

async fn a_participant_reads_and_signs_the_form_in_urdu(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let path = invitation_path(&t, &s).await;
    let mut page = t.pages();

    let english = page.get(&path).await;
    english.assert_status(200);
    assert!(
        english.text.contains(r#"<h1 lang="en-GB" dir="ltr">"#),
        "{}",
        english.text
    );
    let to_urdu = r#"&amp;language=ur" lang="ur" hreflang="ur" dir="rtl">اردو</a>"#;
    assert!(
        english.text.contains(to_urdu),
        "a link to the Urdu form:\n{}",
        english.text
    );
    // The body is Markdown: its list is a list, its emphasis emphasis.
    assert!(
        english.text.contains("<ul>\n<li>answer a few questions"),
        "{}",
        english.text
    );
    assert!(
        english.text.contains("<em>vox pop</em>"),
        "{}",
        english.text
    );
    assert!(
        !english.text.contains("Example translation"),
        "staff notes never reach participants"
    );

    let urdu = page.get(&format!("{path}&language=ur")).await;
    urdu.assert_status(200);
    assert!(
        urdu.text
            .contains(r#"<h1 lang="ur" dir="rtl">رضامندی فارم"#),
        "{}",
        urdu.text
    );
    assert!(
        urdu.text
            .contains(r#"<div class="form-text" lang="ur" dir="rtl">"#),
        "{}",
        urdu.text
    );
    // The statements come in parts; the one to take part is in the second.
    let token = path.split_once("token=").unwrap().1;
    let part = page
        .post(
            "/consent",
            &[
                ("token", token),
                ("language", "ur"),
                ("at", "check"),
                ("go", "change-2"),
            ],
        )
        .await;
    part.assert_status(200);
    assert!(part.text.contains(URDU_TAKE_PART), "{}", part.text);
    assert!(part
        .text
        .contains(r#"<span class="clause-text" lang="ur" dir="rtl">"#));
    // The words around the statements are Urdu too, right to left.
    assert!(
        part.text
            .contains(r#"<div class="consent-journey" lang="ur" dir="rtl">"#),
        "{}",
        part.text
    );
    assert!(
        part.text.contains("اپنے جوابات پر واپس جائیں") && part.text.contains("بیان 5 از 14"),
        "{}",
        part.text
    );
    assert!(urdu
        .text
        .contains(r#"<input type="hidden" name="language" value="ur">"#));
    assert!(
        !urdu.text.contains("Example translation"),
        "staff notes never reach participants"
    );

    // A language the form is not in shows the form in its own, with the
    // languages it has: never an error page for a participant.
    let unknown = page.get(&format!("{path}&language=fr")).await;
    unknown.assert_status(200);
    assert!(
        unknown.text.contains(r#"<h1 lang="en-GB" dir="ltr">"#) && unknown.text.contains(to_urdu),
        "{}",
        unknown.text
    );

    let mut fields = consent_fields(&s, &path, false);
    fields.push(("language".into(), "ur".into()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    page.post("/consent", &fields).await.assert_status(200);
    assert_eq!(record_languages(&t).await, [Some("ur".to_owned())]);
    // The link, used, says so in Urdu.
    let used = page.get(&format!("{path}&language=ur")).await;
    used.assert_status(410);
    assert!(
        used.text.contains("آپ اس فارم کا جواب پہلے ہی دے چکے ہیں"),
        "{}",
        used.text
    );

    let entry = last_audit(&t, "consent.record").await;
    assert_eq!(entry["language"], "ur", "{entry}");

    let register = t
        .get_json(
            &s.researcher,
            &format!("/studies/{}/consent-register", s.study),
        )
        .await;
    assert_eq!(register["records"][0]["language"], "ur", "{register}");
}

async fn a_researcher_takes_consent_in_urdu_and_an_unpublished_language_is_refused(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let form = t
        .consent_form(&s.researcher, &s.study, "participation")
        .await;
    assert_eq!(form["language"], "en-GB");
    assert_eq!(form["languages"], json!(["en-GB", "ur"]));
    let easy = t
        .consent_form(&s.researcher, &s.study, "participation-easy-read")
        .await;
    assert_eq!(
        easy["languages"],
        json!(["en-GB"]),
        "the easy-read form is a form of its own"
    );

    let take = |language: Option<&str>| {
        t.api(Method::POST, &format!("/studies/{}/participants/{}/consents", s.study, s.participant), Some(&s.researcher))
            .json(&json!({ "form_version_id": s.form_version, "language": language, "method": "in_person_witnessed",
                           "answers": answers(&s, &[], "no"), "signature": NAME }))
            .send()
    };
    let refused = take(Some("fr")).await.unwrap();
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "language", "{problem}");
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM consent_records").await,
        0,
        "nothing stored"
    );

    assert_eq!(take(Some("ur")).await.unwrap().status(), 200);
    assert_eq!(
        take(None).await.unwrap().status(),
        200,
        "re-consent in English"
    );
    assert_eq!(
        record_languages(&t).await,
        [Some("ur".to_owned()), Some("en-GB".to_owned())]
    );
    let entry = last_audit(&t, "consent.record").await;
    assert!(
        entry.get("language").is_none(),
        "the form's own language is not named: {entry}"
    );

    // The researcher's page offers the languages, and shows the staff note.
    let admin = t.admin().await;
    let (id, email) = t.person(&admin, "Rafi Researcher").await;
    t.member(&admin, &s.study, &id, "researcher", &[]).await;
    let mut page = t.pages();
    page.sign_in(&email, PASSWORD).await.assert_status(303);
    let base = format!(
        "/studies/{}/participants/{}/consents/new?form={}",
        s.study, s.participant, s.form_version
    );
    let urdu = page.get(&format!("{base}&language=ur")).await;
    urdu.assert_status(200);
    assert!(
        urdu.text.contains(r#"<h1 lang="ur" dir="rtl">"#),
        "{}",
        urdu.text
    );
    assert!(
        urdu.text.contains("Example translation."),
        "the team sees the staff note"
    );
    assert!(
        urdu.text.contains(r#"&amp;language=ur" novalidate>"#),
        "the form posts in Urdu:\n{}",
        urdu.text
    );
}

/// Runs `consent-forms check` on a folder holding the shipped English form
/// and `translation` as participation.v1.ur.md.
async fn check_with_translation(translation: &str) -> Run {
    let dir = TempDir::new();
    let study = dir.0.join(SLUG);
    std::fs::create_dir_all(&study).unwrap();
    std::fs::write(
        study.join("participation.v1.md"),
        shipped("participation.v1.md"),
    )
    .unwrap();
    std::fs::write(study.join("participation.v1.ur.md"), translation).unwrap();
    let folder = dir.0.display().to_string();
    run_fieldkit(
        fieldkit_command(&["consent-forms", "check", "--consent-forms", &folder]),
        None,
    )
    .await
}

#[tokio::test]
async fn a_translation_must_have_its_sources_clauses() {
    let urdu = shipped("participation.v1.ur.md");
    let ok = check_with_translation(&urdu).await;
    assert_eq!(ok.code, Some(0), "{ok:?}");
    assert_eq!(ok.stdout.trim(), "2 forms checked, all correct");

    // A clause made optional where the source needs it is named by its place.
    let optional = urdu.replacen(
        "mandatory = true\ngoverns = \"take_part\"",
        "mandatory = false\ngoverns = \"take_part\"",
        1,
    );
    let run = check_with_translation(&optional).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.contains("participation.v1.ur.md"), "{run:?}");

    // A clause left out is named by its place.
    let start = urdu.find("[[clauses]]\nkey = \"photos\"").unwrap();
    let end = urdu[start..].find("governs = \"photos\"\n").unwrap()
        + start
        + "governs = \"photos\"\n".len();
    let missing = format!("{}{}", &urdu[..start], &urdu[end..]);
    let run = check_with_translation(&missing).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.contains("participation.v1.ur.md: clause 11 differs from the source form's: here \"future_contact\""),
        "{run:?}"
    );

    // The language in the name and in the front matter agree; a translation
    // names its source's language, which must be the source's.
    let run =
        check_with_translation(&urdu.replacen("language = \"ur\"", "language = \"ar\"", 1)).await;
    assert!(
        run.stdout
            .contains("language \"ar\" does not match the file name, which says \"ur\""),
        "{run:?}"
    );
    let run = check_with_translation(&urdu.replacen(
        "translated_from = \"en-GB\"",
        "translated_from = \"cy\"",
        1,
    ))
    .await;
    assert!(
        run.stdout.contains("translated_from is \"cy\" but"),
        "{run:?}"
    );
    let run = check_with_translation(&urdu.replacen("translated_from = \"en-GB\"\n", "", 1)).await;
    assert!(
        run.stdout.contains("`translated_from` is missing"),
        "{run:?}"
    );
    let run =
        check_with_translation(&urdu.replacen("easy_read = false", "easy_read = true", 1)).await;
    assert!(
        run.stdout
            .contains("easy_read is true here but false in the source form"),
        "{run:?}"
    );

    // Raw HTML in a form's text is refused at its line.
    let html = urdu.replacen("## ڈیزائننگ", "<script>x</script>\n\n## ڈیزائننگ", 1);
    let line = html
        .lines()
        .position(|l| l.starts_with("<script>"))
        .unwrap()
        + 1;
    let run = check_with_translation(&html).await;
    assert!(
        run.stdout.contains(&format!(
            "participation.v1.ur.md:{line}: the text above the clauses: HTML is not allowed"
        )),
        "{run:?}"
    );
}

#[tokio::test]
async fn a_translation_without_its_source_is_refused() {
    let dir = TempDir::new();
    let study = dir.0.join(SLUG);
    std::fs::create_dir_all(&study).unwrap();
    std::fs::write(
        study.join("participation.v1.ur.md"),
        shipped("participation.v1.ur.md"),
    )
    .unwrap();
    let folder = dir.0.display().to_string();
    let run = run_fieldkit(
        fieldkit_command(&["consent-forms", "check", "--consent-forms", &folder]),
        None,
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.contains("this translates version 1 of form participation, but there is no participation.v1.md beside it"),
        "{run:?}"
    );
}

/// What outside tools make of a PDF: `pdftotext` (poppler) text and the
/// outcome of `qpdf --check`; None
/// when either tool is missing (then reported as `missing_tool` says).
fn outside_reading(pdf: &[u8]) -> Option<(String, std::process::Output)> {
    use std::process::{Command, Stdio};
    let dir = TempDir::new();
    let file = dir.0.join("copy.pdf");
    std::fs::write(&file, pdf).unwrap();
    let text = match Command::new("pdftotext").arg(&file).arg("-").output() {
        Ok(out) => String::from_utf8(out.stdout).unwrap(),
        Err(_) => {
            missing_tool("pdftotext (Debian package poppler-utils)");
            return None;
        }
    };
    let qpdf = match Command::new("qpdf")
        .arg("--check")
        .arg(&file)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(_) => {
            missing_tool("qpdf (Debian package qpdf)");
            return None;
        }
    };
    Some((text, qpdf))
}

/// Text as compared with pdftotext's: poppler marks each change of direction
/// (U+202A to U+202E) and breaks lines where the copy does, and beside a
/// left-to-right run in right-to-left text it may put a parenthesis on the
/// other side of it; the words and their order are what must match.
fn read_back(text: &str) -> String {
    text.chars()
        .filter(|c| {
            !c.is_whitespace() && !('\u{202A}'..='\u{202E}').contains(c) && !"()".contains(*c)
        })
        .collect()
}

async fn the_copies_in_english_easy_read_and_urdu_are_archival_and_read_back(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let mut copies = Vec::new();
    for (form_id, language, clause) in [
        ("participation", None, 4),
        ("participation-easy-read", None, 0),
        ("participation", Some("ur"), 4),
    ] {
        let form = t.consent_form(&s.researcher, &s.study, form_id).await;
        let clauses = form["clauses"].as_array().unwrap();
        // Needed clauses yes, the rest no.
        let answers: serde_json::Map<String, Value> = clauses
            .iter()
            .map(|c| {
                (
                    c["key"].as_str().unwrap().to_owned(),
                    json!(if c["mandatory"] == true { "yes" } else { "no" }),
                )
            })
            .collect();
        // The Urdu copy is checked for every clause of its file.
        let clause: Vec<String> = match language {
            Some(_) => shipped("participation.v1.ur.md")
                .lines()
                .filter_map(|l| {
                    l.strip_prefix("text = \"")?
                        .strip_suffix('"')
                        .map(str::to_owned)
                })
                .collect(),
            None => vec![clauses[clause]["text"].as_str().unwrap().to_owned()],
        };
        let r = t
            .api(Method::POST, &format!("/studies/{}/participants/{}/consents", s.study, s.participant), Some(&s.researcher))
            .json(&json!({ "form_version_id": form["id"], "language": language, "method": "in_person_witnessed",
                           "answers": answers, "signature": NAME }))
            .send()
            .await
            .unwrap();
        let id = created_id(r).await;
        let pdf = t.api(
            Method::GET,
            &format!("/studies/{}/consent-records/{id}/pdf", s.study),
            Some(&s.researcher),
        );
        let pdf = pdf.send().await.unwrap().bytes().await.unwrap().to_vec();
        copies.push((language.unwrap_or("en-GB"), pdf, clause));
    }
    for (language, pdf, clause) in copies {
        let raw = String::from_utf8_lossy(&pdf);
        assert!(
            raw.contains("<pdfaid:part>2</pdfaid:part>"),
            "{language}: claims PDF/A-2"
        );
        assert!(
            raw.contains("<pdfuaid:part>1</pdfuaid:part>"),
            "{language}: claims PDF/UA-1"
        );
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        let lang = doc
            .catalog()
            .unwrap()
            .get(b"Lang")
            .unwrap()
            .as_str()
            .unwrap()
            .to_vec();
        assert_eq!(
            String::from_utf8(lang).unwrap(),
            language,
            "the document language is the form's"
        );
        // fieldkit's own words (labels, answers, headings) are tagged
        // English inside an Urdu copy, so a screen reader switches voice.
        let english_parts = doc
            .objects
            .values()
            .filter_map(|o| o.as_dict().ok())
            .filter(|d| d.has_type(b"StructElem"))
            .filter(|d| d.get(b"Lang").and_then(lopdf::Object::as_str).ok() == Some(b"en-GB"))
            .count();
        match language {
            "ur" => assert!(english_parts >= 5, "{english_parts} parts tagged en-GB"),
            _ => assert_eq!(english_parts, 1, "only the document itself names en-GB"),
        }
        assert!(!raw.contains(NAME), "no identity in the copy");
        let Some((text, qpdf)) = outside_reading(&pdf) else {
            return;
        };
        assert!(
            qpdf.status.success(),
            "{language}: qpdf --check: {}",
            String::from_utf8_lossy(&qpdf.stdout)
        );
        for clause in clause {
            assert!(
                read_back(&text).contains(&read_back(&clause)),
                "{language}: pdftotext gives back {clause:?} in reading order:\n{text}"
            );
        }
    }
}

on_both_engines!(
    the_copies_in_english_easy_read_and_urdu_are_archival_and_read_back,
    a_participant_reads_and_signs_the_form_in_urdu,
    a_researcher_takes_consent_in_urdu_and_an_unpublished_language_is_refused,
);
