//! JSON API for taking consent, inviting to online consent, withdrawing, and
//! reading the current consent and the PDF copies.

use std::collections::BTreeMap;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::service::{self, Taken};
use crate::consent::kernel::model::{ConsentMethod, Submitted, WithdrawalBasis, WithdrawalScope};
use crate::consent::kernel::{Withdrawal, Withdrawn};
use crate::error::AppError;
use crate::http::api::{ApiResult, BearerAuth, Created, Tag, Text};
use crate::http::viewer::app_of;
use crate::ids::{ConsentRecordId, FormVersionId, ParticipantId, StudyId};

pub struct ConsentApi;

/// An answer to a clause: "yes", "no", or "" (left blank; counts as no).
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
pub enum AnswerInput {
    #[oai(rename = "yes")]
    Yes,
    #[oai(rename = "no")]
    No,
    #[oai(rename = "")]
    Blank,
}

impl From<AnswerInput> for Submitted {
    fn from(a: AnswerInput) -> Submitted {
        match a {
            AnswerInput::Yes => Submitted::Yes,
            AnswerInput::No => Submitted::No,
            AnswerInput::Blank => Submitted::Blank,
        }
    }
}

/// Answers by clause key.
pub fn answers(raw: &BTreeMap<String, AnswerInput>) -> BTreeMap<String, Submitted> {
    raw.iter().map(|(k, v)| (k.clone(), (*v).into())).collect()
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct TakenRequest {
    form_version_id: FormVersionId,
    /// The language the form was read in (one of the version's `languages`);
    /// the form's own language when absent.
    #[oai(nullable, validator(max_length = 35))]
    language: Option<Text>,
    method: ConsentMethod,
    /// Clause key to answer.
    answers: BTreeMap<String, AnswerInput>,
    /// The participant's typed name (in person). Kept encrypted.
    #[oai(nullable, validator(max_length = 200))]
    signature: Option<Text>,
    /// Where the recording of verbal consent is kept.
    #[oai(nullable, validator(max_length = 500))]
    verbal_record: Option<Text>,
    /// The scanned paper form, base64.
    #[oai(nullable)]
    scan_base64: Option<Text>,
    /// Email the participant a copy of the form, with the PDF attached, if
    /// they have an email address (only when they want one).
    #[oai(nullable, default)]
    send_copy: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct InvitationRequest {
    #[oai(validator(max_length = 63))]
    form_id: Text,
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
    #[oai(nullable, default)]
    no_contact: bool,
    /// No further data collection.
    #[oai(nullable, default)]
    no_collection: bool,
    /// Remove identifiable data not yet analysed.
    #[oai(nullable, default)]
    remove_identifiable: bool,
    /// The participant's reason, if they gave one (kept encrypted).
    #[oai(nullable, validator(max_length = 5000))]
    reason: Option<Text>,
    /// If removal of identifiable data was asked for but cannot be done: why.
    #[oai(nullable, validator(max_length = 5000))]
    erasure_refused_because: Option<Text>,
    /// The participant asked for a confirmation by email. After "no further
    /// contact" none is sent unless they did; for other scopes it is sent
    /// whenever there is an address.
    #[oai(nullable, default)]
    email_confirmation: bool,
}

/// A published version of a consent form.
#[derive(Object)]
struct FormVersionView {
    id: FormVersionId,
    form_id: String,
    version: i32,
    title: String,
    /// The form's own language.
    language: String,
    /// Every language the version can be read in: its own first, then its
    /// translations' (same clauses, their own wording).
    languages: Vec<String>,
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
    /// The record the consent rests on; null before any consent.
    #[oai(nullable)]
    record_id: Option<ConsentRecordId>,
    /// The uses in force now: those agreed in the current record, minus what
    /// withdrawals stopped (after withdrawing from further collection,
    /// taking part is no longer among them).
    agreed: Vec<String>,
    withdrawn: WithdrawalScope,
}

/// A PDF copy, served as one.
#[derive(ApiResponse)]
pub enum PdfFile {
    /// The consent record's PDF copy.
    #[oai(status = 200, content_type = "application/pdf")]
    Pdf(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Disposition")] String,
    ),
}

impl PdfFile {
    /// A PDF as a download named `file_name` (letters, digits, hyphens and dots).
    pub fn of(bytes: Vec<u8>, file_name: &str) -> PdfFile {
        PdfFile::Pdf(
            Binary(bytes),
            format!("attachment; filename=\"{file_name}\""),
        )
    }
}

fn scan(raw: Option<&Text>) -> Result<Option<bytes::Bytes>, AppError> {
    use base64::Engine;
    raw.map(|b64| {
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map(bytes::Bytes::from)
            .map_err(|_| AppError::invalid("scan_base64", "The scan is not valid base64."))
    })
    .transpose()
}

#[OpenApi(tag = "Tag::Consent")]
impl ConsentApi {
    /// Every published version of the study's consent forms.
    #[oai(path = "/studies/:study_id/consent-forms", method = "get")]
    async fn forms(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
    ) -> ApiResult<Json<Vec<FormVersionView>>> {
        let versions = service::published_forms(app_of(req), &auth.0, &study_id).await?;
        Ok(Json(
            versions
                .into_iter()
                .map(|(v, languages)| FormVersionView {
                    id: v.id,
                    form_id: v.form.form_id,
                    version: v.form.version,
                    title: v.form.title,
                    language: v.form.language,
                    languages,
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
        study_id: Path<StudyId>,
        participant_id: Path<ParticipantId>,
        body: Json<TakenRequest>,
    ) -> ApiResult<Json<Created<ConsentRecordId>>> {
        let app = app_of(req);
        service::participant_for_consent(app, &auth.0, &study_id, &participant_id).await?;
        let taken = Taken {
            form_version_id: &body.form_version_id,
            language: body.language.as_deref(),
            method: body.method,
            answers: answers(&body.answers),
            signature: body.signature.as_deref(),
            verbal_record: body.verbal_record.as_deref(),
            scan: scan(body.scan_base64.as_ref())?,
            send_copy: body.send_copy,
        };
        let id = service::take(app, &auth.0, &study_id, &participant_id, taken).await?;
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
        study_id: Path<StudyId>,
        participant_id: Path<ParticipantId>,
        body: Json<InvitationRequest>,
    ) -> ApiResult<Json<InvitationLink>> {
        let sent = service::invite(
            app_of(req),
            &auth.0,
            &study_id,
            &participant_id,
            &body.form_id,
        )
        .await?;
        Ok(Json(InvitationLink {
            link: sent.link,
            emailed: sent.emailed,
        }))
    }

    /// Record a withdrawal; its effects are immediate. Answers with its id and
    /// whether a confirmation was emailed.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/withdrawals",
        method = "post"
    )]
    async fn withdraw(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        participant_id: Path<ParticipantId>,
        body: Json<WithdrawalRequest>,
    ) -> ApiResult<Json<Withdrawn>> {
        let w = Withdrawal {
            scope: WithdrawalScope {
                no_contact: body.no_contact,
                no_collection: body.no_collection,
                remove_identifiable: body.remove_identifiable,
            },
            reason: body.reason.as_deref(),
            erasure_refused_because: body.erasure_refused_because.as_deref(),
            basis: WithdrawalBasis::Request,
            email_asked: body.email_confirmation,
        };
        let done = service::withdraw(app_of(req), &auth.0, &study_id, &participant_id, w).await?;
        Ok(Json(done))
    }

    /// The participant's consent as it stands: the uses of their current
    /// record minus what their withdrawals stopped.
    #[oai(
        path = "/studies/:study_id/participants/:participant_id/consent",
        method = "get"
    )]
    async fn current(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        participant_id: Path<ParticipantId>,
    ) -> ApiResult<Json<CurrentConsent>> {
        let (effective, withdrawn) =
            service::current(app_of(req), &auth.0, &study_id, &participant_id).await?;
        Ok(Json(CurrentConsent {
            record_id: effective.as_ref().map(|e| e.record_id().clone()),
            agreed: effective
                .map(|e| e.agreed().iter().cloned().collect())
                .unwrap_or_default(),
            withdrawn,
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
        study_id: Path<StudyId>,
        record_id: Path<ConsentRecordId>,
    ) -> ApiResult<PdfFile> {
        let copy = service::pdf(app_of(req), &auth.0, &study_id, &record_id).await?;
        Ok(PdfFile::of(copy.pdf, &copy.file_name))
    }
}
