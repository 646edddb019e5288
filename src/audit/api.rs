//! JSON API for the audit trail. Checkpoints and the public key are public on
//! purpose: anyone may keep copies, which is what makes rewriting detectable.

use poem::Request;
use poem_openapi::payload::{Attachment, AttachmentType, Json};
use poem_openapi::{Object, OpenApi};

use super::model::{Checkpoint, VerifyReport};
use super::{service, store};
use crate::auth::model::{Actor, Permission};
use crate::auth::policy::{permits, Scope};
use crate::error::AppError;
use crate::http::api::{fail, ApiResult, BearerAuth, Tag};
use crate::http::viewer::app_of;

pub struct AuditApi;

#[derive(Object)]
struct PublicKey {
    /// Ed25519 public key, hex.
    public_key: String,
    key_id: String,
}

/// Reviewers of any study and administrators may check the whole chain: the
/// answer says only whether it holds and where it breaks.
fn may_verify(actor: &Actor) -> bool {
    permits(actor, Permission::ViewInstanceAudit, Scope::Instance)
        || actor
            .memberships
            .iter()
            .any(|m| permits(actor, Permission::ViewStudyAudit, Scope::Study(&m.study_id)))
}

fn forbidden() -> poem::Error {
    fail(AppError::Forbidden(
        "You do not have permission to do this.".into(),
    ))
}

#[OpenApi(prefix_path = "/audit", tag = "Tag::Audit")]
impl AuditApi {
    /// The public key that signs checkpoints.
    #[oai(path = "/public-key", method = "get")]
    async fn public_key(&self, req: &Request) -> Json<PublicKey> {
        let key = app_of(req).keys.verifying_key();
        Json(PublicKey {
            public_key: hex::encode(key.as_bytes()),
            key_id: crate::keys::key_id(&key),
        })
    }

    /// Every signed checkpoint, oldest first.
    #[oai(path = "/checkpoints", method = "get")]
    async fn checkpoints(&self, req: &Request) -> ApiResult<Json<Vec<Checkpoint>>> {
        Ok(Json(
            store::checkpoints(&app_of(req).db.pool)
                .await
                .map_err(|e| fail(e.into()))?,
        ))
    }

    /// Sign a checkpoint of the chain as it is now (administrators).
    #[oai(path = "/checkpoints", method = "post")]
    async fn sign(&self, req: &Request, auth: BearerAuth) -> ApiResult<Json<Checkpoint>> {
        if !permits(&auth.0, Permission::ViewInstanceAudit, Scope::Instance) {
            return Err(forbidden());
        }
        let app = app_of(req);
        let cp = service::checkpoint_now(&app.db, &app.keys, &app.storage.audit_dir(), app.now())
            .await
            .map_err(|e| fail(AppError::Conflict(e.to_string())))?;
        Ok(Json(cp))
    }

    /// Verify the whole chain against every checkpoint.
    #[oai(path = "/verify", method = "get")]
    async fn verify(&self, req: &Request, auth: BearerAuth) -> ApiResult<Json<VerifyReport>> {
        if !may_verify(&auth.0) {
            return Err(forbidden());
        }
        let app = app_of(req);
        let report =
            service::verify_database(&app.db, &app.keys.verifying_key(), &app.storage.audit_dir())
                .await
                .map_err(|e| fail(AppError::internal(e)))?;
        Ok(Json(report))
    }

    /// The whole chain and its checkpoints as JSON lines, for `fieldkit audit verify --log` (administrators).
    #[oai(path = "/log", method = "get")]
    async fn log(&self, req: &Request, auth: BearerAuth) -> ApiResult<Attachment<Vec<u8>>> {
        let actor = &auth.0;
        if !permits(actor, Permission::ViewInstanceAudit, Scope::Instance) {
            return Err(forbidden());
        }
        let app = app_of(req);
        let mut out = Vec::new();
        let size = service::export_log(&app.db, &app.storage.audit_dir(), &mut out)
            .await
            .map_err(|e| fail(AppError::internal(e)))?;
        service::record_export(app, actor, size)
            .await
            .map_err(fail)?;
        Ok(Attachment::new(out)
            .attachment_type(AttachmentType::Attachment)
            .filename("fieldkit-audit-log.jsonl"))
    }
}
