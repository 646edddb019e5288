//! Consent pages: the participant's online consent page (the exact form,
//! every clause with nothing pre-ticked, a typed-name signature), and the
//! researcher's pages for consent taken in person or by phone, invitations,
//! withdrawals and PDF copies.

use std::collections::BTreeMap;

use poem::web::{Path, Query};
use poem::{handler, Request, Response};
use serde_json::json;

use super::service;
use crate::consent::forms::model::language_name;
use crate::consent::forms::model::ConsentFormVersion;
use crate::consent::kernel::model::{ConsentMethod, Submitted, WithdrawalBasis, WithdrawalScope};
use crate::consent::kernel::Withdrawal;
use crate::error::AppError;
use crate::http::page::{pdf_response, see_other, Notice, Page, PageQuery};
use crate::http::viewer::{app_of, CsrfForm, FormFields, Viewer};
use crate::ids::{ConsentRecordId, FormVersionId, ParticipantId, StudyId};
use crate::media::upload::Upload;
use crate::pages::participant::{render, Extra};

type PageResult = poem::Result<Response>;

/// Who fills the form in: the participant through their link, or a
/// researcher recording consent taken in person or by phone.
enum Filler<'a> {
    Participant {
        token: &'a str,
    },
    Researcher {
        study_code: &'a str,
        action: String,
        method: &'a str,
        verbal_record: &'a str,
    },
}

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

/// `languages` are those the form can be read in, each linked as `base`
/// with `&language=` added.
fn consent_page(
    study_title: &str,
    form: &ConsentFormVersion,
    (languages, base): (&[String], &str),
    filler: &Filler<'_>,
    chosen: &BTreeMap<String, String>,
    signature: &str,
) -> Page {
    let f = &form.form;
    let clauses: Vec<_> = f
        .clauses
        .iter()
        .map(|c| json!({ "key": c.key, "text": c.text, "mandatory": c.mandatory, "chosen": chosen.get(&c.key).cloned().unwrap_or_default() }))
        .collect();
    let (token, action, researcher) = match filler {
        Filler::Participant { token } => {
            (Some(*token), "/consent".to_owned(), serde_json::Value::Null)
        }
        Filler::Researcher {
            study_code,
            action,
            method,
            verbal_record,
        } => {
            let methods: Vec<_> = [
                ConsentMethod::InPersonWitnessed,
                ConsentMethod::VerbalRecorded,
                ConsentMethod::PaperScanned,
            ]
            .iter()
            .map(|m| json!({ "value": m.as_str(), "label": m.label() }))
            .collect();
            (
                None,
                action.clone(),
                json!({ "study_code": study_code, "methods": methods, "method": method, "verbal_record": verbal_record,
                        "staff_note": f.staff_note }),
            )
        }
    };
    let ctx = json!({
        "token": token,
        "action": action,
        "language": f.language,
        "rtl": f.right_to_left(),
        "languages": language_links(form, languages, base),
        "researcher": researcher,
        "study_title": study_title,
        "form": { "title": f.title, "version": f.version, "easy_read": f.easy_read, "rec_reference": f.rec_reference,
                  "information_sheet_version": f.information_sheet_version, "information_sheet_date": f.information_sheet_date.to_string(),
                  "withdrawal_policy": f.withdrawal_policy },
        "body": f.body_markdown,
        "clauses": clauses,
        "signature": signature,
    });
    Page::new("consent.html", f.title.clone(), ctx)
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

#[handler]
pub async fn consent_form(req: &Request, viewer: Viewer, Query(q): Query<PageQuery>) -> PageResult {
    let app = app_of(req);
    let token = q.token().ok_or_else(|| {
        AppError::Forbidden("This link is incomplete. Copy the whole link from the message.".into())
    })?;
    let inv = service::open_invitation(app, token, q.language()).await?;
    let filler = Filler::Participant { token };
    let base = format!("/consent?token={token}");
    let page = consent_page(
        &inv.study_title,
        &inv.form,
        (&inv.languages, &base),
        &filler,
        &BTreeMap::new(),
        "",
    );
    Ok(page.render(app, &viewer)?)
}

#[handler]
pub async fn consent_submit(req: &Request, form: CsrfForm) -> PageResult {
    let app = app_of(req);
    let token = form.get("token");
    let language = Some(form.get("language")).filter(|l| !l.is_empty());
    let inv = service::open_invitation(app, token, language).await?;
    let (chosen, answers) = submitted(&form, &inv.form);
    let send_copy = form.checked("send_copy");
    match service::consent_online(app, token, &inv, &answers, form.get("signature"), send_copy)
        .await
    {
        Ok(_) => {
            let copy = if send_copy {
                "If the research team has your email address, a copy of your form is on its way to you."
            } else {
                "The researcher can give you a copy of your form."
            };
            let ctx = json!({
                "heading": "Thank you",
                "message": format!("Your consent has been recorded. {copy} You can change your mind at any time, without giving a reason."),
                "link": null,
            });
            Ok(Page::new("notice.html", "Thank you", ctx).render(app, &form.viewer)?)
        }
        Err(e) => {
            let filler = Filler::Participant { token };
            let base = format!("/consent?token={token}");
            Ok(consent_page(
                &inv.study_title,
                &inv.form,
                (&inv.languages, &base),
                &filler,
                &chosen,
                form.get("signature"),
            )
            .problems(e)?
            .render(app, &form.viewer)?)
        }
    }
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
    let filler = Filler::Researcher {
        study_code: p.study_code.as_str(),
        action,
        method,
        verbal_record: verbal,
    };
    let languages = (t.languages.as_slice(), base.as_str());
    let mut page = consent_page(
        &t.study_title,
        version,
        languages,
        &filler,
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
    let bytes = service::pdf(app_of(req), actor, &study, &record).await?;
    Ok(pdf_response("consent", &record, bytes))
}
