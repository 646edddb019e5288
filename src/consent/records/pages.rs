//! Consent pages: the participant's online consent page (the exact form,
//! every clause with nothing pre-ticked, a typed-name signature), and the
//! researcher's pages for consent taken in person or by phone, invitations,
//! withdrawals and PDF copies.

use std::collections::BTreeMap;

use poem::http::StatusCode;
use poem::web::{Path, Query};
use poem::{handler, Request, Response};
use serde_json::json;

use super::interface::{self, fill, Words};
use super::service;
use super::service::Closure;
use super::steps::{self, Go, Step};
use crate::consent::forms::model::{language_name, Clause, ConsentForm, ConsentFormVersion};
use crate::consent::kernel::model::{ConsentMethod, Submitted, WithdrawalBasis, WithdrawalScope};
use crate::consent::kernel::Withdrawal;
use crate::error::AppError;
use crate::http::page::{pdf_response, see_other, Notice, Page};
use crate::http::viewer::{app_of, CsrfForm, FormFields, Viewer};
use crate::ids::{ConsentRecordId, FormVersionId, ParticipantId, StudyId};
use crate::media::upload::Upload;
use crate::pages::participant::{render, Extra};

type PageResult = poem::Result<Response>;

/// The form's languages as links to read it in each, the one shown marked.
fn language_links(
    form: &ConsentFormVersion,
    languages: &[String],
    base: &str,
) -> serde_json::Value {
    if languages.len() < 2 {
        return serde_json::Value::Null;
    }
    let links: Vec<_> = languages
        .iter()
        .map(|l| {
            json!({ "tag": l, "name": language_name(l), "href": format!("{base}&language={l}"),
                    "current": *l == form.form.language, "rtl": crate::pdf::is_right_to_left(l) })
        })
        .collect();
    json!(links)
}

/// The direction of a catalogue's words.
fn direction(words: &Words) -> &'static str {
    let language = words.get("language").map_or("en", String::as_str);
    if crate::pdf::is_right_to_left(language) {
        "rtl"
    } else {
        "ltr"
    }
}

/// A moment in UK time set apart (Unicode first-strong isolate) so that,
/// written inside right-to-left words, it keeps its own order.
fn isolated_time(ms: i64) -> String {
    format!("\u{2068}{}\u{2069}", crate::clock::spoken(ms))
}

/// A date as the participant reads it: 2 September 2024.
fn long_date(d: chrono::NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

/// The researcher's page for consent taken in person, by phone or on paper:
/// every statement at once, read out to the participant. `languages` are
/// those the form can be read in, each linked as `base` with `&language=`.
fn consent_page(
    study_title: &str,
    form: &ConsentFormVersion,
    (languages, base): (&[String], &str),
    researcher: serde_json::Value,
    chosen: &BTreeMap<String, String>,
    signature: &str,
) -> Page {
    let f = &form.form;
    let ctx = json!({
        "t": interface::words("en-GB", false),
        "language": f.language,
        "rtl": f.right_to_left(),
        "languages": language_links(form, languages, base),
        "researcher": researcher,
        "study_title": study_title,
        "form": { "title": f.title, "version": f.version, "easy_read": f.easy_read, "rec_reference": f.rec_reference,
                  "information_sheet_version": f.information_sheet_version, "information_sheet_date": long_date(f.information_sheet_date),
                  "withdrawal_policy": f.withdrawal_policy },
        "body": f.body_markdown,
        "clauses": numbered(&f.clauses, chosen),
        "signature": signature,
    });
    Page::new("consent.html", f.title.clone(), ctx)
}

/// The statements with their numbers and the answers chosen so far.
fn numbered(clauses: &[Clause], chosen: &BTreeMap<String, String>) -> Vec<serde_json::Value> {
    clauses
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({ "key": c.key, "number": i + 1, "text": c.text, "mandatory": c.mandatory,
                               "chosen": chosen.get(&c.key).cloned().unwrap_or_default() })
        })
        .collect()
}

/// The answers in a submitted consent form: as chosen (to show again) and as read.
fn submitted(
    form: &dyn FormFields,
    version: &ConsentFormVersion,
) -> (BTreeMap<String, String>, BTreeMap<String, Submitted>) {
    let mut chosen = BTreeMap::new();
    let mut answers = BTreeMap::new();
    for clause in &version.form.clauses {
        let raw = form.field(&format!("answer.{}", clause.key));
        chosen.insert(clause.key.clone(), raw.to_owned());
        answers.insert(
            clause.key.clone(),
            Submitted::parse(raw).unwrap_or(Submitted::Blank),
        );
    }
    (chosen, answers)
}

