//! JSON API for the audit trail. Checkpoints (with their consistency proofs)
//! and the public key are public on purpose: anyone may keep copies, which is
//! what makes rewriting detectable.

use poem::Request;
use poem_openapi::payload::{Attachment, AttachmentType, Json};
use poem_openapi::{Object, OpenApi};

use super::model::{Checkpoint, VerifyReport};
use super::{service, store};
use crate::auth::model::Permission;
use crate::auth::policy::{require_chain_reader, require_instance};
use crate::error::AppError;
use crate::http::api::{ApiResult, BearerAuth, Tag};
use crate::http::viewer::app_of;

pub struct AuditApi;

#[derive(Object)]
struct PublicKey {
    /// Ed25519 public key, hex.
    public_key: String,
    key_id: String,
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

    /// Every signed checkpoint, oldest first, each with its consistency proof
    /// from the one before.
    #[oai(path = "/checkpoints", method = "get")]
    async fn checkpoints(&self, req: &Request) -> ApiResult<Json<Vec<Checkpoint>>> {
        Ok(Json(
            store::checkpoints_from(&app_of(req).db.pool, 0).await?,
        ))
    }

    /// Sign a checkpoint of the chain as it is now (administrators). Refused,
    /// with the reason, when the trail no longer extends the last checkpoint.
    #[oai(path = "/checkpoints", method = "post")]
    async fn sign(&self, req: &Request, auth: BearerAuth) -> ApiResult<Json<Checkpoint>> {
        require_instance(&auth.0, Permission::ViewInstanceAudit)?;
        let app = app_of(req);
        let cp = service::checkpoint_now(&app.db, &app.keys, &app.storage.audit_dir(), app.now())
            .await
            .map_err(|e| AppError::Conflict(format!("{e:#}")))?;
        Ok(Json(cp))
    }

    /// Verify the whole chain, from its first entry, against every checkpoint.
    #[oai(path = "/verify", method = "get")]
    async fn verify(&self, req: &Request, auth: BearerAuth) -> ApiResult<Json<VerifyReport>> {
        require_chain_reader(&auth.0)?;
        let app = app_of(req);
        let report = service::verify_database(
            &app.db,
            &app.keys.verifying_key(),
            &app.storage.audit_dir(),
            app.now(),
        )
        .await?;
        Ok(Json(report))
    }

    /// The whole chain and its checkpoints as JSON lines, for `fieldkit audit verify --log` (administrators).
    #[oai(path = "/log", method = "get")]
    async fn log(&self, req: &Request, auth: BearerAuth) -> ApiResult<Attachment<Vec<u8>>> {
        let actor = &auth.0;
        require_instance(actor, Permission::ViewInstanceAudit)?;
        let app = app_of(req);
        let mut out = Vec::new();
        let size = service::export_log(&app.db, &app.storage.audit_dir(), &mut out).await?;
        service::record_export(&app.db, actor, size, app.now()).await?;
        Ok(Attachment::new(out)
            .attachment_type(AttachmentType::Attachment)
            .filename("fieldkit-audit-log.jsonl"))
    }
}
