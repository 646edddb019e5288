//! JSON API for taking consent, inviting to online consent, withdrawing, and
//! reading the current consent and the PDF copies.

use std::collections::BTreeMap;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::{Attachment, AttachmentType, Json};
use poem_openapi::{Object, OpenApi};

use super::model::{ConsentMethod, Submitted, WithdrawalScope};
use super::service::{self, Taken, Withdrawal};
use crate::error::AppError;
use crate::http::api::{fail, ApiResult, BearerAuth, Created, NoContent, Tag};
use crate::http::viewer::app_of;
use crate::ids::StudyId;

pub struct ConsentApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct TakenRequest {
    form_version_id: String,
    method: ConsentMethod,
    /// Clause key to "yes", "no" or "" (left blank; counts as no).
    answers: BTreeMap<String, String>,
    /// The participant's typed name (in person). Kept encrypted.
    signature: Option<String>,
    /// Where the recording of verbal consent is kept.
    verbal_record: Option<String>,
    /// The scanned paper form, base64.
    scan_base64: Option<String>,
    /// Email the participant a copy of the form, with the PDF attached, if
    /// they have an email address (only when they want one).
    #[oai(default)]
    send_copy: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct InvitationRequest {
    form_id: String,
}

#[derive(Object)]
struct InvitationLink {
    /// A one-time link, valid for 14 days, to hand over or send.
    link: String,
    /// Whether the link was also emailed to the participant (when they have an email address).
    emailed: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct WithdrawalRequest {
    /// No further contact.
    #[oai(default)]
    no_contact: bool,
    /// No further data collection.
    #[oai(default)]
    no_collection: bool,
    /// Remove identifiable data not yet analysed.
    #[oai(default)]
    remove_identifiable: bool,
    /// The participant's reason, if they gave one (kept encrypted).
    reason: Option<String>,
    /// If removal of identifiable data was asked for but cannot be done: why.
    erasure_refused_because: Option<String>,
}

/// A published version of a consent form.
#[derive(Object)]
struct FormVersionView {
    id: String,
    form_id: String,
    version: i32,
    title: String,
    language: String,
    easy_read: bool,
    clauses: Vec<ClauseView>,
}

#[derive(Object)]
struct ClauseView {
    key: String,
    text: String,
    mandatory: bool,
    governs: String,
}

#[derive(Object)]
struct CurrentConsent {
    record_id: Option<String>,
    /// The uses agreed in the latest record.
    agreed: Vec<String>,
    withdrawn: WithdrawalScope,
}

pub(crate) fn study_id(raw: &str) -> poem::Result<StudyId> {
    StudyId::parse(raw).ok_or_else(|| fail(AppError::NotFound))
}

pub(crate) fn answers(raw: &BTreeMap<String, String>) -> poem::Result<BTreeMap<String, Submitted>> {
    raw.iter()
        .map(|(k, v)| {
            Submitted::parse(v).map(|s| (k.clone(), s)).ok_or_else(|| {
                fail(AppError::invalid(
                    &format!("answers.{k}"),
                    "Answer \"yes\", \"no\", or leave it empty.",
                ))
            })
        })
        .collect()
}

/// A consent record's PDF as a download.
pub(crate) fn pdf_attachment(bytes: Vec<u8>, record_id: &str) -> Attachment<Vec<u8>> {
    let name: String = record_id
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    Attachment::new(bytes)
        .attachment_type(AttachmentType::Attachment)
        .filename(format!("consent-{name}.pdf"))
}

#[OpenApi(tag = "Tag::Consent")]
impl ConsentApi {
    /// Every published version of the study's consent forms.
    #[oai(path = "/studies/:study_id/consent-forms", method = "get")]
    async fn forms(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
    ) -> ApiResult<Json<Vec<FormVersionView>>> {
        let study = self::study_id(&study_id)?;
        let versions = service::published_forms(app_of(req), &auth.0, &study)
            .await
            .map_err(fail)?;
        Ok(Json(
            versions
                .into_iter()
                .map(|v| FormVersionView {
                    id: v.id,
                    form_id: v.form.form_id,
                    version: v.form.version,
                    title: v.form.title,
                    language: v.form.language,
                    easy_read: v.form.easy_read,
                    clauses: v
                        .form
                        .clauses
                        .into_iter()
                        .map(|c| ClauseView {
                            governs: c.governs.as_str().to_owned(),
                            key: c.key,
                            text: c.text,
                            mandatory: c.mandatory,
                        })
                        .collect(),
                })
                .collect(),
        ))
    }

