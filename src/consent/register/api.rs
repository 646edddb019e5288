//! JSON and CSV API for the consent register (reviewers and researchers).

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::model::{bad_request, CapacityRow, Filter, FilterInput, RegisterRow, WithdrawalRow};
use super::service;
use crate::auth::model::Permission;
use crate::error::AppError;
use crate::http::api::{fail, ApiResult, BearerAuth, Tag};
use crate::http::viewer::app_of;
use crate::ids::StudyId;

pub struct RegisterApi;

/// A study's consent register, filtered.
#[derive(Object)]
struct RegisterView {
    /// Every clause key of the study's forms.
    clause_keys: Vec<String>,
    /// One row per consent record, oldest first.
    records: Vec<RegisterRow>,
    /// Every withdrawal, oldest first (not filtered).
    withdrawals: Vec<WithdrawalRow>,
    /// Capacity assessments, consultees' advice and objections (not filtered).
    capacity: Vec<CapacityRow>,
}

#[derive(ApiResponse)]
enum CsvFile {
    /// The register as CSV (RFC 4180): a header row, one line per record.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(
        PlainText<String>,
        #[oai(header = "Content-Disposition")] String,
    ),
}

fn study_id(raw: &str) -> poem::Result<StudyId> {
    StudyId::parse(raw).ok_or_else(|| fail(AppError::NotFound))
}

/// The filters from the query; a bad one is a 400 naming it.
fn filter(
    status: Query<Option<String>>,
    form_id: Query<Option<String>>,
    method: Query<Option<String>>,
    from: Query<Option<String>>,
    to: Query<Option<String>>,
) -> poem::Result<Filter> {
    let input = FilterInput {
        status: status.0,
        form_id: form_id.0,
        method: method.0,
        from: from.0,
        to: to.0,
    };
    input.parse().map_err(|e| fail(bad_request(e)))
}

#[OpenApi(tag = "Tag::Consent")]
impl RegisterApi {
    /// The consent register: every record with its answers and status, and
    /// every withdrawal. Study codes only. Filters: status, form_id, method,
    /// from and to (YYYY-MM-DD, UTC, both included).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/studies/:study_id/consent-register", method = "get")]
    async fn register(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        status: Query<Option<String>>,
        form_id: Query<Option<String>>,
        method: Query<Option<String>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
    ) -> ApiResult<Json<RegisterView>> {
        let study = self::study_id(&study_id)?;
        // Access first: someone outside the study learns nothing from a bad filter.
        crate::studies::service::require(&auth.0, Permission::ViewConsentRegister, &study)
            .map_err(fail)?;
        let filter = filter(status, form_id, method, from, to)?;
        let r = service::register(app_of(req), &auth.0, &study, &filter)
            .await
            .map_err(fail)?;
        Ok(Json(RegisterView {
            clause_keys: r.clause_keys,
            records: r.rows,
            withdrawals: r.withdrawals,
            capacity: r.capacity,
        }))
    }

    /// The consent register as CSV, with the same filters. Every download is audited.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/studies/:study_id/consent-register.csv", method = "get")]
    async fn register_csv(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<String>,
        status: Query<Option<String>>,
        form_id: Query<Option<String>>,
        method: Query<Option<String>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
    ) -> ApiResult<CsvFile> {
        let study = self::study_id(&study_id)?;
        // Access first: someone outside the study learns nothing from a bad filter.
        crate::studies::service::require(&auth.0, Permission::ViewConsentRegister, &study)
            .map_err(fail)?;
        let filter = filter(status, form_id, method, from, to)?;
        let text = service::export_csv(app_of(req), &auth.0, &study, &filter)
            .await
            .map_err(fail)?;
        Ok(CsvFile::Csv(PlainText(text), disposition(&study)))
    }
}

/// `attachment; filename="consent-register-<study id>.csv"`.
pub fn disposition(study: &StudyId) -> String {
    format!("attachment; filename=\"consent-register-{study}.csv\"")
}