/// A consent link as opened: its token, and how the participant asked to
/// read the form.
#[derive(serde::Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
    language: Option<String>,
    /// "easy-read" or "standard", to switch to the form's other presentation.
    presentation: Option<String>,
}

/// The presentation asked for: Some(true) for easy read, Some(false) for standard.
fn presentation(raw: &str) -> Option<bool> {
    match raw {
        "easy-read" => Some(true),
        "standard" => Some(false),
        _ => None,
    }
}

/// The step the participant is at, and the answers they carry.
struct Journey<'a> {
    token: &'a str,
    inv: &'a service::Invitation,
    presentation: &'a str,
    chosen: BTreeMap<String, String>,
    signature: &'a str,
    send_copy: bool,
    returning: bool,
}

impl Journey<'_> {
    /// The words around the form, in its language and reading level.
    fn words(&self) -> &'static Words {
        let f = &self.inv.form.form;
        interface::words(&f.language, f.easy_read)
    }

    /// The page for `step`: what is on screen as fields, the rest of the
    /// answers as hidden fields.
    fn page(&self, step: Step) -> Page {
        let f = &self.inv.form.form;
        let parts = steps::parts(&f.clauses);
        let here = match step {
            Step::Part(n) => parts[n - 1].clone(),
            Step::Start | Step::Check => 0..0,
        };
        let all = numbered(&f.clauses, &self.chosen);
        let mut hidden: Vec<_> = f
            .clauses
            .iter()
            .enumerate()
            .filter(|(i, c)| !here.contains(i) && self.chosen.get(&c.key).is_some_and(|v| !v.is_empty()))
            .map(|(_, c)| json!({ "name": format!("answer.{}", c.key), "value": self.chosen[&c.key] }))
            .collect();
        if step != Step::Check {
            hidden.push(json!({ "name": "signature", "value": self.signature }));
            if self.send_copy {
                hidden.push(json!({ "name": "send_copy", "value": "on" }));
            }
        }
        let part_of = |i: usize| {
            parts
                .iter()
                .position(|p| p.contains(&i))
                .map_or(1, |k| k + 1)
        };
        let check: Vec<_> = all
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = c.clone();
                c["part"] = json!(part_of(i));
                c
            })
            .collect();
        let base = format!(
            "/consent?token={}&presentation={}",
            self.token, self.presentation
        );
        let other = self.inv.other_presentation.map(|easy| {
            let value = if easy { "easy-read" } else { "standard" };
            json!({ "href": format!("/consent?token={}&presentation={value}", self.token), "easy_read": easy })
        });
        let words = self.words();
        let (total, count) = (f.clauses.len().to_string(), parts.len().to_string());
        let how = fill(words, "how", &[("total", &total), ("parts", &count)]);
        let (step_name, part) = match step {
            Step::Start => ("start", 0),
            Step::Part(n) => ("part", n),
            Step::Check => ("check", 0),
        };
        let ctx = json!({
            "t": words,
            "t_dir": direction(words),
            "how": how.trim().lines().collect::<Vec<_>>(),
            "step": step_name,
            "at": step.as_string(),
            "part": part,
            "parts": parts.len(),
            "total": f.clauses.len(),
            "part_needed": here.clone().next().is_some_and(|i| f.clauses[i].mandatory),
            "here": all[here.clone()],
            "all": check,
            "hidden": hidden,
            "returning": self.returning && matches!(step, Step::Part(_)),
            "token": self.token,
            "presentation": self.presentation,
            "version": self.inv.form.id,
            "easy": f.easy_read,
            "language": f.language,
            "rtl": f.right_to_left(),
            "languages": language_links(&self.inv.form, &self.inv.languages, &base),
            "other": other,
            "study_title": self.inv.study_title,
            "form": { "title": f.title, "version": f.version, "rec_reference": f.rec_reference,
                      "information_sheet_version": f.information_sheet_version,
                      "information_sheet_date": long_date(f.information_sheet_date),
                      "information_sheet_url": f.information_sheet_url,
                      "withdrawal_policy": f.withdrawal_policy },
            "body": f.body_markdown,
            "contact": f.contact,
            "signature": self.signature,
            "send_copy": self.send_copy,
        });
        let title = match step {
            Step::Part(n) => format!("Part {n} of {} – {}", parts.len(), f.title),
            Step::Check => format!("Check your answers – {}", f.title),
            Step::Start => f.title.clone(),
        };
        Page::new("consent_online.html", title, ctx)
    }
}

