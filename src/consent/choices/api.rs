//! JSON API for re-consent (who is due, bulk invitations) and for a
//! participant's own part in a study (summary, choices, withdrawal, PDFs).

use std::collections::BTreeMap;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::service;
use crate::consent::kernel::model::{WithdrawalBasis, WithdrawalScope};
use crate::consent::kernel::Withdrawn;
use crate::consent::records::api::{answers, AnswerInput, PdfFile};
use crate::db::list::{Limit, PageRequest};
use crate::http::api::{ApiResult, BearerAuth, Created, Paged, Tag, Text};
use crate::http::viewer::app_of;
use crate::ids::{ConsentRecordId, FormVersionId, ParticipantId, StudyCode, StudyId, WithdrawalId};

pub struct ChoicesApi;

/// A participant due for re-consent.
#[derive(Object)]
struct DueView {
    participant_id: ParticipantId,
    study_code: StudyCode,
    form_id: String,
    form_title: String,
    /// The version their latest record is on.
    agreed_version: i32,
    /// The current published version.
    current_version: i32,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct ReconsentRequest {
    /// Invite these participants (each must be due).
    #[oai(nullable)]
    participant_ids: Option<Vec<ParticipantId>>,
    /// Invite everyone due instead.
    #[oai(nullable, default)]
    all: bool,
}

#[derive(Object)]
struct InvitedView {
    participant_id: ParticipantId,
    study_code: StudyCode,
    /// A one-time link, valid for 14 days, to hand over or send; null when
    /// none was made (see `refused`).
    #[oai(nullable)]
    link: Option<String>,
    /// Whether the link was emailed to them.
    emailed: bool,
    /// Why no link was made: they withdrew after the list was read.
    #[oai(nullable)]
    refused: Option<String>,
}

/// One of the participant's own consent records.
#[derive(Object)]
struct OwnRecordView {
    id: ConsentRecordId,
    form_id: String,
    form_version: i32,
    method: String,
    created_at: i64,
    #[oai(nullable)]
    supersedes_id: Option<ConsentRecordId>,
}

/// A clause of the form on which choices can be changed, with the current answer.
#[derive(Object)]
struct ChoiceView {
    key: String,
    text: String,
    /// Mandatory clauses stay agreed; to drop one, withdraw.
    mandatory: bool,
    governs: String,
    agreed: bool,
}

#[derive(Object)]
struct OwnView {
    study_code: StudyCode,
    study_title: String,
    records: Vec<OwnRecordView>,
    /// The uses in force now: those agreed in the current record, minus what
    /// withdrawals stopped.
    agreed: Vec<String>,
    withdrawn: WithdrawalScope,
    /// The form version on which choices can be changed, if any (none after a
    /// withdrawal from data collection, or when a newer version awaits re-consent).
    #[oai(nullable)]
    choices_form_version_id: Option<FormVersionId>,
    choices: Vec<ChoiceView>,
    /// Your withdrawals, oldest first, each with its PDF record.
    withdrawals: Vec<OwnWithdrawalView>,
}

/// One of your withdrawals.
#[derive(Object)]
struct OwnWithdrawalView {
    id: WithdrawalId,
    withdrawn: WithdrawalScope,
    /// request, objection or consultee_advice.
    basis: WithdrawalBasis,
    recorded_at: i64,
    /// You recorded it yourself (otherwise the research team did).
    by_you: bool,
    /// A confirmation was emailed; absent for withdrawals from before this was kept.
    #[oai(nullable)]
    confirmation_emailed: Option<bool>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct ChoicesRequest {
    /// Optional clause key to answer ("" counts as no). Mandatory clauses may
    /// be left out; they stay agreed.
    answers: BTreeMap<String, AnswerInput>,
    /// Your full name, typed, as your signature. Kept encrypted.
    #[oai(validator(max_length = 200))]
    signature: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct OwnWithdrawalRequest {
    /// No further contact.
    #[oai(nullable, default)]
    no_contact: bool,
    /// No further data collection.
    #[oai(nullable, default)]
    no_collection: bool,
    /// Remove identifiable data not yet analysed.
    #[oai(nullable, default)]
    remove_identifiable: bool,
    /// Your reason, if you want to give one (kept encrypted).
    #[oai(nullable, validator(max_length = 5000))]
    reason: Option<Text>,
    /// Email me a confirmation. After "no further contact" none is sent
    /// unless you ask; otherwise one is sent when we have your address.
    #[oai(nullable, default)]
    email_confirmation: bool,
}

#[OpenApi(tag = "Tag::Consent")]
impl ChoicesApi {
    /// Participants at your sites whose latest consent is on an older version of a form.
    #[oai(path = "/studies/:study_id/reconsent-due", method = "get")]
    async fn due(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        /// Where the page starts: the `next` link gives it.
        after: Query<Option<ParticipantId>>,
        /// At most this many, 1 to 200 (default 50).
        limit: Query<Option<Limit>>,
    ) -> ApiResult<Json<Paged<DueView>>> {
        let page = PageRequest::new(after.0, limit.0);
        let due = service::reconsent_due(app_of(req), &auth.0, &study_id, &page).await?;
        Ok(Json(Paged::of(req, due, |d| DueView {
            participant_id: d.participant.id,
            study_code: d.participant.study_code,
            form_id: d.form_id,
            form_title: d.form_title,
            agreed_version: d.agreed_version,
            current_version: d.current_version,
        })))
    }

    /// Invite those due (the chosen ones, or all) to re-consent online; returns the links made.
    #[oai(path = "/studies/:study_id/reconsent-invitations", method = "post")]
    async fn invite(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        body: Json<ReconsentRequest>,
    ) -> ApiResult<Json<Vec<InvitedView>>> {
        let chosen = match (&body.participant_ids, body.all) {
            (_, true) => None,
            (Some(ids), false) => Some(ids.as_slice()),
            (None, false) => Some(&[][..]),
        };
        let invited = service::invite_due(app_of(req), &auth.0, &study_id, chosen).await?;
        Ok(Json(
            invited
                .into_iter()
                .map(|i| {
                    let (link, emailed, refused) = match i.outcome {
                        Ok(sent) => (Some(sent.link), sent.emailed, None),
                        Err(why) => (None, false, Some(why)),
                    };
                    InvitedView {
                        participant_id: i.participant_id,
                        study_code: i.study_code,
                        link,
                        emailed,
                        refused,
                    }
                })
                .collect(),
        ))
    }

    /// Your own part in a study: your consent records, what you agreed to, your choices.
    #[oai(path = "/my/studies/:study_id", method = "get")]
    async fn own(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
    ) -> ApiResult<Json<OwnView>> {
        let own = service::own(app_of(req), &auth.0, &study_id).await?;
        let agreed: Vec<String> = own
            .effective
            .as_ref()
            .map(|e| e.agreed().iter().cloned().collect())
            .unwrap_or_default();
        let choices = own
            .choices_form
            .as_ref()
            .map(|f| {
                f.form
                    .clauses
                    .iter()
                    .map(|c| ChoiceView {
                        key: c.key.clone(),
                        text: c.text.clone(),
                        mandatory: c.mandatory,
                        governs: c.governs.as_str().to_owned(),
                        agreed: agreed.iter().any(|a| a == c.governs.as_str()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Json(OwnView {
            study_code: own.participant.study_code,
            study_title: own.study_title,
            records: own
                .records
                .into_iter()
                .map(|r| OwnRecordView {
                    id: r.id,
                    form_id: r.form_id,
                    form_version: r.form_version,
                    method: r.method,
                    created_at: r.created_at,
                    supersedes_id: r.supersedes_id,
                })
                .collect(),
            agreed,
            withdrawn: own.withdrawn,
            choices_form_version_id: own.choices_form.map(|f| f.id),
            choices,
            withdrawals: own
                .withdrawals
                .into_iter()
                .map(|w| OwnWithdrawalView {
                    id: w.id,
                    withdrawn: w.scope,
                    basis: w.basis,
                    recorded_at: w.recorded_at,
                    by_you: w.by_participant,
                    confirmation_emailed: w.confirmation_emailed,
                })
                .collect(),
        }))
    }

    /// Change your optional choices: a new consent record that supersedes the last one.
    #[oai(path = "/my/studies/:study_id/choices", method = "post")]
    async fn change_choices(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        body: Json<ChoicesRequest>,
    ) -> ApiResult<Json<Created<ConsentRecordId>>> {
        let id = service::change_choices(
            app_of(req),
            &auth.0,
            &study_id,
            &answers(&body.answers),
            &body.signature,
        )
        .await?;
        Ok(Json(Created { id }))
    }

    /// Withdraw from the study, in whole or in part; the effects are
    /// immediate. Answers with the withdrawal's id (for its PDF record) and
    /// whether a confirmation was emailed.
    #[oai(path = "/my/studies/:study_id/withdrawals", method = "post")]
    async fn withdraw(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        body: Json<OwnWithdrawalRequest>,
    ) -> ApiResult<Json<Withdrawn>> {
        let scope = WithdrawalScope {
            no_contact: body.no_contact,
            no_collection: body.no_collection,
            remove_identifiable: body.remove_identifiable,
        };
        let done = service::withdraw_own(
            app_of(req),
            &auth.0,
            &study_id,
            scope,
            body.reason.as_deref(),
            body.email_confirmation,
        )
        .await?;
        Ok(Json(done))
    }

    /// The PDF copy of one of your consent records.
    #[oai(
        path = "/my/studies/:study_id/consent-records/:record_id/pdf",
        method = "get"
    )]
    async fn pdf(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        record_id: Path<ConsentRecordId>,
    ) -> ApiResult<PdfFile> {
        let copy = service::own_pdf(app_of(req), &auth.0, &study_id, &record_id).await?;
        Ok(PdfFile::of(copy.pdf, &copy.file_name))
    }

    /// Your record of one of your withdrawals, as a PDF to keep.
    #[oai(
        path = "/my/studies/:study_id/withdrawals/:withdrawal_id/pdf",
        method = "get"
    )]
    async fn withdrawal_pdf(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        withdrawal_id: Path<WithdrawalId>,
    ) -> ApiResult<PdfFile> {
        let bytes =
            service::own_withdrawal_pdf(app_of(req), &auth.0, &study_id, &withdrawal_id).await?;
        Ok(PdfFile::of(
            bytes,
            &format!("withdrawal-{}.pdf", *withdrawal_id),
        ))
    }
}
