//! Pages for fieldwork: the study's encounters with a form to log one, an
//! encounter with its media and the upload forms, a recording's page (the
//! player with the transcript beside it, speakers, redaction, status,
//! quotes and publication), the quotes list, and a reviewer's counts.
//!
//! Uploads are multipart with the CSRF token as the first field, checked
//! before any file byte is read. Every page works without JavaScript; the
//! one small script (`/static/player.js`) only makes a turn's time seek the
//! player in place instead of opening the recording at that time.

use poem::web::{Path, Query};
use poem::{handler, Body, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{play, upload_media, upload_transcript};
use super::model::{
    EncounterKind, MediaItem, Publication, RedactionState, SpeakerRole, Transcript,
    TranscriptStatus,
};
use super::redact::Category;
use super::service::{
    self, split_list as codes, EncounterInput, MarkInput, MediaInput, QuoteInput, Source,
    SpeakerMapping,
};
use crate::auth::model::{Actor, Permission, Role};
use crate::auth::policy::{permits, Scope};
use crate::db::list::PageRequest;
use crate::error::{AppError, FieldProblem};
use crate::http::page::{see_other, Page};
use crate::http::viewer::{app_of, CsrfForm, Viewer};
use crate::ids::{AccountId, EncounterId, MediaItemId, RedactionId, SiteId, StudyId, TranscriptId};
use crate::media::kind::MediaKind;
use crate::media::service::External;
use crate::media::upload::Upload;

type PageResult = poem::Result<Response>;

/// What fieldwork pages read from their query strings.
#[derive(Deserialize, Default)]
pub struct FieldworkQuery {
    after: Option<String>,
    /// `raw` opens a redacted transcript's raw words (audited).
    words: Option<String>,
}

fn optional(s: &str) -> Option<String> {
    Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn options<T: Copy>(
    all: &[T],
    value: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
) -> Vec<Value> {
    all.iter()
        .map(|&k| json!({ "value": value(k), "label": label(k) }))
        .collect()
}

/// A service's field names, as the page's form names them.
fn for_form(err: AppError, names: &[(&str, &str)]) -> AppError {
    match err {
        AppError::Invalid(problems) => AppError::Invalid(
            problems
                .into_iter()
                .map(|p| FieldProblem {
                    field: names
                        .iter()
                        .find(|(from, _)| *from == p.field)
                        .map_or(p.field, |(_, to)| (*to).to_owned()),
                    detail: p.detail,
                })
                .collect(),
        ),
        other => other,
    }
}

/// An upload past its limit, said on the form rather than as an error page.
fn upload_problem(err: AppError) -> AppError {
    match err {
        AppError::TooLarge { limit } => AppError::invalid(
            "file",
            format!(
                "The file is larger than this server accepts ({} MB). Record it as a reference to the team's storage instead.",
                limit / 1_000_000
            ),
        ),
        other => other,
    }
}

/// A time in a recording as h:mm:ss or m:ss.
fn clock(ms: i64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn study_json(d: &crate::studies::model::Study) -> Value {
    json!({ "id": d.id, "title": d.title })
}

// The study's fieldwork.

fn blank_encounter() -> Value {
    json!({ "kind": "", "occurred_at": "", "site_id": "", "location": "", "prompt_set": "",
            "duration_minutes": "", "notes": "", "interviewers": [], "participants": "" })
}

async fn fieldwork_page(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    after: Option<&str>,
    values: Value,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let may_record = permits(actor, Permission::RecordFieldwork, Scope::Study(study));
    let may_check = permits(actor, Permission::ViewFieldworkChecks, Scope::Study(study));
    if !may_record && !may_check {
        crate::auth::policy::require_study(actor, Permission::RecordFieldwork, study)?;
    }
    let details = crate::studies::service::get_study(app, actor, study).await?;
    let mut encounters = Vec::new();
    let mut next = None;
    let mut sites = Vec::new();
    let mut staff = Vec::new();
    if may_record {
        let after = after
            .map(|a| {
                EncounterId::parse(a)
                    .ok_or_else(|| AppError::BadRequest("That is not a place in the list.".into()))
            })
            .transpose()?;
        let page = service::encounters(app, actor, study, &PageRequest::new(after, None)).await?;
        next = page.next.map(|n| n.to_string());
        encounters = page
            .items
            .iter()
            .map(|e| {
                json!({ "id": e.id, "kind": e.kind.label(), "occurred_at": e.occurred_at,
                        "location": e.location, "participants": e.participants, "media_count": e.media_count })
            })
            .collect();
        sites = crate::studies::service::sites(app, actor, study)
            .await?
            .into_iter()
            .filter(|s| {
                crate::auth::policy::require_site(actor, Permission::RecordFieldwork, study, &s.id)
                    .is_ok()
            })
            .map(|s| json!({ "value": s.id, "label": s.name }))
            .collect();
        if permits(actor, Permission::ViewMembers, Scope::Study(study)) {
            staff = crate::studies::service::members(app, actor, study)
                .await?
                .into_iter()
                .filter(|m| m.role != Role::Participant)
                .map(|m| json!({ "value": m.account_id, "label": m.display_name }))
                .collect();
        }
    }
    let checks = if may_check {
        Some(service::checks(app, actor, study).await?)
    } else {
        None
    };
    let kinds = options(
        &[
            EncounterKind::VoxPop,
            EncounterKind::Interview,
            EncounterKind::FocusGroup,
            EncounterKind::FilmShoot,
        ],
        EncounterKind::as_str,
        EncounterKind::label,
    );
    let ctx = json!({
        "study": study_json(&details),
        "may_record": may_record,
        "encounters": encounters,
        "next": next,
        "sites": sites,
        "staff": staff,
        "kinds": kinds,
        "checks": checks,
        "me": actor.account_id,
        "values": values,
    });
    let page = Page::new(
        "fieldwork.html",
        format!("Fieldwork: {}", details.title),
        ctx,
    )
    .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

#[handler]
pub async fn fieldwork_list(
    req: &Request,
    viewer: Viewer,
    Path(study): Path<StudyId>,
    Query(q): Query<FieldworkQuery>,
) -> PageResult {
    fieldwork_page(
        req,
        &viewer,
        &study,
        q.after.as_deref(),
        blank_encounter(),
        None,
    )
    .await
}

/// Reads the new-encounter form: every field's problem found in one pass.
fn encounter_input(form: &CsrfForm) -> Result<EncounterInput, AppError> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, detail: &str| {
        problems.push(FieldProblem {
            field: field.into(),
            detail: detail.into(),
        })
    };
    let kind = EncounterKind::parse(form.get("kind"));
    if kind.is_none() {
        problem("kind", "Choose what kind of encounter it was.");
    }
    let occurred_at = crate::clock::parse_local(form.get("occurred_at"));
    if occurred_at.is_none() {
        problem("occurred_at", "Give the date and time it took place.");
    }
    let site_id = SiteId::parse(form.get("site_id"));
    if site_id.is_none() {
        problem("site_id", "Choose the site.");
    }
    let duration_minutes = match optional(form.get("duration_minutes")) {
        None => None,
        Some(d) => match d.parse::<i32>() {
            Ok(d) => Some(d),
            Err(_) => {
                problem(
                    "duration_minutes",
                    "Give the duration in whole minutes, e.g. 12.",
                );
                None
            }
        },
    };
    let interviewers: Vec<AccountId> = form
        .all("interviewers")
        .into_iter()
        .filter_map(AccountId::parse)
        .collect();
    match (kind, occurred_at, site_id) {
        (Some(kind), Some(occurred_at), Some(site_id)) if problems.is_empty() => {
            Ok(EncounterInput {
                kind,
                occurred_at,
                site_id,
                location: optional(form.get("location")),
                prompt_set: optional(form.get("prompt_set")),
                duration_minutes,
                notes: optional(form.get("notes")),
                interviewers,
                participants: codes(form.get("participants")),
            })
        }
        _ => Err(AppError::Invalid(problems)),
    }
}

#[handler]
pub async fn log_encounter(
    req: &Request,
    form: CsrfForm,
    Path(study): Path<StudyId>,
) -> PageResult {
    let actor = form.viewer.require()?;
    crate::auth::policy::require_study(actor, Permission::RecordFieldwork, &study)?;
    let result = match encounter_input(&form) {
        Ok(input) => service::create_encounter(app_of(req), actor, &study, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(e) => Ok(see_other(
            &format!("/studies/{study}/encounters/{}", e.id),
            None,
        )),
        Err(e) => {
            let values = json!({
                "kind": form.get("kind"), "occurred_at": form.get("occurred_at"), "site_id": form.get("site_id"),
                "location": form.get("location"), "prompt_set": form.get("prompt_set"),
                "duration_minutes": form.get("duration_minutes"), "notes": form.get("notes"),
                "interviewers": form.all("interviewers"), "participants": form.get("participants"),
            });
            fieldwork_page(req, &form.viewer, &study, None, values, Some(e)).await
        }
    }
}

// An encounter.

fn blank_media() -> Value {
    json!({ "title": "", "kind": "", "people": "", "public_uses": "", "ref_title": "", "ref_kind": "",
            "ref_people": "", "reference": "", "size_bytes": "", "sha256": "" })
}

async fn encounter_page(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    id: &EncounterId,
    values: Value,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = crate::studies::service::get_study(app, actor, study).await?;
    let (e, media) = service::encounter(app, actor, study, id).await?;
    let media: Vec<Value> = media.iter().map(item_json).collect();
    let kinds = options(
        &[
            MediaKind::Audio,
            MediaKind::Video,
            MediaKind::Photo,
            MediaKind::Document,
        ],
        MediaKind::as_str,
        MediaKind::label,
    );
    let ctx = json!({
        "study": study_json(&details),
        "encounter": {
            "id": e.id, "kind": e.kind.label(), "occurred_at": e.occurred_at, "location": e.location,
            "prompt_set": e.prompt_set, "duration_minutes": e.duration_minutes, "notes": e.notes,
            "interviewers": e.interviewers, "participants": e.participants,
        },
        "media": media,
        "kinds": kinds,
        "limit_mb": app.server.max_upload_bytes / 1_000_000,
        "values": values,
    });
    let page = Page::new(
        "encounter.html",
        format!("{}: {}", e.kind.label(), details.title),
        ctx,
    )
    .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

fn item_json(m: &MediaItem) -> Value {
    json!({
        "id": m.id, "title": m.title, "kind": m.kind.label(), "media_type": m.media_type,
        "size_mb": format!("{:.1}", m.size_bytes as f64 / 1_000_000.0), "storage": m.storage,
        "publication": m.publication.label(), "people": m.people, "takedown_flagged": m.takedown_flagged,
        "has_transcript": m.transcript_id.is_some(), "created_at": m.created_at,
    })
}

#[handler]
pub async fn show_encounter(
    req: &Request,
    viewer: Viewer,
    Path((study, id)): Path<(StudyId, EncounterId)>,
) -> PageResult {
    encounter_page(req, &viewer, &study, &id, blank_media(), None).await
}

#[handler]
pub async fn upload_item(
    req: &Request,
    viewer: Viewer,
    Path((study, id)): Path<(StudyId, EncounterId)>,
    body: Body,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    // Access first: nothing of the body is read for someone who may not add to it.
    service::encounter(app, actor, &study, &id).await?;
    let upload = Upload::read(req, body, app.server.max_upload_bytes, Some(&viewer.csrf)).await?;
    let mut values = blank_media();
    for key in ["title", "kind", "people", "public_uses"] {
        values[key] = json!(upload.get(key));
    }
    let result = upload_media(req, actor, &study, &id, upload).await;
    match result {
        Ok(item) => Ok(see_other(
            &format!("/studies/{study}/media/{}", item.id),
            None,
        )),
        Err(e) => encounter_page(req, &viewer, &study, &id, values, Some(upload_problem(e))).await,
    }
}

#[handler]
pub async fn add_reference(
    req: &Request,
    form: CsrfForm,
    Path((study, id)): Path<(StudyId, EncounterId)>,
) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    let input = MediaInput {
        title: form.get("ref_title"),
        kind: MediaKind::parse(form.get("ref_kind")),
        people: codes(form.get("ref_people")),
        public_uses: Vec::new(),
    };
    let result = async {
        let prepared = service::prepare_media(app, actor, &study, &id, input).await?;
        let size_bytes = form.get("size_bytes").trim().parse::<u64>().map_err(|_| {
            AppError::invalid(
                "size_bytes",
                "Give the file's size in bytes, e.g. 2147483648.",
            )
        })?;
        let sha256 = optional(form.get("sha256"));
        let external = External {
            reference: form.get("reference"),
            kind: prepared.kind(),
            size_bytes,
            sha256: sha256.as_deref(),
        };
        service::add_media(app, actor, &study, prepared, Source::External(external)).await
    }
    .await;
    match result {
        Ok(item) => Ok(see_other(
            &format!("/studies/{study}/media/{}", item.id),
            None,
        )),
        Err(e) => {
            let mut values = blank_media();
            for key in [
                "ref_title",
                "ref_kind",
                "ref_people",
                "reference",
                "size_bytes",
                "sha256",
            ] {
                values[key] = json!(form.get(key));
            }
            let names = [
                ("title", "ref_title"),
                ("kind", "ref_kind"),
                ("people", "ref_people"),
            ];
            encounter_page(
                req,
                &form.viewer,
                &study,
                &id,
                values,
                Some(for_form(e, &names)),
            )
            .await
        }
    }
}

// A recording's page.

fn blank_work() -> Value {
    json!({ "mark_position": "", "mark_words": "", "mark_category": "", "quote_position": "",
            "quote_words": "", "quote_theme": "", "speakers": {} })
}

/// The turns as the page shows them, with their speakers' names on the page.
fn turns_json(t: &Transcript, labels: &[String], content: &str) -> Vec<Value> {
    t.turns
        .iter()
        .map(|turn| {
            let speaker = turn
                .speaker
                .and_then(|n| t.speakers.iter().find(|s| s.speaker == n));
            let who = match speaker {
                Some(s) => match (s.role, &s.study_code) {
                    (SpeakerRole::Participant, Some(code)) => code.to_string(),
                    (SpeakerRole::Interviewer, _) => "Interviewer".to_owned(),
                    _ => format!("Speaker {}", s.speaker + 1),
                },
                None => "Unattributed".to_owned(),
            };
            let label = turn
                .speaker
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| labels.get(n));
            json!({
                "position": turn.position,
                "number": turn.position + 1,
                "who": who,
                "label": label,
                "time": turn.start_ms.map(clock),
                "seconds": turn.start_ms.map(|ms| format!("{:.1}", ms as f64 / 1000.0)),
                "href": turn.start_ms.map(|ms| format!("{content}#t={:.1}", ms as f64 / 1000.0)),
                "text": turn.text,
            })
        })
        .collect()
}

async fn media_page(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    id: &MediaItemId,
    raw_wanted: bool,
    values: Value,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = crate::studies::service::get_study(app, actor, study).await?;
    let (item, encounter) = service::media_item(app, actor, study, id).await?;
    let content = format!("/studies/{study}/media/{id}/content");
    let transcript = match &item.transcript_id {
        Some(t) => Some(
            transcript_json(
                app,
                actor,
                study,
                t,
                &item,
                &encounter.participants,
                raw_wanted,
                &content,
            )
            .await?,
        ),
        None => None,
    };
    let moves: Vec<Value> = [
        Publication::Draft,
        Publication::ParticipantReview,
        Publication::Approved,
        Publication::Published,
        Publication::TakenDown,
    ]
    .into_iter()
    .filter(|p| item.publication.may_move_to(*p))
    .map(|p| json!({ "value": p.as_str(), "label": p.label() }))
    .collect();
    let ctx = json!({
        "study": study_json(&details),
        "encounter": { "id": encounter.id, "kind": encounter.kind.label(), "occurred_at": encounter.occurred_at },
        "item": item_json(&item),
        "public_uses": item.public_uses,
        "player": match item.kind {
            MediaKind::Audio if item.storage == "stored" => "audio",
            MediaKind::Video if item.storage == "stored" => "video",
            MediaKind::Photo if item.storage == "stored" => "photo",
            _ => "",
        },
        "content": content,
        "stored": item.storage == "stored",
        "publishable": matches!(item.kind, MediaKind::Video | MediaKind::Photo),
        "moves": moves,
        "may_transcribe": matches!(item.kind, MediaKind::Audio | MediaKind::Video) && item.transcript_id.is_none(),
        "transcript": transcript,
        "values": values,
    });
    let page = Page::new("media.html", item.title.clone(), ctx).problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

/// The transcript part of a recording's page: its turns (raw, or redacted
/// once it is unless the raw words were asked for), the speakers with the
/// choices to map them, the redactions and the forms that change them.
#[allow(clippy::too_many_arguments)]
async fn transcript_json(
    app: &crate::app::App,
    actor: &Actor,
    study: &StudyId,
    id: &TranscriptId,
    item: &MediaItem,
    present: &[crate::ids::StudyCode],
    raw_wanted: bool,
    content: &str,
) -> Result<Value, AppError> {
    let service::TranscriptWork {
        transcript: t,
        labels,
        redactions,
    } = service::transcript_work(app, actor, study, id, raw_wanted).await?;
    let raw = raw_wanted || t.status != TranscriptStatus::Redacted;
    // The words of each redaction, read from the raw turns when those are shown.
    let raw_words: std::collections::HashMap<i32, &str> = if raw {
        t.turns
            .iter()
            .map(|turn| (turn.position, turn.text.as_str()))
            .collect()
    } else {
        std::collections::HashMap::new()
    };
    let redactions: Vec<Value> = redactions
        .iter()
        .map(|r| {
            let words: Option<String> = raw_words.get(&r.position).map(|text| {
                text.chars()
                    .skip(usize::try_from(r.start).unwrap_or(0))
                    .take(usize::try_from(r.end - r.start).unwrap_or(0))
                    .collect()
            });
            json!({
                "id": r.id, "turn": r.position + 1, "words": words, "category": r.category,
                "state": r.state.label(), "waiting": r.state == RedactionState::Suggested,
                "because": r.suggested_because, "tag": r.tag,
            })
        })
        .collect();
    let mut choices = vec![
        json!({ "value": "unmapped", "label": "Not yet mapped" }),
        json!({ "value": "interviewer", "label": "Interviewer" }),
    ];
    choices.extend(present.iter().map(
        |c| json!({ "value": format!("participant:{c}"), "label": format!("Participant {c}") }),
    ));
    let speakers: Vec<Value> = t
        .speakers
        .iter()
        .map(|s| {
            let value = match (s.role, &s.study_code) {
                (SpeakerRole::Participant, Some(c)) => format!("participant:{c}"),
                (role, _) => role.as_str().to_owned(),
            };
            json!({
                "number": s.speaker, "name": format!("Speaker {}", s.speaker + 1),
                "label": usize::try_from(s.speaker).ok().and_then(|n| labels.get(n)),
                "value": value,
            })
        })
        .collect();
    let statuses = options(
        &[
            TranscriptStatus::Raw,
            TranscriptStatus::Checked,
            TranscriptStatus::Redacted,
        ],
        TranscriptStatus::as_str,
        TranscriptStatus::label,
    );
    let categories = options(Category::ALL, Category::as_str, Category::label);
    let turn_choices: Vec<Value> = t
        .turns
        .iter()
        .map(|turn| {
            let start: String = turn.text.chars().take(40).collect();
            json!({ "value": turn.position.to_string(), "label": format!("Turn {}: {start}…", turn.position + 1) })
        })
        .collect();
    Ok(json!({
        "id": t.id,
        "format": t.format,
        "status": t.status.as_str(),
        "status_label": t.status.label(),
        "redacted": t.status == TranscriptStatus::Redacted,
        "raw": raw,
        "turns": turns_json(&t, &labels, content),
        "speakers": speakers,
        "speaker_choices": choices,
        "redactions": redactions,
        "waiting": redactions.iter().filter(|r| r["waiting"] == true).count(),
        "statuses": statuses,
        "categories": categories,
        "turn_choices": turn_choices,
        "item_id": item.id,
    }))
}

#[handler]
pub async fn show_item(
    req: &Request,
    viewer: Viewer,
    Path((study, id)): Path<(StudyId, MediaItemId)>,
    Query(q): Query<FieldworkQuery>,
) -> PageResult {
    let raw = q.words.as_deref() == Some("raw");
    media_page(req, &viewer, &study, &id, raw, blank_work(), None).await
}

#[handler]
pub async fn play_item(
    req: &Request,
    viewer: Viewer,
    Path((study, id)): Path<(StudyId, MediaItemId)>,
) -> PageResult {
    Ok(play(req, viewer.require()?, &study, &id).await?)
}

#[handler]
pub async fn move_item(
    req: &Request,
    form: CsrfForm,
    Path((study, id)): Path<(StudyId, MediaItemId)>,
) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    let result = match Publication::parse(form.get("to")) {
        Some(to) => service::move_publication(app, actor, &study, &id, to)
            .await
            .map(|_| ()),
        None => Err(AppError::invalid("to", "Choose where the item goes next.")),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/studies/{study}/media/{id}"), None)),
        Err(e) => media_page(req, &form.viewer, &study, &id, false, blank_work(), Some(e)).await,
    }
}

#[handler]
pub async fn import_transcript(
    req: &Request,
    viewer: Viewer,
    Path((study, id)): Path<(StudyId, MediaItemId)>,
    body: Body,
) -> PageResult {
    let actor = viewer.require()?;
    service::media_item(app_of(req), actor, &study, &id).await?;
    let limit = super::transcript::MAX_BYTES as u64;
    let upload = Upload::read(req, body, limit, Some(&viewer.csrf)).await?;
    match upload_transcript(req, actor, &study, &id, upload).await {
        Ok(_) => Ok(see_other(&format!("/studies/{study}/media/{id}"), None)),
        Err(e) => {
            media_page(
                req,
                &viewer,
                &study,
                &id,
                false,
                blank_work(),
                Some(upload_problem(e)),
            )
            .await
        }
    }
}

/// A form that changes a transcript: access first (which also names its
/// recording), then the change; back to the recording's page, or the page
/// again with the problems under the form's own field names.
async fn change_transcript(
    req: &Request,
    form: &CsrfForm,
    study: &StudyId,
    id: &TranscriptId,
    names: &[(&str, &str)],
    change: impl AsyncFnOnce(&crate::app::App, &Actor) -> Result<(), AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    let item = &service::transcript_item(app, actor, study, id).await?;
    match change(app, actor).await {
        Ok(()) => Ok(see_other(
            &format!("/studies/{study}/media/{item}#transcript"),
            None,
        )),
        Err(e) => {
            let mut values = blank_work();
            for key in [
                "mark_position",
                "mark_words",
                "mark_category",
                "quote_position",
                "quote_words",
                "quote_theme",
            ] {
                values[key] = json!(form.get(key));
            }
            media_page(
                req,
                &form.viewer,
                study,
                item,
                false,
                values,
                Some(for_form(e, names)),
            )
            .await
        }
    }
}

#[handler]
pub async fn map_speakers_form(
    req: &Request,
    form: CsrfForm,
    Path((study, id)): Path<(StudyId, TranscriptId)>,
) -> PageResult {
    change_transcript(req, &form, &study, &id, &[], async |app, actor| {
        // The form names its speakers (the service refuses one the
        // transcript does not have), so nothing is read to list them.
        let mut mappings = Vec::new();
        let mut problems = Vec::new();
        for speaker in form
            .all("speaker")
            .into_iter()
            .filter_map(|n| n.parse::<i32>().ok())
        {
            let field = format!("speakers.{speaker}");
            let chosen = form.get(&field);
            let (role, study_code) = match chosen.split_once(':') {
                Some(("participant", code)) => {
                    (Some(SpeakerRole::Participant), Some(code.to_owned()))
                }
                _ => (SpeakerRole::parse(chosen), None),
            };
            match role {
                Some(role) => mappings.push(SpeakerMapping {
                    speaker,
                    role,
                    study_code,
                }),
                None => problems.push(FieldProblem {
                    field,
                    detail: "Choose who this speaker is.".into(),
                }),
            }
        }
        if mappings.is_empty() && problems.is_empty() {
            problems.push(FieldProblem {
                field: "speakers.0".into(),
                detail: "Choose who each speaker is.".into(),
            });
        }
        if !problems.is_empty() {
            return Err(AppError::Invalid(problems));
        }
        service::map_speakers(app, actor, &study, &id, mappings).await?;
        Ok(())
    })
    .await
}

/// Where words typed on the page lie in a turn: characters from, to. The
/// first place they occur; the whole turn when none were typed.
fn span_of(text: &str, words: &str, field: &str) -> Result<(i32, i32), AppError> {
    let words = words.trim();
    let to_i32 = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    if words.is_empty() {
        return Ok((0, to_i32(text.chars().count())));
    }
    let byte = text.find(words).ok_or_else(|| {
        AppError::invalid(
            field,
            "Those words are not in that turn: copy them exactly as they appear.",
        )
    })?;
    let start = text[..byte].chars().count();
    Ok((to_i32(start), to_i32(start + words.chars().count())))
}

/// The turn a form names, by its position.
fn turn_of<'t>(
    t: &'t Transcript,
    raw: &str,
    field: &str,
) -> Result<&'t super::model::Turn, AppError> {
    raw.parse::<i32>()
        .ok()
        .and_then(|p| t.turns.iter().find(|turn| turn.position == p))
        .ok_or_else(|| AppError::invalid(field, "Choose a turn of the transcript."))
}

#[handler]
pub async fn mark_redaction(
    req: &Request,
    form: CsrfForm,
    Path((study, id)): Path<(StudyId, TranscriptId)>,
) -> PageResult {
    let names = [("position", "mark_position"), ("end", "mark_words")];
    change_transcript(req, &form, &study, &id, &names, async |app, actor| {
        // The raw words, as redactions count into them.
        let t = service::transcript_view(app, actor, &study, &id, true).await?;
        let turn = turn_of(&t, form.get("mark_position"), "mark_position")?;
        let (start, end) = span_of(&turn.text, form.get("mark_words"), "mark_words")?;
        let category = Category::parse(form.get("mark_category")).ok_or_else(|| {
            AppError::invalid(
                "mark_category",
                "Choose what the words are: a person, place, organisation or other.",
            )
        })?;
        let m = MarkInput {
            position: turn.position,
            start,
            end,
            category,
        };
        service::change_redactions(app, actor, &study, &id, Some(m), None).await?;
        Ok(())
    })
    .await
}

#[handler]
pub async fn decide_redaction(
    req: &Request,
    form: CsrfForm,
    Path((study, id, redaction)): Path<(StudyId, TranscriptId, RedactionId)>,
) -> PageResult {
    let accept = match form.get("decision") {
        "accept" => Some(true),
        "reject" => Some(false),
        _ => None,
    };
    change_transcript(req, &form, &study, &id, &[], async |app, actor| {
        let accept = accept
            .ok_or_else(|| AppError::invalid("decision", "Accept or reject the suggestion."))?;
        service::change_redactions(app, actor, &study, &id, None, Some((redaction, accept)))
            .await?;
        Ok(())
    })
    .await
}

#[handler]
pub async fn save_status(
    req: &Request,
    form: CsrfForm,
    Path((study, id)): Path<(StudyId, TranscriptId)>,
) -> PageResult {
    let status = TranscriptStatus::parse(form.get("status"));
    change_transcript(req, &form, &study, &id, &[], async |app, actor| {
        let status = status
            .ok_or_else(|| AppError::invalid("status", "Choose raw, checked or redacted."))?;
        service::set_status(app, actor, &study, &id, status).await?;
        Ok(())
    })
    .await
}

#[handler]
pub async fn mark_quote(
    req: &Request,
    form: CsrfForm,
    Path((study, id)): Path<(StudyId, TranscriptId)>,
) -> PageResult {
    let names = [
        ("position", "quote_position"),
        ("end", "quote_words"),
        ("theme", "quote_theme"),
    ];
    change_transcript(req, &form, &study, &id, &names, async |app, actor| {
        // Quotes count into the redacted words.
        let t = service::transcript_view(app, actor, &study, &id, false).await?;
        if t.status != TranscriptStatus::Redacted {
            return Err(AppError::Conflict(
                "Quotes come from a redacted transcript: redact it first.".into(),
            ));
        }
        let turn = turn_of(&t, form.get("quote_position"), "quote_position")?;
        let (start, end) = span_of(&turn.text, form.get("quote_words"), "quote_words")?;
        let q = QuoteInput {
            position: turn.position,
            start,
            end,
            theme: form.get("quote_theme"),
        };
        service::add_quote(app, actor, &study, &id, q).await?;
        Ok(())
    })
    .await
}

// Quotes.

#[handler]
pub async fn list_quotes(
    req: &Request,
    viewer: Viewer,
    Path(study): Path<StudyId>,
    Query(q): Query<FieldworkQuery>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let details = crate::studies::service::get_study(app, actor, &study).await?;
    let after = q
        .after
        .as_deref()
        .map(|a| {
            crate::ids::QuoteId::parse(a)
                .ok_or_else(|| AppError::BadRequest("That is not a place in the list.".into()))
        })
        .transpose()?;
    let found = service::quotes(app, actor, &study, &PageRequest::new(after, None)).await?;
    let blocked = found.items.iter().filter(|q| !q.usable).count();
    let ctx = json!({
        "study": study_json(&details),
        "quotes": found.items,
        "blocked": blocked,
        "next": found.next.map(|n| n.to_string()),
    });
    let page = Page::new("quotes.html", format!("Quotes: {}", details.title), ctx);
    Ok(page.render(app, &viewer)?)
}

/// The usable quotes as CSV, for a report; audited.
#[handler]
pub async fn quotes_csv(req: &Request, viewer: Viewer, Path(study): Path<StudyId>) -> PageResult {
    let text = service::export_quotes(app_of(req), viewer.require()?, &study).await?;
    Ok(Response::builder()
        .content_type("text/csv; charset=utf-8")
        .header(
            "content-disposition",
            format!("attachment; filename=\"quotes-{study}.csv\""),
        )
        .body(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_by_characters_not_bytes() {
        let text = "Zoë said café was near Leeds";
        assert_eq!(span_of(text, "Leeds", "f").unwrap(), (23, 28));
        // Spaces around the words are not marked.
        assert_eq!(span_of(text, " café ", "f").unwrap(), (9, 13));
        assert_eq!(span_of(text, "", "f").unwrap(), (0, 28));
        assert!(span_of(text, "London", "f").is_err());
    }

    #[test]
    fn codes_split_on_commas_spaces_and_lines() {
        assert_eq!(
            codes("RC-0001, RC-0002\nRC-0003;RC-0004"),
            ["RC-0001", "RC-0002", "RC-0003", "RC-0004"]
        );
        assert!(codes(" , ").is_empty());
    }

    #[test]
    fn times_read_as_a_clock() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(75_500), "1:15");
        assert_eq!(clock(3_723_000), "1:02:03");
    }
}