/// The page for a link that cannot be used: what happened and what to do.
fn link_page(link: service::Link, token: &str) -> Page {
    let (why, at, copy, form, study_title) = match &link {
        service::Link::Closed {
            why,
            form,
            study_title,
        } => {
            let (name, at, copy) = match why {
                Closure::Used { at, copy } => ("used", Some(*at), *copy),
                Closure::Expired { at } => ("expired", Some(*at), false),
                Closure::Cancelled => ("cancelled", None, false),
                Closure::Refused => ("refused", None, false),
            };
            (name, at, copy, Some(&form.form), Some(study_title.as_str()))
        }
        service::Link::Unknown | service::Link::Open(_) => ("unknown", None, false, None, None),
    };
    let words = match form {
        Some(f) => interface::words(&f.language, f.easy_read),
        None => interface::words("en-GB", false),
    };
    let ctx = json!({
        "t": words,
        "t_dir": direction(words),
        "why": why,
        "at": at.map(isolated_time),
        "copy": copy,
        "token": token,
        "study_title": study_title,
        "easy": form.is_some_and(|f| f.easy_read),
        "language": form.map(|f| f.language.as_str()),
        "rtl": form.is_some_and(ConsentForm::right_to_left),
        "contact": form.and_then(|f| f.contact.as_deref()),
    });
    let mut page = Page::new("consent_link.html", "Consent link", ctx);
    page.status(match why {
        "unknown" => StatusCode::NOT_FOUND,
        "refused" => StatusCode::CONFLICT,
        _ => StatusCode::GONE,
    });
    page
}

#[handler]
pub async fn consent_form(req: &Request, viewer: Viewer, Query(q): Query<LinkQuery>) -> PageResult {
    let app = app_of(req);
    let token = q.token.as_deref().unwrap_or_default();
    let wanted = q.presentation.as_deref().unwrap_or_default();
    let language = q.language.as_deref().filter(|l| !l.is_empty());
    let link = service::open_link(app, token, language, presentation(wanted)).await?;
    let service::Link::Open(inv) = link else {
        return Ok(link_page(link, token).render(app, &viewer)?);
    };
    let journey = Journey {
        token,
        inv: &inv,
        presentation: wanted,
        chosen: BTreeMap::new(),
        signature: "",
        send_copy: false,
        returning: false,
    };
    Ok(journey.page(Step::Start).render(app, &viewer)?)
}

/// Every step of the participant's online consent posts here: the button
/// pressed says where to go, and the answers come along.
#[handler]
pub async fn consent_submit(req: &Request, form: CsrfForm) -> PageResult {
    let app = app_of(req);
    let token = form.get("token");
    let wanted = form.get("presentation");
    let language = Some(form.get("language")).filter(|l| !l.is_empty());
    let link = service::open_link(app, token, language, presentation(wanted)).await?;
    let service::Link::Open(inv) = link else {
        return Ok(link_page(link, token).render(app, &form.viewer)?);
    };
    let (chosen, answers) = submitted(&form, &inv.form);
    let clauses = &inv.form.form.clauses;
    let parts = steps::parts(clauses);
    let at = Step::parse(form.get("at"), parts.len());
    let go = Go::parse(form.get("go"))
        .ok_or_else(|| AppError::BadRequest("Press one of the form's buttons.".into()))?;
    let journey = Journey {
        token,
        inv: &inv,
        presentation: wanted,
        chosen,
        signature: form.get("signature"),
        send_copy: form.checked("send_copy"),
        returning: form.get("returning") == "yes" || matches!(go, Go::Change(_)),
    };
    let words = journey.words();
    // The form read is the form signed: if another version is current now
    // (published while they read, or the other presentation's), they start
    // again with it.
    if !form.get("version").is_empty() && form.get("version") != inv.form.id.as_str() {
        let fresh = Journey {
            chosen: BTreeMap::new(),
            ..journey
        };
        let changed = AppError::invalid("", fill(words, "form_changed", &[]));
        let page = fresh.page(Step::Start).problems(changed)?;
        return Ok(page.render(app, &form.viewer)?);
    }
    // Moving on from a part checks that part's answers first.
    if let (Go::Next, Step::Part(n)) = (go, at) {
        let problems = steps::problems(clauses, parts[n - 1].clone(), &journey.chosen, words);
        if !problems.is_empty() {
            let page = journey.page(at).problems(AppError::Invalid(problems))?;
            return Ok(page.render(app, &form.viewer)?);
        }
    }
    if go != Go::Sign {
        let to = steps::next(at, go, parts.len(), journey.returning);
        return Ok(journey.page(to).render(app, &form.viewer)?);
    }
    // Signing: every statement and the signature, named together.
    let mut problems = steps::problems(clauses, 0..clauses.len(), &journey.chosen, words);
    problems.extend(steps::signature_problem(journey.signature, words));
    let signed = if problems.is_empty() {
        service::consent_online(
            app,
            token,
            &inv,
            &answers,
            journey.signature,
            journey.send_copy,
        )
        .await
    } else {
        Err(AppError::Invalid(problems))
    };
    match signed {
        Ok(signed) => Ok(done_page(&journey, &signed).render(app, &form.viewer)?),
        Err(AppError::Gone(_)) => {
            // Used up by another submission a moment ago: say so kindly.
            let link = service::open_link(app, token, language, presentation(wanted)).await?;
            Ok(link_page(link, token).render(app, &form.viewer)?)
        }
        Err(AppError::Conflict(_)) => {
            // The refusal is worded for the research team; the participant
            // is told, in the form's words, to speak with them.
            let refused = service::Link::Closed {
                why: Closure::Refused,
                form: Box::new(inv.form.clone()),
                study_title: inv.study_title.clone(),
            };
            Ok(link_page(refused, token).render(app, &form.viewer)?)
        }
        Err(e) => Ok(journey
            .page(Step::Check)
            .problems(e)?
            .render(app, &form.viewer)?),
    }
}

