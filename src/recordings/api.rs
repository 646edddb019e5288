//! JSON API for fieldwork recordings: encounters, media items (uploaded as
//! multipart/form-data, streamed, or recorded as references to the team's
//! own storage), playback with Range requests, publication, transcripts,
//! redaction, quotes, and a reviewer's counts.

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::{
    MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::model::{
    Encounter, EncounterKind, MediaItem, Publication, Quote, Redaction, SpeakerRole, Transcript,
    TranscriptStatus,
};
use super::redact::Category;
use super::service::{
    self, EncounterInput, MarkInput, MediaInput, QuoteInput, Source, SpeakerMapping,
};
use super::store::Checks;
use crate::db::list::{Limit, PageRequest};
use crate::error::AppError;
use crate::http::api::{ApiResult, BearerAuth, Created, Paged, Tag, Text};
use crate::http::viewer::app_of;
use crate::ids::{
    AccountId, EncounterId, MediaItemId, QuoteId, RedactionId, SiteId, StudyId, TranscriptId,
};
use crate::media::kind::MediaKind;
use crate::media::service::{self as media, External};
use crate::media::upload::{MultipartBody, Upload, UploadForm};

pub struct RecordingsApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct EncounterRequest {
    kind: EncounterKind,
    /// When it took place, ms since the Unix epoch (UTC).
    occurred_at: i64,
    site_id: SiteId,
    /// Where exactly, when not at the site itself (no names of people).
    #[oai(validator(max_length = 200))]
    location: Option<Text>,
    #[oai(validator(max_length = 200))]
    prompt_set: Option<Text>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1440")))]
    duration_minutes: Option<i32>,
    #[oai(validator(max_length = 10000))]
    notes: Option<Text>,
    #[oai(default, validator(max_items = 20))]
    interviewers: Vec<AccountId>,
    /// The participants present, by study code.
    #[oai(validator(max_items = 50))]
    participants: Vec<Text>,
}

#[derive(Object)]
struct EncounterDetail {
    encounter: Encounter,
    media: Vec<MediaItem>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct ReferenceRequest {
    #[oai(validator(max_length = 200))]
    title: Text,
    kind: MediaKind,
    /// The path or URI of the file on the team's own storage.
    #[oai(validator(max_length = 2000))]
    reference: Text,
    #[oai(validator(minimum(value = "0")))]
    size_bytes: i64,
    /// The file's SHA-256, when known: 64 hexadecimal digits.
    #[oai(validator(max_length = 64))]
    sha256: Option<Text>,
    /// The identifiable people in it by study code; everyone present when empty.
    #[oai(default, validator(max_items = 50))]
    people: Vec<Text>,
    /// Uses beyond film_public that public release needs (e.g. film_teaching).
    #[oai(default, validator(max_items = 10))]
    public_uses: Vec<Text>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct PublicationRequest {
    to: Publication,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct SpeakerRequest {
    speaker: i32,
    role: SpeakerRole,
    #[oai(validator(max_length = 40))]
    study_code: Option<Text>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct SpeakersRequest {
    #[oai(validator(max_items = 100))]
    speakers: Vec<SpeakerRequest>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct RedactionRequest {
    position: i32,
    /// Characters (Unicode scalar values) into the turn's raw text.
    start: i32,
    end: i32,
    /// person, place, organisation or other.
    #[oai(validator(max_length = 20))]
    category: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct DecisionRequest {
    accept: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct StatusRequest {
    status: TranscriptStatus,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct QuoteRequest {
    position: i32,
    /// Characters into the turn's redacted text.
    start: i32,
    end: i32,
    #[oai(validator(max_length = 200))]
    theme: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
struct TermRequest {
    #[oai(validator(max_length = 200))]
    term: Text,
}

/// The fields of a media upload.
pub struct MediaForm;

impl UploadForm for MediaForm {
    const FIELDS: &'static [(&'static str, &'static str, bool, bool)] = &[
        (
            "title",
            "A title without names, e.g. \"Vox pop 3, market square\".",
            true,
            false,
        ),
        ("kind", "audio, video, photo or document.", true, false),
        (
            "people",
            "The identifiable people in it, by study code; everyone present when none.",
            false,
            true,
        ),
        (
            "public_uses",
            "Uses beyond film_public that public release needs, e.g. film_teaching.",
            false,
            true,
        ),
    ];
}

/// The fields of a transcript import.
pub struct TranscriptForm;

impl UploadForm for TranscriptForm {
    const FIELDS: &'static [(&'static str, &'static str, bool, bool)] = &[];
}

/// The largest transcript file read: the parser's own limit.
const TRANSCRIPT_LIMIT: u64 = super::transcript::MAX_BYTES as u64;

/// A media item's content: whole, or the byte range asked for.
pub struct MediaContent(poem::Response);

impl poem::IntoResponse for MediaContent {
    fn into_response(self) -> poem::Response {
        self.0
    }
}

impl ApiResponse for MediaContent {
    fn meta() -> MetaResponses {
        let binary = || {
            vec![MetaMediaType {
                content_type: "application/octet-stream",
                schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format(
                    "string", "binary",
                ))),
            }]
        };
        MetaResponses {
            responses: vec![
                MetaResponse {
                    description: "The whole file, decrypted; audio and video inline, everything else as an attachment.",
                    status: Some(200),
                    status_range: None,
                    content: binary(),
                    headers: vec![],
                },
                MetaResponse {
                    description: "The byte range asked for (Range: bytes=start-end).",
                    status: Some(206),
                    status_range: None,
                    content: binary(),
                    headers: vec![],
                },
                MetaResponse {
                    description: "The range lies past the end of the file.",
                    status: Some(416),
                    status_range: None,
                    content: vec![],
                    headers: vec![],
                },
            ],
        }
    }

    fn register(_registry: &mut Registry) {}
}

fn texts(v: &[Text]) -> Vec<String> {
    v.iter().map(|t| t.to_string()).collect()
}

/// Reads an upload's fields, checks the item and consent, then streams the
/// file into the media store and adds it. Shared with the pages.
pub async fn upload_media(
    req: &Request,
    actor: &crate::auth::model::Actor,
    study: &StudyId,
    encounter: &EncounterId,
    mut upload: Upload,
) -> ApiResult<MediaItem> {
    let app = app_of(req);
    let input = MediaInput {
        title: upload.get("title"),
        kind: MediaKind::parse(upload.get("kind").trim()),
        people: upload
            .all("people")
            .into_iter()
            .flat_map(service::split_list)
            .collect(),
        public_uses: upload
            .all("public_uses")
            .into_iter()
            .flat_map(service::split_list)
            .collect(),
    };
    let prepared = service::prepare_media(app, actor, study, encounter, input).await?;
    let file = upload.take_file()?;
    let name = file.name.clone();
    let limit = app.server.max_upload_bytes;
    let staged = media::receive(app, prepared.kind(), file.chunks(), limit, "file").await?;
    service::add_media(
        app,
        actor,
        study,
        prepared,
        Source::Upload {
            staged,
            original_name: name.as_deref(),
        },
    )
    .await
}

/// Reads a transcript upload whole (it is at most `TRANSCRIPT_LIMIT`)
/// and imports it. Shared with the pages.
pub async fn upload_transcript(
    req: &Request,
    actor: &crate::auth::model::Actor,
    study: &StudyId,
    item: &MediaItemId,
    mut upload: Upload,
) -> ApiResult<TranscriptId> {
    // Access first: nothing of the file is read for someone who may not import it.
    service::media_item(app_of(req), actor, study, item).await?;
    let file = upload.take_file()?;
    let name = file.name.clone();
    let bytes = file.bytes().await?;
    service::import_transcript(app_of(req), actor, study, item, name.as_deref(), bytes).await
}

#[OpenApi(tag = "Tag::Fieldwork")]
impl RecordingsApi {
    /// Log an encounter: a vox pop, interview, focus group or film shoot.
    /// Everyone present must hold the take-part consent.
    #[oai(path = "/studies/:study_id/encounters", method = "post")]
    async fn create_encounter(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        body: Json<EncounterRequest>,
    ) -> ApiResult<Json<Encounter>> {
        let b = body.0;
        let input = EncounterInput {
            kind: b.kind,
            occurred_at: b.occurred_at,
            site_id: b.site_id,
            location: b.location.map(|t| t.to_string()),
            prompt_set: b.prompt_set.map(|t| t.to_string()),
            duration_minutes: b.duration_minutes,
            notes: b.notes.map(|t| t.to_string()),
            interviewers: b.interviewers,
            participants: texts(&b.participants),
        };
        Ok(Json(
            service::create_encounter(app_of(req), &auth.0, &study_id, input).await?,
        ))
    }

    /// The study's encounters at your sites, newest first.
    #[oai(path = "/studies/:study_id/encounters", method = "get")]
    async fn encounters(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        after: Query<Option<EncounterId>>,
        limit: Query<Option<Limit>>,
    ) -> ApiResult<Json<Paged<Encounter>>> {
        let page = PageRequest::new(after.0, limit.0);
        let found = service::encounters(app_of(req), &auth.0, &study_id, &page).await?;
        Ok(Json(Paged::of(req, found, |e| e)))
    }

    /// One encounter with its media.
    #[oai(path = "/studies/:study_id/encounters/:encounter_id", method = "get")]
    async fn encounter(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        encounter_id: Path<EncounterId>,
    ) -> ApiResult<Json<EncounterDetail>> {
        let (encounter, media) =
            service::encounter(app_of(req), &auth.0, &study_id, &encounter_id).await?;
        Ok(Json(EncounterDetail { encounter, media }))
    }

    /// Upload a recording, photo or document of an encounter, as
    /// multipart/form-data with the file last. Everyone in it must hold the
    /// use its kind needs (audio_recording, video_recording, photos);
    /// otherwise it is refused before the file is read, and nothing is kept.
    /// The bytes must be of the declared kind; a photo's location data is
    /// removed. Up to the server's upload limit (4 GiB by default).
    #[oai(
        path = "/studies/:study_id/encounters/:encounter_id/media",
        method = "post"
    )]
    async fn upload(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        encounter_id: Path<EncounterId>,
        body: MultipartBody<MediaForm>,
    ) -> ApiResult<Json<MediaItem>> {
        let upload = Upload::read(req, body.0, app_of(req).server.max_upload_bytes, None).await?;
        Ok(Json(
            upload_media(req, &auth.0, &study_id, &encounter_id, upload).await?,
        ))
    }

    /// Record a film too big to upload, by reference to the team's own
    /// storage; the same consent checks as an upload.
    #[oai(
        path = "/studies/:study_id/encounters/:encounter_id/media-references",
        method = "post"
    )]
    async fn reference(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        encounter_id: Path<EncounterId>,
        body: Json<ReferenceRequest>,
    ) -> ApiResult<Json<MediaItem>> {
        let b = body.0;
        let app = app_of(req);
        let input = MediaInput {
            title: &b.title,
            kind: Some(b.kind),
            people: texts(&b.people),
            public_uses: texts(&b.public_uses),
        };
        let prepared =
            service::prepare_media(app, &auth.0, &study_id, &encounter_id, input).await?;
        let external = External {
            reference: &b.reference,
            kind: b.kind,
            size_bytes: u64::try_from(b.size_bytes).unwrap_or(0),
            sha256: b.sha256.as_deref(),
        };
        Ok(Json(
            service::add_media(
                app,
                &auth.0,
                &study_id,
                prepared,
                Source::External(external),
            )
            .await?,
        ))
    }

    /// One media item.
    #[oai(path = "/studies/:study_id/media/:item_id", method = "get")]
    async fn item(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        item_id: Path<MediaItemId>,
    ) -> ApiResult<Json<MediaItem>> {
        Ok(Json(
            service::media_item(app_of(req), &auth.0, &study_id, &item_id)
                .await?
                .0,
        ))
    }

    /// A media item's file, decrypted as it is sent; answers Range requests
    /// (one range) with 206. Every read is audited.
    #[oai(path = "/studies/:study_id/media/:item_id/content", method = "get")]
    async fn content(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        item_id: Path<MediaItemId>,
    ) -> ApiResult<MediaContent> {
        Ok(MediaContent(play(req, &auth.0, &study_id, &item_id).await?))
    }

    /// Move a film or photo towards public use: draft, participant_review,
    /// approved, published, taken_down. Approval and publication need
    /// film_public (and the item's other public uses) from everyone in it.
    #[oai(
        path = "/studies/:study_id/media/:item_id/publication",
        method = "post"
    )]
    async fn publication(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        item_id: Path<MediaItemId>,
        body: Json<PublicationRequest>,
    ) -> ApiResult<Json<MediaItem>> {
        Ok(Json(
            service::move_publication(app_of(req), &auth.0, &study_id, &item_id, body.0.to).await?,
        ))
    }

    /// Import a recording's transcript (WebVTT from Teams or Zoom, SRT,
    /// plain text with `Name:` turns, or .docx), as multipart/form-data.
    /// A file that does not parse is refused with its line and the reason.
    #[oai(path = "/studies/:study_id/media/:item_id/transcript", method = "post")]
    async fn import_transcript(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        item_id: Path<MediaItemId>,
        body: MultipartBody<TranscriptForm>,
    ) -> ApiResult<Json<Transcript>> {
        let upload = Upload::read(req, body.0, TRANSCRIPT_LIMIT, None).await?;
        let id = upload_transcript(req, &auth.0, &study_id, &item_id, upload).await?;
        Ok(Json(
            service::transcript_view(app_of(req), &auth.0, &study_id, &id, true).await?,
        ))
    }

    /// A transcript: raw words for those who record fieldwork (audited),
    /// redacted words for analysts once it is redacted.
    #[oai(path = "/studies/:study_id/transcripts/:transcript_id", method = "get")]
    async fn transcript(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        transcript_id: Path<TranscriptId>,
    ) -> ApiResult<Json<Transcript>> {
        Ok(Json(
            service::transcript_view(app_of(req), &auth.0, &study_id, &transcript_id, true).await?,
        ))
    }

    /// Map speakers to study codes or to the interviewer.
    #[oai(
        path = "/studies/:study_id/transcripts/:transcript_id/speakers",
        method = "post"
    )]
    async fn speakers(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        transcript_id: Path<TranscriptId>,
        body: Json<SpeakersRequest>,
    ) -> ApiResult<Json<Transcript>> {
        let mappings = body
            .0
            .speakers
            .into_iter()
            .map(|s| SpeakerMapping {
                speaker: s.speaker,
                role: s.role,
                study_code: s.study_code.map(|c| c.to_string()),
            })
            .collect();
        service::map_speakers(app_of(req), &auth.0, &study_id, &transcript_id, mappings).await?;
        Ok(Json(
            service::transcript_view(app_of(req), &auth.0, &study_id, &transcript_id, true).await?,
        ))
    }

    /// The transcript's redactions: suggested at import, accepted or rejected.
    #[oai(
        path = "/studies/:study_id/transcripts/:transcript_id/redactions",
        method = "get"
    )]
    async fn redactions(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        transcript_id: Path<TranscriptId>,
    ) -> ApiResult<Json<Vec<Redaction>>> {
        Ok(Json(
            service::redactions(app_of(req), &auth.0, &study_id, &transcript_id).await?,
        ))
    }

    /// Mark a span for redaction.
    #[oai(
        path = "/studies/:study_id/transcripts/:transcript_id/redactions",
        method = "post"
    )]
    async fn add_redaction(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        transcript_id: Path<TranscriptId>,
        body: Json<RedactionRequest>,
    ) -> ApiResult<Json<Vec<Redaction>>> {
        let b = body.0;
        let category = Category::parse(&b.category).ok_or_else(|| {
            AppError::invalid("category", "Choose person, place, organisation or other.")
        })?;
        let mark = MarkInput {
            position: b.position,
            start: b.start,
            end: b.end,
            category,
        };
        Ok(Json(
            service::change_redactions(
                app_of(req),
                &auth.0,
                &study_id,
                &transcript_id,
                Some(mark),
                None,
            )
            .await?,
        ))
    }

    /// Accept or reject a suggested redaction.
    #[oai(
        path = "/studies/:study_id/transcripts/:transcript_id/redactions/:redaction_id",
        method = "post"
    )]
    async fn decide_redaction(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        transcript_id: Path<TranscriptId>,
        redaction_id: Path<RedactionId>,
        body: Json<DecisionRequest>,
    ) -> ApiResult<Json<Vec<Redaction>>> {
        let decision = Some((redaction_id.0, body.0.accept));
        Ok(Json(
            service::change_redactions(
                app_of(req),
                &auth.0,
                &study_id,
                &transcript_id,
                None,
                decision,
            )
            .await?,
        ))
    }

    /// Set a transcript's status: raw, checked or redacted (which applies
    /// every accepted redaction; refused while a suggestion waits).
    #[oai(
        path = "/studies/:study_id/transcripts/:transcript_id/status",
        method = "post"
    )]
    async fn status(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        transcript_id: Path<TranscriptId>,
        body: Json<StatusRequest>,
    ) -> ApiResult<Json<Transcript>> {
        service::set_status(
            app_of(req),
            &auth.0,
            &study_id,
            &transcript_id,
            body.0.status,
        )
        .await?;
        Ok(Json(
            service::transcript_view(app_of(req), &auth.0, &study_id, &transcript_id, true).await?,
        ))
    }

    /// Mark a quote in a redacted transcript; its speaker must hold the quotes consent.
    #[oai(
        path = "/studies/:study_id/transcripts/:transcript_id/quotes",
        method = "post"
    )]
    async fn add_quote(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        transcript_id: Path<TranscriptId>,
        body: Json<QuoteRequest>,
    ) -> ApiResult<Json<Quote>> {
        let b = body.0;
        Ok(Json(
            service::add_quote(
                app_of(req),
                &auth.0,
                &study_id,
                &transcript_id,
                QuoteInput {
                    position: b.position,
                    start: b.start,
                    end: b.end,
                    theme: &b.theme,
                },
            )
            .await?,
        ))
    }

    /// The study's quotes, each usable or blocked (and why) by its speaker's consent now.
    #[oai(path = "/studies/:study_id/quotes", method = "get")]
    async fn quotes(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        after: Query<Option<QuoteId>>,
        limit: Query<Option<Limit>>,
    ) -> ApiResult<Json<Paged<Quote>>> {
        let page = PageRequest::new(after.0, limit.0);
        let found = service::quotes(app_of(req), &auth.0, &study_id, &page).await?;
        Ok(Json(Paged::of(req, found, |q| q)))
    }

    /// Add a word or phrase the study always redacts (kept sealed).
    #[oai(path = "/studies/:study_id/redaction-terms", method = "post")]
    async fn add_term(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
        body: Json<TermRequest>,
    ) -> ApiResult<Json<Created<String>>> {
        let id = service::add_deny_term(app_of(req), &auth.0, &study_id, &body.0.term).await?;
        Ok(Json(Created { id }))
    }

    /// What fieldwork recorded and that it passed its consent checks:
    /// counts only, never content (for ethics reviewers).
    #[oai(path = "/studies/:study_id/fieldwork-checks", method = "get")]
    async fn checks(
        &self,
        req: &Request,
        auth: BearerAuth,
        study_id: Path<StudyId>,
    ) -> ApiResult<Json<Checks>> {
        Ok(Json(
            service::checks(app_of(req), &auth.0, &study_id).await?,
        ))
    }
}

/// Sends an item's file (or the range asked for), audited. Shared with the pages.
pub async fn play(
    req: &Request,
    actor: &crate::auth::model::Actor,
    study: &StudyId,
    item: &MediaItemId,
) -> ApiResult<poem::Response> {
    let range = req
        .headers()
        .get(poem::http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(100).collect());
    let (opened, name) = service::read_media(app_of(req), actor, study, item, range).await?;
    Ok(crate::media::download::respond(req, opened, &name))
}
