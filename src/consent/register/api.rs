//! JSON and CSV API for the consent register (reviewers and researchers).

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::model::{CapacityRow, FilterInput, RegisterRow, RegisterStatus, WithdrawalRow};
use super::service;
use crate::consent::kernel::model::ConsentMethod;
use crate::db::list::{Limit, PageRequest};
use crate::http::api::{next_link, ApiResult, BearerAuth, Date, Paged, Tag};
use crate::http::viewer::app_of;
use crate::ids::{ConsentRecordId, StudyId, WithdrawalId};

pub struct RegisterApi;

/// A page of a study's consent register, filtered.
#[derive(Object)]
struct RegisterView {
    /// Every clause key of the study's forms.
    clause_keys: Vec<String>,
    /// One row per consent record, oldest first.
    records: Vec<RegisterRow>,
    /// The next page, with the same filters; null on the last page.
    #[oai(nullable)]
    next: Option<String>,
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

/// The filters from the query, as the page gives them too.
fn filter(
    status: Option<RegisterStatus>,
    form_id: Option<String>,
    method: Option<ConsentMethod>,
    from: Option<Date>,
    to: Option<Date>,
) -> FilterInput {
    FilterInput {
        status: status.map(|s| s.as_str().to_owned()),
        form_id,
        method: method.map(|m| m.as_str().to_owned()),
        from: from.map(|d| d.0.to_string()),
        to: to.map(|d| d.0.to_string()),
    }
}

#[OpenApi(tag = "Tag::Consent")]
impl RegisterApi {
    /// A page of the consent register: each record with its answers and
    /// status. Study codes only. Filters: status, form_id, method, from and
    /// to (YYYY-MM-DD, UTC, both included).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/studies/:study_id/consent-register", method = "get")]
    async fn register(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        status: Query<Option<RegisterStatus>>,
        #[oai(validator(pattern = r"^[a-z0-9-]{1,63}$"))] form_id: Query<Option<String>>,
        method: Query<Option<ConsentMethod>>,
        from: Query<Option<Date>>,
        to: Query<Option<Date>>,
        /// Where the page starts: the `next` link gives it.
        after: Query<Option<ConsentRecordId>>,
        /// At most this many, 1 to 200 (default 50).
        limit: Query<Option<Limit>>,
    ) -> ApiResult<Json<RegisterView>> {
        let page = PageRequest::new(after.0, limit.0);
        let input = filter(*status, form_id.0, *method, from.0, to.0);
        let filter = service::filter(&auth.0, &study_id, &input)?;
        let r = service::register(app_of(req), &auth.0, &study_id, &filter, &page).await?;
        Ok(Json(RegisterView {
            clause_keys: r.clause_keys,
            next: r
                .rows
                .next
                .map(|k| next_link(req.original_uri(), k.as_str())),
            records: r.rows.items,
        }))
    }

    /// A page of the study's withdrawals, oldest first: what was withdrawn,
    /// when, and what happened to identifiable data (never the reasons).
    #[oai(
        path = "/studies/:study_id/consent-register/withdrawals",
        method = "get"
    )]
    async fn withdrawals(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        /// Where the page starts: the `next` link gives it.
        after: Query<Option<WithdrawalId>>,
        /// At most this many, 1 to 200 (default 50).
        limit: Query<Option<Limit>>,
    ) -> ApiResult<Json<Paged<WithdrawalRow>>> {
        let page = PageRequest::new(after.0, limit.0);
        let found = service::withdrawals(app_of(req), &auth.0, &study_id, &page).await?;
        Ok(Json(Paged::of(req, found, |w| w)))
    }

    /// A page of the study's capacity assessments, consultees' advice and
    /// objections, in the order recorded: never a name, note or description.
    #[oai(path = "/studies/:study_id/consent-register/capacity", method = "get")]
    async fn capacity(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        /// Where the page starts: the `next` link gives it.
        after: Query<Option<uuid::Uuid>>,
        /// At most this many, 1 to 200 (default 50).
        limit: Query<Option<Limit>>,
    ) -> ApiResult<Json<Paged<CapacityRow>>> {
        let after = after.map(|u| u.hyphenated().to_string());
        let page = PageRequest::new(after, limit.0);
        let found = service::capacity(app_of(req), &auth.0, &study_id, &page).await?;
        Ok(Json(Paged::of(req, found, |c| c)))
    }

    /// The consent register as CSV, with the same filters. Every download is audited.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/studies/:study_id/consent-register.csv", method = "get")]
    async fn register_csv(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        status: Query<Option<RegisterStatus>>,
        #[oai(validator(pattern = r"^[a-z0-9-]{1,63}$"))] form_id: Query<Option<String>>,
        method: Query<Option<ConsentMethod>>,
        from: Query<Option<Date>>,
        to: Query<Option<Date>>,
    ) -> ApiResult<CsvFile> {
        let input = filter(*status, form_id.0, *method, from.0, to.0);
        let filter = service::filter(&auth.0, &study_id, &input)?;
        let text = service::export_csv(app_of(req), &auth.0, &study_id, &filter).await?;
        Ok(CsvFile::Csv(PlainText(text), disposition(&study_id)))
    }
}

/// `attachment; filename="consent-register-<study id>.csv"`.
pub fn disposition(study: &StudyId) -> String {
    format!("attachment; filename=\"consent-register-{study}.csv\"")
}