/// What the participant sees once signed: their answers, their copy.
fn done_page(journey: &Journey<'_>, signed: &service::Signed) -> Page {
    let f = &journey.inv.form.form;
    let (agreed, declined): (Vec<&Clause>, Vec<&Clause>) = f
        .clauses
        .iter()
        .partition(|c| journey.chosen.get(&c.key).is_some_and(|v| v == "yes"));
    let texts = |cs: Vec<&Clause>| cs.into_iter().map(|c| c.text.clone()).collect::<Vec<_>>();
    let words = journey.words();
    let ctx = json!({
        "t": words,
        "t_dir": direction(words),
        "easy": f.easy_read,
        "language": f.language,
        "rtl": f.right_to_left(),
        "signed_at": isolated_time(signed.at),
        "agreed": texts(agreed),
        "declined": texts(declined),
        "copy_emailed": signed.copy_emailed,
        "send_copy": journey.send_copy,
        "token": journey.token,
        "contact": f.contact,
    });
    Page::new("consent_done.html", "Thank you", ctx)
}

/// The participant's copy, through the link they have just signed with.
#[handler]
pub async fn consent_copy(req: &Request, form: CsrfForm) -> PageResult {
    let (bytes, file_name) = service::copy_after_signing(app_of(req), form.get("token")).await?;
    Ok(pdf_response(&file_name, bytes))
}

async fn researcher_form(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    pid: &ParticipantId,
    q: &FormQuery,
    values: Option<(&dyn FormFields, AppError)>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let (version_id, language) = (&q.form, q.language());
    let t = service::form_to_take(app, actor, study, pid, version_id, language).await?;
    let (p, version) = (&t.participant, &t.form);
    let base = format!("/studies/{study}/participants/{pid}/consents/new?form={version_id}");
    let action = format!("{base}&language={}", version.form.language);
    let (chosen, signature, method, verbal) = match &values {
        Some((form, _)) => (
            submitted(*form, version).0,
            form.field("signature"),
            form.field("method"),
            form.field("verbal_record"),
        ),
        None => (BTreeMap::new(), "", "", ""),
    };
    let methods: Vec<_> = [
        ConsentMethod::InPersonWitnessed,
        ConsentMethod::VerbalRecorded,
        ConsentMethod::PaperScanned,
    ]
    .iter()
    .map(|m| json!({ "value": m.as_str(), "label": m.label() }))
    .collect();
    let researcher = json!({ "study_code": p.study_code, "methods": methods, "method": method,
                             "verbal_record": verbal, "staff_note": version.form.staff_note, "action": action });
    let languages = (t.languages.as_slice(), base.as_str());
    let mut page = consent_page(
        &t.study_title,
        version,
        languages,
        researcher,
        &chosen,
        signature,
    );
    if let Some((_, e)) = values {
        page = page.problems(e)?;
    }
    Ok(page.render(app, viewer)?)
}

#[derive(serde::Deserialize)]
pub struct FormQuery {
    form: FormVersionId,
    /// The language the form is read in; its own when absent.
    language: Option<String>,
}

impl FormQuery {
    fn language(&self) -> Option<&str> {
        self.language.as_deref().filter(|l| !l.is_empty())
    }
}

