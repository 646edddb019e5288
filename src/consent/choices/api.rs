//! JSON API for re-consent (who is due, bulk invitations) and for a
//! participant's own part in a study (summary, choices, withdrawal, PDFs).

use std::collections::BTreeMap;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::{Attachment, Json};
use poem_openapi::{Object, OpenApi};

use super::service;
use crate::consent::records::api::{answers, study_id};
use crate::consent::records::model::WithdrawalScope;
use crate::http::api::{fail, ApiResult, BearerAuth, Created, NoContent, Tag};
use crate::http::viewer::app_of;

pub struct ChoicesApi;

/// A participant due for re-consent.
#[derive(Object)]
struct DueView {
    participant_id: String,
    study_code: String,
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
    participant_ids: Option<Vec<String>>,
    /// Invite everyone due instead.
    #[oai(default)]
    all: bool,
}

#[derive(Object)]
struct InvitedView {
    participant_id: String,
    study_code: String,
    /// A one-time link, valid for 14 days, to hand over or send.
    link: String,
    /// Whether the link was emailed to them.
    emailed: bool,
}

/// One of the participant's own consent records.
#[derive(Object)]
struct OwnRecordView {
    id: String,
    form_id: String,
    form_version: i32,
    method: String,
    created_at: i64,
    supersedes_id: Option<String>,
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
    study_code: String,
    study_title: String,
    records: Vec<OwnRecordView>,
    /// The uses agreed in the latest record.
    agreed: Vec<String>,
    withdrawn: WithdrawalScope,
    /// The form version on which choices can be changed, if any (none after a
    /// withdrawal from data collection, or when a newer version awaits re-consent).
    choices_form_version_id: Option<String>,
    choices: Vec<ChoiceView>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct ChoicesRequest {
    /// Optional clause key to "yes", "no" or "" (counts as no). Mandatory
    /// clauses may be left out; they stay agreed.
    answers: BTreeMap<String, String>,
    /// Your full name, typed, as your signature. Kept encrypted.
    signature: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct OwnWithdrawalRequest {
    /// No further contact.
    #[oai(default)]
    no_contact: bool,
    /// No further data collection.
    #[oai(default)]
    no_collection: bool,
    /// Remove identifiable data not yet analysed.
    #[oai(default)]
    remove_identifiable: bool,
    /// Your reason, if you want to give one (kept encrypted).
    reason: Option<String>,
}

#[OpenApi(tag = "Tag::Consent")]
impl ChoicesApi {
    /// Participants at your sites whose latest consent is on an older version of a form.
    #[oai(path = "/studies/:study_id/reconsent-due", method = "get")]
    async fn due(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
    ) -> ApiResult<Json<Vec<DueView>>> {
        let study = self::study_id(&study_id)?;
        let due = service::reconsent_due(app_of(req), &auth.0, &study)
            .await
            .map_err(fail)?;
        Ok(Json(
            due.into_iter()
                .map(|d| DueView {
                    participant_id: d.participant.id,
                    study_code: d.participant.study_code,
                    form_id: d.form_id,
                    form_title: d.form_title,
                    agreed_version: d.agreed_version,
                    current_version: d.current_version,
                })
                .collect(),
        ))
    }

    /// Invite those due (the chosen ones, or all) to re-consent online; returns the links made.
    #[oai(path = "/studies/:study_id/reconsent-invitations", method = "post")]
    async fn invite(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        body: Json<ReconsentRequest>,
    ) -> ApiResult<Json<Vec<InvitedView>>> {
        let study = self::study_id(&study_id)?;
        let chosen = match (&body.participant_ids, body.all) {
            (_, true) => None,
            (Some(ids), false) => Some(ids.as_slice()),
            (None, false) => Some(&[][..]),
        };
        let invited = service::invite_due(app_of(req), &auth.0, &study, chosen)
            .await
            .map_err(fail)?;
        Ok(Json(
            invited
                .into_iter()
                .map(|i| InvitedView {
                    participant_id: i.participant_id,
                    study_code: i.study_code,
                    link: i.link,
                    emailed: i.emailed,
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
        study_id: Path<String>,
    ) -> ApiResult<Json<OwnView>> {
        let study = self::study_id(&study_id)?;
        let own = service::own(app_of(req), &auth.0, &study)
            .await
            .map_err(fail)?;
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
                        agreed: own.agreed.contains(c.governs.as_str()),
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
            agreed: own.agreed.into_iter().collect(),
            withdrawn: own.withdrawn,
            choices_form_version_id: own.choices_form.map(|f| f.id),
            choices,
        }))
    }

    /// Change your optional choices: a new consent record that supersedes the last one.
    #[oai(path = "/my/studies/:study_id/choices", method = "post")]
    async fn change_choices(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        body: Json<ChoicesRequest>,
    ) -> ApiResult<Json<Created>> {
        let study = self::study_id(&study_id)?;
        let answers = answers(&body.answers)?;
        let id = crate::consent::records::service::change_choices(
            app_of(req),
            &auth.0,
            &study,
            &answers,
            &body.signature,
        )
        .await
        .map_err(fail)?;
        Ok(Json(Created { id }))
    }

    /// Withdraw from the study, in whole or in part; the effects are immediate.
    #[oai(path = "/my/studies/:study_id/withdrawals", method = "post")]
    async fn withdraw(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        body: Json<OwnWithdrawalRequest>,
    ) -> ApiResult<NoContent> {
        let study = self::study_id(&study_id)?;
        let scope = WithdrawalScope {
            no_contact: body.no_contact,
            no_collection: body.no_collection,
            remove_identifiable: body.remove_identifiable,
        };
        crate::consent::records::service::withdraw_own(
            app_of(req),
            &auth.0,
            &study,
            scope,
            body.reason.as_deref(),
        )
        .await
        .map_err(fail)?;
        Ok(NoContent::Done)
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
        study_id: Path<String>,
        record_id: Path<String>,
    ) -> ApiResult<Attachment<Vec<u8>>> {
        let study = self::study_id(&study_id)?;
        let bytes = service::own_pdf(app_of(req), &auth.0, &study, &record_id)
            .await
            .map_err(fail)?;
        Ok(crate::consent::records::api::pdf_attachment(
            bytes, &record_id,
        ))
    }
}
