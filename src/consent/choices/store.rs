//! SQL for the re-consent list: who is due, found and paged in SQL.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::db::list::{ListQuery, Order, Page, PageRequest, SiteScope};
use crate::ids::{ParticipantId, StudyId};
use crate::participants::model::Participant;

/// A participant whose current record is on an older version of a form.
pub struct Due {
    pub participant: Participant,
    pub form_id: String,
    pub form_title: String,
    pub agreed_version: i32,
    pub current_version: i32,
}

fn due_row(r: &AnyRow) -> sqlx::Result<Due> {
    Ok(Due {
        participant: crate::participants::store::participant(r)?,
        form_id: r.try_get(10)?,
        form_title: r.try_get(11)?,
        agreed_version: r.try_get(12)?,
        current_version: r.try_get(13)?,
    })
}

/// A page of a study's participants at the given sites (and among `ids`,
/// when given) whose current record is on a version older than the form's
/// newest, and who have not withdrawn from contact or from the study.
pub async fn due(
    pool: &AnyPool,
    study: &StudyId,
    sites: &SiteScope,
    ids: Option<&[ParticipantId]>,
    page: &PageRequest<ParticipantId>,
) -> sqlx::Result<Page<Due, ParticipantId>> {
    let mut q = ListQuery::new(
        "SELECT id, study_id, study_code, site_id, stakeholder_group, status, account_id, capacity_flag,
                created_at, updated_at, form_id, title, version, current_version
         FROM (SELECT p.id, p.study_id, p.study_code, p.site_id, p.stakeholder_group, p.status, p.account_id,
                      p.capacity_flag, p.created_at, p.updated_at, f.form_id, f.title, f.version,
                      (SELECT MAX(v.version) FROM consent_form_versions v
                       WHERE v.study_id = f.study_id AND v.form_id = f.form_id) AS current_version
               FROM participants p
               JOIN consent_records r ON r.participant_id = p.id
               JOIN consent_form_versions f ON f.id = r.form_version_id
               WHERE p.study_id = ",
    );
    q.bind(study.as_str()).push(
        " AND p.status <> 'withdrawn'
          AND NOT EXISTS (SELECT 1 FROM consent_records n WHERE n.supersedes_id = r.id)
          AND NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.participant_id = p.id
                          AND (w.no_contact = 1 OR w.no_collection = 1))) d
         WHERE version < current_version",
    );
    q.sites("site_id", sites);
    if let Some(ids) = ids {
        q.any_of("id", ids.iter().map(ParticipantId::as_str));
    }
    q.page(pool, "id", Order::Ascending, page, due_row, |d| {
        d.participant.id.clone()
    })
    .await
}
