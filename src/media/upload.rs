//! Reading a multipart/form-data upload without holding it: text fields
//! first (each at most `FIELD_LIMIT`), then one file field streamed on to
//! the media store. poem's own `Multipart` sets no limits, so multer is
//! driven directly, with a per-field limit and one for the whole stream.
//!
//! The order is the contract: text fields, then the file, last. So the
//! CSRF token (on pages) and everything the decision to store rests on
//! (the kind, the people present) are known before any file byte is read.

use futures_util::StreamExt;
use poem::{Body, Request};

use super::service::Chunks;
use crate::error::{AppError, Result};

/// A text field's largest size.
pub const FIELD_LIMIT: u64 = 64 * 1024;
const MAX_FIELDS: usize = 200;
/// Room for the text fields and the multipart framing around the file.
const FRAMING: u64 = 1024 * 1024;

/// The text fields of an upload, and its file (not yet read).
pub struct Upload {
    fields: Vec<(String, String)>,
    file: Option<FileField>,
}

pub struct FileField {
    pub name: Option<String>,
    field: multer::Field<'static>,
    /// The limit `Upload::read` set for it.
    limit: u64,
}

fn refused(e: multer::Error, limit: u64) -> AppError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            AppError::TooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            }
        }
        // The body arrived as multipart/form-data but its parts do not read
        // (a header multer refuses, a part cut short): the content's fault.
        other => AppError::invalid("file", format!("The upload could not be read: {other}.")),
    }
}

impl Upload {
    /// Reads the text fields of a multipart body up to its file field, which
    /// must be named `file` and come last. `limit` bounds the file. A page's
    /// upload passes its CSRF token: the first field must then be
    /// `csrf_token` holding it, checked before anything else is read.
    pub async fn read(req: &Request, body: Body, limit: u64, csrf: Option<&str>) -> Result<Upload> {
        let boundary = req
            .content_type()
            .and_then(|ct| multer::parse_boundary(ct).ok())
            .ok_or_else(|| {
                AppError::BadRequest("Send the upload as multipart/form-data.".into())
            })?;
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(limit.saturating_add(FRAMING))
                .per_field(FIELD_LIMIT)
                .for_field("file", limit),
        );
        let mut multipart =
            multer::Multipart::with_constraints(body.into_bytes_stream(), boundary, constraints);
        let mut fields = Vec::new();
        loop {
            let Some(field) = multipart
                .next_field()
                .await
                .map_err(|e| refused(e, limit))?
            else {
                if csrf.is_some() && fields.is_empty() {
                    return Err(AppError::Csrf);
                }
                return Ok(Upload { fields, file: None });
            };
            let name = field.name().unwrap_or_default().to_owned();
            if let Some(expected) = csrf.filter(|_| fields.is_empty()) {
                // The token comes first, so a forged upload is refused
                // before a byte of anything else is read.
                if name != "csrf_token" {
                    return Err(AppError::Csrf);
                }
                let sent = field.text().await.map_err(|e| refused(e, FIELD_LIMIT))?;
                if !crate::http::viewer::constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
                    return Err(AppError::Csrf);
                }
                fields.push((name, sent));
                continue;
            }
            if name == "file" {
                let file_name = field.file_name().map(str::to_owned);
                // The field shares the stream's state with `multipart`, so it
                // reads on after `multipart` is dropped; fields after the file
                // are never read.
                return Ok(Upload {
                    fields,
                    file: Some(FileField {
                        name: file_name,
                        field,
                        limit,
                    }),
                });
            }
            if fields.len() >= MAX_FIELDS {
                return Err(AppError::BadRequest(
                    "The upload has too many fields.".into(),
                ));
            }
            let value = field.text().await.map_err(|e| refused(e, FIELD_LIMIT))?;
            if value.contains('\0') {
                return Err(AppError::invalid(&name, crate::http::api::NUL_REFUSED));
            }
            fields.push((name, value));
        }
    }

    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The file, to stream; an error naming `field` when there is none.
    pub fn take_file(&mut self) -> Result<FileField> {
        self.file
            .take()
            .ok_or_else(|| AppError::invalid("file", "Choose a file to upload."))
    }
}

impl FileField {
    /// The file's bytes as they arrive; a stream past its limit ends in 413.
    pub fn chunks(self) -> Chunks<'static> {
        let limit = self.limit;
        Box::pin(self.field.map(move |c| c.map_err(|e| refused(e, limit))))
    }

    /// The whole file, for the small ones the server reads itself (a
    /// transcript, a consent scan); past its limit, 413.
    pub async fn bytes(self) -> Result<bytes::Bytes> {
        let limit = self.limit;
        self.field.bytes().await.map_err(|e| refused(e, limit))
    }
}

/// The form of one upload operation, as the API documents it: its text
/// fields (name, description, required, repeated) and, last, `file`.
pub trait UploadForm: Send + Sync + 'static {
    const FIELDS: &'static [(&'static str, &'static str, bool, bool)];
}

/// A multipart/form-data request body, handed over unread so `Upload::read`
/// can stream it with limits.
pub struct MultipartBody<F: UploadForm>(pub Body, std::marker::PhantomData<F>);

impl<F: UploadForm> poem_openapi::payload::Payload for MultipartBody<F> {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        content_type.starts_with("multipart/form-data")
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
        let text = |description: &'static str, repeated: bool| {
            let one = MetaSchema {
                description: Some(description),
                max_length: Some(FIELD_LIMIT as usize),
                pattern: Some("^[^\\x00]*$".into()),
                ..MetaSchema::new("string")
            };
            MetaSchemaRef::Inline(Box::new(if repeated {
                MetaSchema {
                    items: Some(Box::new(MetaSchemaRef::Inline(Box::new(one)))),
                    ..MetaSchema::new("array")
                }
            } else {
                one
            }))
        };
        let mut properties: Vec<(&'static str, MetaSchemaRef)> = F::FIELDS
            .iter()
            .map(|(name, description, _, repeated)| (*name, text(description, *repeated)))
            .collect();
        properties.push((
            "file",
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                description: Some("The file, sent last."),
                ..MetaSchema::new_with_format("string", "binary")
            })),
        ));
        let mut required: Vec<&'static str> =
            F::FIELDS.iter().filter(|f| f.2).map(|f| f.0).collect();
        required.push("file");
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            properties,
            required,
            ..MetaSchema::new("object")
        }))
    }
}

impl<F: UploadForm> poem_openapi::payload::ParsePayload for MultipartBody<F> {
    const IS_REQUIRED: bool = true;

    async fn from_request(_req: &Request, body: &mut poem::RequestBody) -> poem::Result<Self> {
        Ok(MultipartBody(body.take()?, std::marker::PhantomData))
    }
}

use poem_openapi::payload::Payload as _;
poem_openapi::impl_apirequest_for_payload!(MultipartBody<F>, F: UploadForm);