#[handler]
pub async fn take_form(
    req: &Request,
    viewer: Viewer,
    Path((study, pid)): Path<(StudyId, ParticipantId)>,
    Query(q): Query<FormQuery>,
) -> PageResult {
    researcher_form(req, &viewer, &study, &pid, &q, None).await
}

/// The largest paper-form scan a page takes (a few pages, photographed or
/// scanned as PDF).
const SCAN_LIMIT: u64 = 25 * 1024 * 1024;

/// Consent taken by a researcher, sent as multipart/form-data (the CSRF
/// token first) so a paper form's scan can come with it.
#[handler]
pub async fn take(
    req: &Request,
    viewer: Viewer,
    Path((study, pid)): Path<(StudyId, ParticipantId)>,
    Query(q): Query<FormQuery>,
    body: poem::Body,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    // Access first: nothing of the body is read for someone who may not take consent.
    let t = service::form_to_take(app, actor, &study, &pid, &q.form, q.language()).await?;
    let mut upload = Upload::read(req, body, SCAN_LIMIT, Some(&viewer.csrf)).await?;
    let (_, answers) = submitted(&upload, &t.form);
    let method =
        ConsentMethod::parse(upload.get("method")).unwrap_or(ConsentMethod::InPersonWitnessed);
    let scan = match upload.take_file() {
        Ok(file) if method == ConsentMethod::PaperScanned => match file.bytes().await {
            Ok(bytes) => Some(bytes),
            Err(AppError::TooLarge { .. }) => {
                let e = AppError::invalid(
                    "scan",
                    "The scan is larger than 25 MB: scan it at a lower resolution, or as a PDF.",
                );
                return researcher_form(req, &viewer, &study, &pid, &q, Some((&upload, e))).await;
            }
            Err(other) => return Err(other.into()),
        },
        _ => None,
    };
    let taken = service::Taken {
        form_version_id: &q.form,
        language: q.language(),
        method,
        answers,
        signature: Some(upload.get("signature")).filter(|s| !s.trim().is_empty()),
        verbal_record: Some(upload.get("verbal_record")),
        scan,
        send_copy: !upload.get("send_copy").is_empty(),
    };
    match service::take(app, actor, &study, &pid, taken).await {
        Ok(_) => Ok(see_other(
            &format!("/studies/{study}/participants/{pid}"),
            Some(Notice::ConsentRecorded),
        )),
        Err(e) => researcher_form(req, &viewer, &study, &pid, &q, Some((&upload, e))).await,
    }
}

#[handler]
pub async fn invite(
    req: &Request,
    form: CsrfForm,
    Path((study, pid)): Path<(StudyId, ParticipantId)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    let extra = match service::invite(app_of(req), actor, &study, &pid, form.get("form_id")).await {
        Ok(sent) => Extra {
            invitation: Some(sent),
            ..Default::default()
        },
        Err(e) => Extra {
            err: Some(e),
            ..Default::default()
        },
    };
    render(req, &form.viewer, &study, &pid, extra).await
}

#[handler]
pub async fn withdraw(
    req: &Request,
    form: CsrfForm,
    Path((study, pid)): Path<(StudyId, ParticipantId)>,
) -> PageResult {
    let actor = form.viewer.require()?;
    let w = Withdrawal {
        scope: WithdrawalScope {
            no_contact: form.checked("no_contact"),
            no_collection: form.checked("no_collection"),
            remove_identifiable: form.checked("remove_identifiable"),
        },
        reason: Some(form.get("withdrawal_reason")),
        erasure_refused_because: Some(form.get("erasure_refused_because")),
        basis: WithdrawalBasis::Request,
        email_asked: form.checked("email_confirmation"),
    };
    match service::withdraw(app_of(req), actor, &study, &pid, w).await {
        Ok(done) => Ok(see_other(
            &format!("/studies/{study}/participants/{pid}"),
            Some(if done.confirmation_emailed {
                Notice::WithdrawalRecorded
            } else {
                Notice::WithdrawalRecordedNotEmailed
            }),
        )),
        Err(e) => {
            let extra = Extra {
                err: Some(e),
                ..Default::default()
            };
            render(req, &form.viewer, &study, &pid, extra).await
        }
    }
}

#[handler]
pub async fn pdf(
    req: &Request,
    viewer: Viewer,
    Path((study, record)): Path<(StudyId, ConsentRecordId)>,
) -> PageResult {
    let actor = viewer.require()?;
    let copy = service::pdf(app_of(req), actor, &study, &record).await?;
    Ok(pdf_response(&copy.file_name, copy.pdf))
}