    /// Record consent taken in person (witnessed), verbally (recorded) or on paper (scanned).
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/consents",
        method = "post"
    )]
    async fn take(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        participant_id: Path<String>,
        body: Json<TakenRequest>,
    ) -> ApiResult<Json<Created>> {
        let study = self::study_id(&study_id)?;
        crate::participants::service::get(app_of(req), &auth.0, &study, &participant_id)
            .await
            .map_err(fail)?;
        let scan = match &body.scan_base64 {
            Some(b64) => {
                use base64::Engine;
                Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|_| {
                            fail(AppError::invalid(
                                "scan_base64",
                                "The scan is not valid base64.",
                            ))
                        })?,
                )
            }
            None => None,
        };
        let taken = Taken {
            form_version_id: &body.form_version_id,
            method: body.method,
            answers: answers(&body.answers)?,
            signature: body.signature.as_deref(),
            verbal_record: body.verbal_record.as_deref(),
            scan,
            send_copy: body.send_copy,
        };
        let id = service::take(app_of(req), &auth.0, &study, &participant_id, taken)
            .await
            .map_err(fail)?;
        Ok(Json(Created { id }))
    }

    /// Make a one-time link for online consent on the current version of a form.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/consent-invitations",
        method = "post"
    )]
    async fn invite(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        participant_id: Path<String>,
        body: Json<InvitationRequest>,
    ) -> ApiResult<Json<InvitationLink>> {
        let study = self::study_id(&study_id)?;
        let sent = service::invite(app_of(req), &auth.0, &study, &participant_id, &body.form_id)
            .await
            .map_err(fail)?;
        Ok(Json(InvitationLink {
            link: sent.link,
            emailed: sent.emailed,
        }))
    }

    /// Record a withdrawal; its effects are immediate.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/withdrawals",
        method = "post"
    )]
    async fn withdraw(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        participant_id: Path<String>,
        body: Json<WithdrawalRequest>,
    ) -> ApiResult<NoContent> {
        let study = self::study_id(&study_id)?;
        let scope = WithdrawalScope {
            no_contact: body.no_contact,
            no_collection: body.no_collection,
            remove_identifiable: body.remove_identifiable,
        };
        let w = Withdrawal {
            scope,
            reason: body.reason.as_deref(),
            erasure_refused_because: body.erasure_refused_because.as_deref(),
        };
        service::withdraw(app_of(req), &auth.0, &study, &participant_id, w)
            .await
            .map_err(fail)?;
        Ok(NoContent::Done)
    }

    /// The participant's consent as it stands: the latest record minus withdrawals.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/consent",
        method = "get"
    )]
    async fn current(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        participant_id: Path<String>,
    ) -> ApiResult<Json<CurrentConsent>> {
        let study = self::study_id(&study_id)?;
        let app = app_of(req);
        let p = crate::participants::service::get(app, &auth.0, &study, &participant_id)
            .await
            .map_err(fail)?;
        let e = service::effective(app, &p.id).await.map_err(fail)?;
        Ok(Json(match e {
            Some(e) => CurrentConsent {
                record_id: Some(e.record_id),
                agreed: e.agreed.into_iter().collect(),
                withdrawn: e.withdrawn,
            },
            None => CurrentConsent {
                record_id: None,
                agreed: Vec::new(),
                withdrawn: crate::consent::records::store::withdrawn(&app.db.pool, &p.id)
                    .await
                    .map_err(|e| fail(e.into()))?,
            },
        }))
    }

    /// The PDF copy of a consent record.
    #[oai(
        path = "/studies/:study_id/consent-records/:record_id/pdf",
        method = "get"
    )]
    async fn pdf(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        record_id: Path<String>,
    ) -> ApiResult<Attachment<Vec<u8>>> {
        let study = self::study_id(&study_id)?;
        let bytes = service::pdf(app_of(req), &auth.0, &study, &record_id)
            .await
            .map_err(fail)?;
        Ok(pdf_attachment(bytes, &record_id))
    }
}
