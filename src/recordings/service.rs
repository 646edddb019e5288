//! The recordings use cases. Every one that keeps or uses a participant's
//! data passes the consent gate (`consent::gate::may`) inside the write
//! transaction that acts on the answer: an encounter needs take-part from
//! everyone present, a recording the use its kind needs (audio, video,
//! photos) from everyone in it, approval and publication the public uses,
//! a quote the quotes use. A withdrawal or a changed choice reaches what is
//! already published (`consent_changed`) and, with removal of identifiable
//! data, the media themselves (`erase_for`).

use std::collections::{BTreeMap, HashMap};

use super::model::{
    recording_use, Encounter, EncounterKind, MediaItem, Publication, Quote, Redaction,
    RedactionState, SpeakerRole, Transcript, TranscriptStatus, Turn,
};
use super::redact::{self, Category, Mark, Suggester};
use super::store::{
    self, ItemRow, NewEncounter, NewItem, NewQuote, NewRedaction, NewTranscript, NewTurn,
    TranscriptRow,
};
use super::transcript;
use crate::app::App;
use crate::audit::action::Sha256Hex;
use crate::audit::{self, Action, Entity, NewEntry};
use crate::auth::model::{Actor, Email, Permission};
use crate::auth::policy::{require_site, require_study, site_scope};
use crate::consent::forms::model::DataUse;
use crate::consent::gate;
use crate::consent::kernel::model::Refusal;
use crate::db::list::{Page, PageRequest};
use crate::db::Tx;
use crate::error::{AppError, FieldProblem, Result};
use crate::ids::{
    AccountId, EncounterId, MediaItemId, ParticipantId, QuoteId, RedactionId, SiteId, StudyCode,
    StudyId, TranscriptId,
};
use crate::mail::Template;
use crate::media::kind::MediaKind;
use crate::media::service::{self as media, External, Opened, Staged};
use crate::media::store::{Cause, Purpose};
use crate::participants::model::Participant;

/// Text fields' limits, in characters.
const SHORT: usize = 200;
const LONG: usize = 10_000;

fn text(
    field: &str,
    raw: Option<&str>,
    max: usize,
    problems: &mut Vec<FieldProblem>,
) -> Option<String> {
    let t = raw.map(str::trim).filter(|t| !t.is_empty())?;
    if t.chars().count() > max
        || t.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        problems.push(FieldProblem {
            field: field.into(),
            detail: format!("Use at most {max} characters of plain text."),
        });
        return None;
    }
    Some(t.to_owned())
}

fn problems_or<T>(problems: Vec<FieldProblem>, ok: T) -> Result<T> {
    if problems.is_empty() {
        Ok(ok)
    } else {
        Err(AppError::Invalid(problems))
    }
}

/// The refusal of the gate, naming the participant and the use: "RC-0003
/// has not agreed to video recording".
fn refused(code: &StudyCode, use_: &DataUse, e: AppError) -> AppError {
    match e {
        AppError::Conflict(why) => AppError::Conflict(format!(
            "{code}: {} ({} is needed). Nothing was stored.",
            why.trim_end_matches('.')
                .replace("This participant", "the participant"),
            use_.as_str().replace('_', " ")
        )),
        other => other,
    }
}

/// Passes the gate for `use_` for each participant, in `tx`.
async fn gate_all(
    tx: &mut Tx,
    people: &[(ParticipantId, StudyCode)],
    use_: &DataUse,
) -> Result<()> {
    for (id, code) in people {
        gate::may(tx, id, use_.clone())
            .await
            .map_err(|e| refused(code, use_, e))?;
    }
    Ok(())
}

/// Participants of `study` by study code, each named in a problem when unknown.
async fn by_codes(
    app: &App,
    study: &StudyId,
    codes: &[String],
    field: &str,
) -> Result<Vec<(ParticipantId, StudyCode)>> {
    let mut conn = app.db.pool.acquire().await?;
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for code in codes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        match crate::participants::store::by_code(&mut conn, study, code).await? {
            Some(p)
                if !found
                    .iter()
                    .any(|(id, _): &(ParticipantId, StudyCode)| id == &p.id) =>
            {
                found.push((p.id, p.study_code))
            }
            Some(_) => {}
            None => problems.push(FieldProblem {
                field: field.into(),
                detail: format!(
                    "{} is not a participant of this study.",
                    code.chars().take(40).collect::<String>()
                ),
            }),
        }
    }
    problems_or(problems, found)
}

/// Study codes or uses typed into one box (or sent one per field),
/// separated by commas, semicolons, spaces or lines.
pub fn split_list(s: &str) -> Vec<String> {
    s.split([',', ';', ' ', '\n', '\r', '\t'])
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

// Encounters.

pub struct EncounterInput {
    pub kind: EncounterKind,
    pub occurred_at: i64,
    pub site_id: SiteId,
    pub location: Option<String>,
    pub prompt_set: Option<String>,
    pub duration_minutes: Option<i32>,
    pub notes: Option<String>,
    pub interviewers: Vec<AccountId>,
    pub participants: Vec<String>,
}

pub async fn create_encounter(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    input: EncounterInput,
) -> Result<Encounter> {
    require_site(actor, Permission::RecordFieldwork, study, &input.site_id)?;
    let mut problems = Vec::new();
    let location = text("location", input.location.as_deref(), SHORT, &mut problems);
    let prompt_set = text(
        "prompt_set",
        input.prompt_set.as_deref(),
        SHORT,
        &mut problems,
    );
    let notes = text("notes", input.notes.as_deref(), LONG, &mut problems);
    if input
        .duration_minutes
        .is_some_and(|d| !(0..=1440).contains(&d))
    {
        problems.push(FieldProblem {
            field: "duration_minutes".into(),
            detail: "A duration is 0 to 1,440 minutes.".into(),
        });
    }
    let far_future = app.now() + 24 * 3600 * 1000;
    if input.occurred_at > far_future || input.occurred_at < 946_684_800_000 {
        problems.push(FieldProblem {
            field: "occurred_at".into(),
            detail: "Give when it took place: not in the future, not before 2000.".into(),
        });
    }
    let mut conn = app.db.pool.acquire().await?;
    if !crate::studies::store::site_in_study(&mut *conn, &input.site_id, study).await? {
        problems.push(FieldProblem {
            field: "site_id".into(),
            detail: "Choose one of this study's sites.".into(),
        });
    }
    let mut interviewers = input.interviewers.clone();
    interviewers.sort();
    interviewers.dedup();
    drop(conn);
    let present = match by_codes(app, study, &input.participants, "participants").await {
        Ok(p) => p,
        Err(AppError::Invalid(more)) => {
            problems.extend(more);
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    if present.is_empty() && !problems.iter().any(|p| p.field == "participants") {
        problems.push(FieldProblem {
            field: "participants".into(),
            detail: "Name the participants present by study code.".into(),
        });
    }
    problems_or(problems, ())?;
    let id = EncounterId::new();
    let mut tx = app.db.begin().await?;
    // Decided here, under the study's shared lock that membership changes
    // wait for (taken before the participants', as they take it).
    let gone = store::not_staff(&mut tx, study, &interviewers).await?;
    if !gone.is_empty() {
        return Err(AppError::Invalid(
            gone.iter()
                .map(|a| FieldProblem {
                    field: "interviewers".into(),
                    detail: format!("Account {a} does not work on this study."),
                })
                .collect(),
        ));
    }
    gate_all(&mut tx, &present, &DataUse::TakePart).await?;
    let ids: Vec<ParticipantId> = present.iter().map(|(id, _)| id.clone()).collect();
    let now = app.now();
    store::insert_encounter(
        &mut tx,
        &NewEncounter {
            id: &id,
            study_id: study,
            kind: input.kind,
            occurred_at: input.occurred_at,
            site_id: &input.site_id,
            location: location.as_deref(),
            prompt_set: prompt_set.as_deref(),
            duration_minutes: input.duration_minutes,
            notes: notes.as_deref(),
            created_by: &actor.account_id,
        },
        &interviewers,
        &ids,
        now,
    )
    .await?;
    let action = Action::Encounter {
        kind: input.kind.as_str(),
        participants: present.iter().map(|(_, c)| c.clone()).collect(),
    };
    audit::append(
        &mut tx,
        now,
        NewEntry::by_in_study(actor, study, action, Entity::Encounter(id.clone())),
    )
    .await?;
    let encounter = store::encounter_in(tx.conn(), study, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(encounter)
}

pub async fn encounters(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    page: &PageRequest<EncounterId>,
) -> Result<Page<Encounter, EncounterId>> {
    require_study(actor, Permission::RecordFieldwork, study)?;
    let sites = site_scope(actor, Permission::RecordFieldwork, study);
    Ok(store::encounters(&app.db.pool, study, &sites, page).await?)
}

/// An encounter the actor may work on, with its media.
pub async fn encounter(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &EncounterId,
) -> Result<(Encounter, Vec<MediaItem>)> {
    require_study(actor, Permission::RecordFieldwork, study)?;
    let mut conn = app.db.pool.acquire().await?;
    let e = store::encounter_in(&mut conn, study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    require_site(actor, Permission::RecordFieldwork, study, &e.site_id)
        .map_err(|_| AppError::NotFound)?;
    let items = store::items_of(&mut conn, id).await?;
    Ok((e, items))
}

// Media.

/// A media item about to be added, checked before any byte of its file is read.
pub struct PreparedMedia {
    encounter: Encounter,
    title: String,
    kind: MediaKind,
    people: Vec<(ParticipantId, StudyCode)>,
    public_uses: Vec<String>,
}

impl PreparedMedia {
    pub fn kind(&self) -> MediaKind {
        self.kind
    }
}

pub struct MediaInput<'a> {
    pub title: &'a str,
    /// None when what was sent names no kind: a problem for `kind`, found
    /// with the others after access is checked.
    pub kind: Option<MediaKind>,
    /// The identifiable people in it by study code; everyone present when empty.
    pub people: Vec<String>,
    /// Uses beyond film_public that public release needs (a study's own,
    /// such as film_teaching).
    pub public_uses: Vec<String>,
}

/// Checks everything about a new media item but its bytes: access, the
/// encounter, the people, and (read now, decided again when storing) their
/// consent, so an upload that would be refused is refused before it is read.
pub async fn prepare_media(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    encounter_id: &EncounterId,
    input: MediaInput<'_>,
) -> Result<PreparedMedia> {
    let (encounter, _) = encounter(app, actor, study, encounter_id).await?;
    let mut problems = Vec::new();
    let title = text("title", Some(input.title), SHORT, &mut problems);
    if title.is_none() && !problems.iter().any(|p| p.field == "title") {
        problems.push(FieldProblem {
            field: "title".into(),
            detail: "Give the item a title (no names: e.g. \"Vox pop 3, market square\").".into(),
        });
    }
    let mut public_uses = vec![DataUse::FilmPublic.as_str().to_owned()];
    for u in input
        .public_uses
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
    {
        let valid = u.len() <= 63
            && u.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            problems.push(FieldProblem {
                field: "public_uses".into(),
                detail: "A use is a consent form's key, such as film_teaching.".into(),
            });
        } else if !public_uses.iter().any(|x| x == u) {
            public_uses.push(u.to_owned());
        }
    }
    let people = if input.people.iter().all(|p| p.trim().is_empty()) {
        let mut conn = app.db.pool.acquire().await?;
        store::present(&mut conn, &encounter.id).await?
    } else {
        match by_codes(app, study, &input.people, "people").await {
            Ok(people) => {
                for (_, code) in &people {
                    if !encounter.participants.contains(code) {
                        problems.push(FieldProblem {
                            field: "people".into(),
                            detail: format!("{code} was not at this encounter."),
                        });
                    }
                }
                people
            }
            Err(AppError::Invalid(more)) => {
                problems.extend(more);
                Vec::new()
            }
            Err(e) => return Err(e),
        }
    };
    let Some(kind) = input.kind else {
        problems.push(FieldProblem {
            field: "kind".into(),
            detail: "Choose audio, video, photo or document.".into(),
        });
        return Err(AppError::Invalid(problems));
    };
    problems_or(problems, ())?;
    // An early answer from the same rule; the gate decides again when storing.
    let use_ = recording_use(kind);
    let mut conn = app.db.pool.acquire().await?;
    for (id, code) in &people {
        gate::answer(&mut conn, id, &use_)
            .await?
            .map_err(|r| refused(code, &use_, AppError::Conflict(r.to_string())))?;
    }
    Ok(PreparedMedia {
        encounter,
        title: title.unwrap_or_default(),
        kind,
        people,
        public_uses,
    })
}

/// Where a new item's bytes are.
pub enum Source<'a> {
    Upload {
        staged: Staged,
        original_name: Option<&'a str>,
    },
    External(External<'a>),
}

/// Adds the item: the gate for its kind's use from everyone in it, in the
/// transaction that stores it; refused, nothing is kept.
pub async fn add_media(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    prepared: PreparedMedia,
    source: Source<'_>,
) -> Result<MediaItem> {
    if let Source::External(e) = &source {
        media::check_external(e)?;
        if e.kind != prepared.kind {
            return Err(AppError::invalid(
                "kind",
                "The reference's kind differs from the item's.",
            ));
        }
    }
    let use_ = recording_use(prepared.kind);
    let mut tx = app.db.begin().await?;
    gate_all(&mut tx, &prepared.people, &use_).await?;
    let (object_id, placed, storage, size, sha) = match source {
        Source::Upload {
            staged,
            original_name,
        } => {
            let id = staged.id.clone();
            let (size, sha) = (staged.size, staged.sha256.clone());
            let placed = staged
                .record(
                    &mut tx,
                    app,
                    study,
                    Purpose::Recording,
                    original_name,
                    &actor.account_id,
                )
                .await?;
            (id, Some(placed), "stored", size, Some(sha))
        }
        Source::External(e) => {
            let id = media::record_external(&mut tx, app, study, &e, &actor.account_id).await?;
            (
                id,
                None,
                "external",
                e.size_bytes,
                e.sha256.map(str::to_ascii_lowercase),
            )
        }
    };
    let item_id = MediaItemId::new();
    let now = app.now();
    let ids: Vec<ParticipantId> = prepared.people.iter().map(|(id, _)| id.clone()).collect();
    store::insert_item(
        &mut tx,
        &NewItem {
            id: &item_id,
            study_id: study,
            encounter_id: &prepared.encounter.id,
            object_id: &object_id,
            title: &prepared.title,
            public_uses: &prepared.public_uses,
        },
        &ids,
        now,
    )
    .await?;
    let action = Action::MediaAdd {
        kind: prepared.kind.as_str(),
        storage,
        size_bytes: size,
        sha256: sha.as_deref().and_then(Sha256Hex::parse),
        people: prepared.people.iter().map(|(_, c)| c.clone()).collect(),
        consent_use: use_.as_str().to_owned(),
    };
    audit::append(
        &mut tx,
        now,
        NewEntry::by_in_study(actor, study, action, Entity::MediaItem(item_id.clone())),
    )
    .await?;
    let item = store::item_in(tx.conn(), study, &item_id)
        .await?
        .ok_or(AppError::NotFound)?
        .item;
    tx.commit().await?;
    if let Some(placed) = placed {
        placed.keep();
    }
    Ok(item)
}

/// An item the actor may work on (NotFound otherwise, as for an unknown id).
async fn item_for(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &MediaItemId,
) -> Result<(ItemRow, Encounter)> {
    require_study(actor, Permission::RecordFieldwork, study)?;
    let mut conn = app.db.pool.acquire().await?;
    let row = store::item_in(&mut conn, study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let encounter = store::encounter_in(&mut conn, study, &row.item.encounter_id)
        .await?
        .ok_or(AppError::NotFound)?;
    require_site(
        actor,
        Permission::RecordFieldwork,
        study,
        &encounter.site_id,
    )
    .map_err(|_| AppError::NotFound)?;
    Ok((row, encounter))
}

pub async fn media_item(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &MediaItemId,
) -> Result<(MediaItem, Encounter)> {
    let (row, e) = item_for(app, actor, study, id).await?;
    Ok((row.item, e))
}

/// Opens an item's file for sending, audited with the range asked for. The
/// name it is sent under is made here from the item's kind and id: never
/// the uploaded name.
pub async fn read_media(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &MediaItemId,
    range: Option<String>,
) -> Result<(Opened, String)> {
    let (row, _) = item_for(app, actor, study, id).await?;
    let opened = media::open(app, study, &row.object_id).await?;
    let mut tx = app.db.begin().await?;
    audit::append(
        &mut tx,
        app.now(),
        NewEntry::by_in_study(
            actor,
            study,
            Action::MediaRead { range },
            Entity::MediaItem(id.clone()),
        ),
    )
    .await?;
    tx.commit().await?;
    let extension = opened
        .row
        .media_type
        .rsplit('/')
        .next()
        .unwrap_or("bin")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>();
    let name = format!("{}-{}.{}", row.item.kind.as_str(), id, extension);
    Ok((opened, name))
}

/// Moves an item towards or away from public use. Approval and publication
/// need every person in it to hold film_public and the item's other public
/// uses, decided under the item's lock and each person's.
pub async fn move_publication(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &MediaItemId,
    to: Publication,
) -> Result<MediaItem> {
    item_for(app, actor, study, id).await?;
    let mut tx = app.db.begin().await?;
    let row = store::lock_item(&mut tx, study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let from = row.item.publication;
    if !from.may_move_to(to) {
        return Err(AppError::Conflict(format!(
            "An item that is {} cannot move to {}.",
            from.label().to_lowercase(),
            to.label().to_lowercase()
        )));
    }
    if matches!(row.item.kind, MediaKind::Audio | MediaKind::Document) && to != Publication::Draft {
        return Err(AppError::Conflict(
            "Only films and photos are published; audio and documents stay with the research team."
                .into(),
        ));
    }
    let people = store::people(tx.conn(), id).await?;
    if to.needs_public_consent() {
        for use_ in &row.item.public_uses {
            gate_all(&mut tx, &people, &DataUse::from(use_.clone()))
                .await
                .map_err(|e| match e {
                    AppError::Conflict(m) => AppError::Conflict(
                        m.replace("Nothing was stored.", "The item was not moved."),
                    ),
                    other => other,
                })?;
        }
    }
    let now = app.now();
    store::set_publication(&mut tx, id, to, now).await?;
    let action = Action::Publication {
        from: from.as_str(),
        to: to.as_str(),
        people: people.iter().map(|(_, c)| c.clone()).collect(),
        uses: if to.needs_public_consent() {
            row.item.public_uses.clone()
        } else {
            Vec::new()
        },
    };
    audit::append(
        &mut tx,
        now,
        NewEntry::by_in_study(actor, study, action, Entity::MediaItem(id.clone())),
    )
    .await?;
    let item = store::item_in(tx.conn(), study, id)
        .await?
        .ok_or(AppError::NotFound)?
        .item;
    tx.commit().await?;
    Ok(item)
}

/// Called inside the transaction that changed a participant's consent (a
/// new record, a withdrawal), with the participant locked: flags every item
/// approved or published that they are in and whose public uses they no
/// longer all hold, and emails whoever recorded it. Wake the mailer after commit.
pub async fn consent_changed(tx: &mut Tx, app: &App, participant: &Participant) -> Result<usize> {
    let items = store::public_items_with(tx, &participant.id).await?;
    if items.is_empty() {
        return Ok(0);
    }
    let standing = crate::consent::kernel::standing(tx.conn(), &participant.id).await?;
    let now = app.now();
    let mut flagged: BTreeMap<AccountId, Vec<(MediaItemId, String)>> = BTreeMap::new();
    for (item, title, uses, recorder) in items {
        let holds = standing.effective.as_ref().is_some_and(|c| {
            uses.iter()
                .all(|u| c.allows(&DataUse::from(u.clone())).is_ok())
        });
        if !holds {
            store::flag_takedown(tx, &item, now).await?;
            flagged.entry(recorder).or_default().push((item, title));
        }
    }
    let count = flagged.values().map(Vec::len).sum();
    if count == 0 {
        return Ok(0);
    }
    let study = crate::studies::store::get_study(tx.conn(), &participant.study_id).await?;
    for (recorder, items) in &flagged {
        let email = crate::auth::store::email_of(tx.conn(), recorder).await?;
        let Ok(to) = Email::parse(&email) else {
            continue;
        };
        let links: Vec<serde_json::Value> = items
            .iter()
            .map(|(id, title)| {
                serde_json::json!({
                    "title": title,
                    "link": app.server.link(&format!("/studies/{}/media/{id}", study.id)),
                })
            })
            .collect();
        app.mailer
            .enqueue(
                tx,
                Template::TakedownFlag,
                &to,
                "A film or photo needs taking down",
                serde_json::json!({
                    "study_title": study.title,
                    "study_code": participant.study_code,
                    "items": links,
                }),
                None,
                now,
            )
            .await
            .map_err(AppError::internal)?;
    }
    let entry = NewEntry::system(
        Action::TakedownFlag {
            study_code: participant.study_code.clone(),
            items: count,
        },
        Entity::Participant(participant.id.clone()),
    )
    .study(&participant.study_id);
    audit::append(tx, now, entry).await?;
    Ok(count)
}

/// Inside a withdrawal with removal of identifiable data (the participant
/// locked): removes every object only they are in, keeps (with the reason
/// recorded) those others are in too, and blanks their words in every
/// transcript. Returns removed, kept and turns blanked.
pub async fn erase_for(
    tx: &mut Tx,
    app: &App,
    participant: &Participant,
) -> Result<(usize, usize, u64)> {
    let now = app.now();
    let (mut removed, mut kept) = (0, 0);
    for (object, others) in store::objects_with(tx, &participant.id).await? {
        if others == 0 {
            if media::erase(tx, app, &object, Some(&participant.id), Cause::Withdrawal).await? {
                removed += 1;
            }
        } else {
            let reason = format!(
                "Kept: {others} other participant(s) are in it too. This participant's words are blanked in its transcript, and it cannot be approved or published while they are in it."
            );
            crate::media::store::record_decision(
                tx,
                &object,
                Some(&participant.id),
                Cause::Withdrawal,
                Some(&reason),
                now,
            )
            .await?;
            kept += 1;
        }
    }
    let blanked = store::erase_turns_of(tx, &participant.id).await?;
    if removed + kept > 0 || blanked > 0 {
        let entry = NewEntry::system(
            Action::MediaErasure {
                study_code: participant.study_code.clone(),
                removed,
                kept,
                turns_blanked: blanked,
            },
            Entity::Participant(participant.id.clone()),
        )
        .study(&participant.study_id);
        audit::append(tx, now, entry).await?;
    }
    Ok((removed, kept, blanked))
}

// Transcripts.

fn turn_row_id(transcript: &TranscriptId, position: i32) -> String {
    format!("{transcript}/{position}")
}

fn seal_turn(app: &App, transcript: &TranscriptId, position: i32, text: &str) -> String {
    app.vault.seal(
        "transcript_turns",
        "text",
        &turn_row_id(transcript, position),
        text,
    )
}

fn open_turn(
    app: &App,
    transcript: &TranscriptId,
    position: i32,
    sealed: Option<&str>,
) -> Result<String> {
    match sealed {
        None => Ok(String::new()),
        Some(s) => Ok(app
            .vault
            .open(
                "transcript_turns",
                "text",
                &turn_row_id(transcript, position),
                s,
            )
            .map_err(AppError::internal)?
            .to_string()),
    }
}

/// The names the vault holds for the study's participants and the study's
/// own redaction terms, opened for the suggester and dropped after.
async fn suggester(app: &App, study: &StudyId) -> Result<Suggester> {
    let mut tx = app.db.begin().await?;
    let names = crate::vault::service::names_in_study(&mut tx, app, study).await?;
    let terms = store::deny_terms(tx.conn(), study).await?;
    tx.commit().await?;
    let mut opened = Vec::with_capacity(terms.len());
    for (id, sealed) in terms {
        opened.push(
            app.vault
                .open("redaction_terms", "term", &id, &sealed)
                .map_err(AppError::internal)?
                .to_string(),
        );
    }
    Ok(Suggester::new(&names, &opened))
}

/// Imports a transcript of a recording: parsed into turns, the speakers'
/// names replaced by numbers (the names stay only in the sealed original),
/// the raw words sealed, and redactions suggested.
pub async fn import_transcript(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    item_id: &MediaItemId,
    file_name: Option<&str>,
    bytes: bytes::Bytes,
) -> Result<TranscriptId> {
    let (row, _) = item_for(app, actor, study, item_id).await?;
    if !matches!(row.item.kind, MediaKind::Audio | MediaKind::Video) {
        return Err(AppError::Conflict(
            "Only a recording has a transcript.".into(),
        ));
    }
    if row.item.transcript_id.is_some() {
        return Err(AppError::Conflict(
            "This recording already has a transcript.".into(),
        ));
    }
    let format = transcript::detect(file_name, &bytes).ok_or_else(|| {
        AppError::invalid(
            "file",
            "This is not a transcript fieldkit reads: use WebVTT, SRT, plain text or a Word (.docx) file.",
        )
    })?;
    let parsed = transcript::parse(format, &bytes).map_err(|e| {
        let detail = if e.line == 0 { e.reason } else { e.to_string() };
        AppError::invalid("file", detail)
    })?;
    let labels = transcript::speakers(&parsed);
    let index: HashMap<&str, i32> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i32::try_from(i).unwrap_or(i32::MAX)))
        .collect();
    let texts: Vec<&str> = parsed.iter().map(|t| t.text.as_str()).collect();
    let suggestions = suggester(app, study).await?.suggest(&texts);
    let id = TranscriptId::new();
    let turns: Vec<NewTurn> = parsed
        .iter()
        .enumerate()
        .map(|(position, t)| NewTurn {
            speaker: t.speaker.as_deref().and_then(|s| index.get(s).copied()),
            start_ms: t.start_ms.and_then(|v| i64::try_from(v).ok()),
            end_ms: t.end_ms.and_then(|v| i64::try_from(v).ok()),
            text_sealed: seal_turn(
                app,
                &id,
                i32::try_from(position).unwrap_or(i32::MAX),
                &t.text,
            ),
        })
        .collect();
    let staged = media::receive_bytes(app, MediaKind::Document, bytes, "file").await?;
    let original = staged.id.clone();
    let mut tx = app.db.begin().await?;
    // Decided here, under the item's lock: the words are of the people in
    // it, who must still hold the recording's use (a withdrawal with removal
    // in the meantime refuses it).
    let locked = store::lock_item(&mut tx, study, item_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let people = store::people(tx.conn(), item_id).await?;
    gate_all(&mut tx, &people, &recording_use(locked.item.kind)).await?;
    let placed = staged
        .record(
            &mut tx,
            app,
            study,
            Purpose::TranscriptOriginal,
            file_name,
            &actor.account_id,
        )
        .await?;
    let now = app.now();
    store::insert_transcript(
        &mut tx,
        &NewTranscript {
            id: &id,
            study_id: study,
            item_id,
            original: &original,
            format: format.as_str(),
            created_by: &actor.account_id,
        },
        labels.len(),
        &turns,
        now,
    )
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            AppError::Conflict("This recording already has a transcript.".into())
        }
        _ => e.into(),
    })?;
    for s in &suggestions {
        store::insert_redaction(
            &mut tx,
            &NewRedaction {
                transcript_id: &id,
                position: i32::try_from(s.turn).unwrap_or(i32::MAX),
                start: i32::try_from(s.start).unwrap_or(i32::MAX),
                end: i32::try_from(s.end).unwrap_or(i32::MAX),
                category: s.category.as_str(),
                state: RedactionState::Suggested,
                suggested_because: Some(s.reason.label()),
                created_by: None,
            },
            now,
        )
        .await?;
    }
    let action = Action::TranscriptImport {
        format: format.as_str(),
        turns: parsed.len(),
        speakers: labels.len(),
        suggestions: suggestions.len(),
    };
    audit::append(
        &mut tx,
        now,
        NewEntry::by_in_study(actor, study, action, Entity::Transcript(id.clone())),
    )
    .await?;
    tx.commit().await?;
    placed.keep();
    Ok(id)
}

/// May the actor read this transcript, and in which words? Those who record
/// fieldwork read the raw words; those who read redacted fieldwork only a
/// redacted transcript's redacted words. `raw` asks for the raw words (or a
/// change), which only those who record fieldwork at its site get.
async fn transcript_for(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &TranscriptId,
    raw: bool,
) -> Result<(TranscriptRow, bool)> {
    let records = crate::auth::policy::permits(
        actor,
        Permission::RecordFieldwork,
        crate::auth::policy::Scope::Study(study),
    );
    if raw || !records {
        let perm = if raw || records {
            Permission::RecordFieldwork
        } else {
            Permission::ViewRedactedFieldwork
        };
        require_study(actor, perm, study)?;
    }
    let mut conn = app.db.pool.acquire().await?;
    let row = store::transcript_in(&mut conn, study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    if records {
        item_for(app, actor, study, &row.item_id).await?;
        return Ok((row, true));
    }
    if row.status != TranscriptStatus::Redacted {
        return Err(AppError::Forbidden(
            "This transcript is not redacted yet: it stays with the researchers until it is."
                .into(),
        ));
    }
    Ok((row, false))
}

/// A transcript with its turns: raw for those who record fieldwork (the
/// read is audited), redacted for analysts. `raw_wanted: false` asks those
/// who record fieldwork for the redacted words once there are some, so a
/// page can show what leaves the team and open the raw words only on request.
pub async fn transcript_view(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &TranscriptId,
    raw_wanted: bool,
) -> Result<Transcript> {
    let (row, may_raw) = transcript_for(app, actor, study, id, false).await?;
    let raw = may_raw && (raw_wanted || row.status != TranscriptStatus::Redacted);
    view_of(app, actor, study, row, raw).await
}

/// The transcript's turns in the words asked for; reading raw words is audited.
async fn view_of(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    row: TranscriptRow,
    raw: bool,
) -> Result<Transcript> {
    let id = &row.id;
    let mut conn = app.db.pool.acquire().await?;
    let speakers = store::speakers(&mut conn, id).await?;
    let rows = store::turns(&mut conn, id).await?;
    drop(conn);
    let mut turns = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut t = Turn::from(r);
        t.text = if raw {
            open_turn(app, id, r.position, r.text_sealed.as_deref())?
        } else {
            r.redacted_text.clone().unwrap_or_default()
        };
        turns.push(t);
    }
    if raw {
        let mut tx = app.db.begin().await?;
        audit::append(
            &mut tx,
            app.now(),
            NewEntry::by_in_study(
                actor,
                study,
                Action::TranscriptRead { raw: true },
                Entity::Transcript(id.clone()),
            ),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(Transcript {
        id: row.id,
        media_item_id: row.item_id,
        format: row.format,
        status: row.status,
        speakers,
        turns,
    })
}

/// The media item a transcript belongs to, for those who may change it.
pub async fn transcript_item(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &TranscriptId,
) -> Result<MediaItemId> {
    Ok(transcript_for(app, actor, study, id, true).await?.0.item_id)
}

/// What a recording's page shows of its transcript to those who record
/// fieldwork, behind one access check: the turns (raw before redaction or
/// when asked for, audited; redacted after), the speakers' labels as the
/// file names them (beside raw words only), and the redactions.
pub struct TranscriptWork {
    pub transcript: Transcript,
    /// Shown to map speakers; read from the sealed original, never stored.
    pub labels: Vec<String>,
    pub redactions: Vec<Redaction>,
}

pub async fn transcript_work(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &TranscriptId,
    raw_wanted: bool,
) -> Result<TranscriptWork> {
    let (row, _) = transcript_for(app, actor, study, id, true).await?;
    let raw = raw_wanted || row.status != TranscriptStatus::Redacted;
    let labels = if raw {
        labels_of(app, study, &row).await?
    } else {
        Vec::new()
    };
    let mut conn = app.db.pool.acquire().await?;
    let redactions = store::redactions(&mut conn, id).await?;
    drop(conn);
    Ok(TranscriptWork {
        transcript: view_of(app, actor, study, row, raw).await?,
        labels,
        redactions,
    })
}

/// The speakers' labels as the imported file names them (often names), in
/// speaker order, from the sealed original.
async fn labels_of(app: &App, study: &StudyId, row: &TranscriptRow) -> Result<Vec<String>> {
    let format = transcript::Format::parse(&row.format)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("unknown transcript format")))?;
    let bytes = media::open(app, study, &row.original)
        .await?
        .read_all()
        .await?;
    let parsed = transcript::parse(format, &bytes)
        .map_err(|e| AppError::internal(anyhow::anyhow!("a stored transcript: {e}")))?;
    Ok(transcript::speakers(&parsed))
}

/// The redactions of a transcript (for those who record fieldwork).
pub async fn redactions(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &TranscriptId,
) -> Result<Vec<Redaction>> {
    transcript_for(app, actor, study, id, true).await?;
    let mut conn = app.db.pool.acquire().await?;
    Ok(store::redactions(&mut conn, id).await?)
}

pub struct SpeakerMapping {
    pub speaker: i32,
    pub role: SpeakerRole,
    pub study_code: Option<String>,
}

/// Maps speakers to participants of this study (by study code) or to the
/// interviewer. A code from another study is refused, naming it.
pub async fn map_speakers(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &TranscriptId,
    mappings: Vec<SpeakerMapping>,
) -> Result<()> {
    transcript_for(app, actor, study, id, true).await?;
    let mut problems = Vec::new();
    let mut resolved = Vec::new();
    for m in &mappings {
        let field = format!("speakers.{}", m.speaker);
        let participant = match (
            m.role,
            m.study_code
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty()),
        ) {
            (SpeakerRole::Participant, Some(code)) => {
                match by_codes(app, study, &[code.to_owned()], &field).await {
                    Ok(mut found) => found.pop(),
                    Err(AppError::Invalid(more)) => {
                        problems.extend(more);
                        None
                    }
                    Err(e) => return Err(e),
                }
            }
            (SpeakerRole::Participant, None) => {
                problems.push(FieldProblem {
                    field: field.clone(),
                    detail: "Give the participant's study code.".into(),
                });
                None
            }
            (_, Some(_)) => {
                problems.push(FieldProblem {
                    field: field.clone(),
                    detail: "Only a participant has a study code.".into(),
                });
                None
            }
            (_, None) => None,
        };
        resolved.push((m.speaker, m.role, participant));
    }
    problems_or(problems, ())?;
    let mut tx = app.db.begin().await?;
    let row = store::lock_transcript(&mut tx, study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    // Attributing words to someone is a use of their recording: decided under
    // their lock (transcript first, then participant, as quotes take them), so
    // a withdrawal with removal cannot slip in between.
    let kind = store::item_in(tx.conn(), study, &row.item_id)
        .await?
        .ok_or(AppError::NotFound)?
        .item
        .kind;
    let mapped_people: Vec<(ParticipantId, StudyCode)> =
        resolved.iter().filter_map(|(_, _, p)| p.clone()).collect();
    gate_all(&mut tx, &mapped_people, &recording_use(kind)).await?;
    let mut mapped = Vec::new();
    for (speaker, role, participant) in &resolved {
        if !store::map_speaker(
            &mut tx,
            id,
            *speaker,
            *role,
            participant.as_ref().map(|(p, _)| p),
        )
        .await?
        {
            return Err(AppError::invalid(
                &format!("speakers.{speaker}"),
                "The transcript has no such speaker.",
            ));
        }
        mapped.push(match participant {
            Some((_, code)) => code.to_string(),
            None => role.as_str().to_owned(),
        });
    }
    audit::append(
        &mut tx,
        app.now(),
        NewEntry::by_in_study(
            actor,
            study,
            Action::SpeakersMapped { mapped },
            Entity::Transcript(id.clone()),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A span marked for redaction by the researcher.
pub struct MarkInput {
    pub position: i32,
    pub start: i32,
    pub end: i32,
    pub category: Category,
}

/// Adds a redaction (accepted), or accepts or rejects a suggestion. Any
/// change sends a redacted transcript back to checked: it must be redacted
/// again with the change.
pub async fn change_redactions(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &TranscriptId,
    add: Option<MarkInput>,
    decide: Option<(RedactionId, bool)>,
) -> Result<Vec<Redaction>> {
    transcript_for(app, actor, study, id, true).await?;
    let mut tx = app.db.begin().await?;
    let row = store::lock_transcript(&mut tx, study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = app.now();
    if let Some(m) = add {
        let turns = store::turns(tx.conn(), id).await?;
        let turn = turns
            .iter()
            .find(|t| t.position == m.position)
            .ok_or_else(|| AppError::invalid("position", "The transcript has no such turn."))?;
        let len = open_turn(app, id, turn.position, turn.text_sealed.as_deref())?
            .chars()
            .count();
        if m.start < 0 || m.end <= m.start || usize::try_from(m.end).unwrap_or(usize::MAX) > len {
            return Err(AppError::invalid(
                "end",
                format!("Mark characters within the turn (0 to {len}), end after start."),
            ));
        }
        store::insert_redaction(
            &mut tx,
            &NewRedaction {
                transcript_id: id,
                position: m.position,
                start: m.start,
                end: m.end,
                category: m.category.as_str(),
                state: RedactionState::Accepted,
                suggested_because: None,
                created_by: Some(&actor.account_id),
            },
            now,
        )
        .await?;
    }
    if let Some((redaction, accept)) = decide {
        let state = if accept {
            RedactionState::Accepted
        } else {
            RedactionState::Rejected
        };
        if !store::set_redaction_state(&mut tx, id, &redaction, state).await? {
            return Err(AppError::NotFound);
        }
    }
    if row.status == TranscriptStatus::Redacted {
        store::set_status(&mut tx, id, TranscriptStatus::Checked, now).await?;
    }
    let list = store::redactions(tx.conn(), id).await?;
    tx.commit().await?;
    Ok(list)
}

/// Moves a transcript to raw, checked or redacted. Redacting applies every
/// accepted mark (consistent tags within the transcript), keeps the log of
/// originals sealed apart, and is refused while a suggestion waits.
pub async fn set_status(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &TranscriptId,
    status: TranscriptStatus,
) -> Result<()> {
    transcript_for(app, actor, study, id, true).await?;
    let mut tx = app.db.begin().await?;
    store::lock_transcript(&mut tx, study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = app.now();
    let mut applied = 0;
    if status == TranscriptStatus::Redacted {
        let marks = store::redactions(tx.conn(), id).await?;
        let waiting = marks
            .iter()
            .filter(|m| m.state == RedactionState::Suggested)
            .count();
        if waiting > 0 {
            return Err(AppError::Conflict(format!(
                "{waiting} suggested redaction(s) are waiting: accept or reject each first."
            )));
        }
        let rows = store::turns(tx.conn(), id).await?;
        let texts = rows
            .iter()
            .map(|r| open_turn(app, id, r.position, r.text_sealed.as_deref()))
            .collect::<Result<Vec<String>>>()?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let accepted: Vec<&Redaction> = marks
            .iter()
            .filter(|m| m.state == RedactionState::Accepted)
            .collect();
        let to_apply: Vec<Mark> = accepted
            .iter()
            .map(|m| Mark {
                turn: usize::try_from(m.position).unwrap_or(usize::MAX),
                start: usize::try_from(m.start).unwrap_or(usize::MAX),
                end: usize::try_from(m.end).unwrap_or(usize::MAX),
                category: Category::parse(&m.category).unwrap_or(Category::Other),
            })
            .collect();
        let redacted =
            redact::apply(&refs, &to_apply).map_err(|e| AppError::Conflict(e.to_string()))?;
        for (row, text) in rows.iter().zip(&redacted.turns) {
            store::set_redacted(&mut tx, id, row.position, text).await?;
        }
        for entry in &redacted.log {
            let Some(mark) = accepted.iter().find(|m| {
                usize::try_from(m.position).ok() == Some(entry.turn)
                    && usize::try_from(m.start).ok() == Some(entry.start)
                    && usize::try_from(m.end).ok() == Some(entry.end)
            }) else {
                continue;
            };
            let sealed =
                app.vault
                    .seal("redactions", "original", mark.id.as_str(), &entry.original);
            store::log_redaction(&mut tx, &mark.id, &entry.tag, &sealed).await?;
        }
        applied = redacted.log.len();
    }
    store::set_status(&mut tx, id, status, now).await?;
    audit::append(
        &mut tx,
        now,
        NewEntry::by_in_study(
            actor,
            study,
            Action::TranscriptStatus {
                status: status.as_str(),
                redactions: applied,
            },
            Entity::Transcript(id.clone()),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Adds a term the study always redacts (sealed).
pub async fn add_deny_term(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    term: &str,
) -> Result<String> {
    require_study(actor, Permission::RecordFieldwork, study)?;
    let mut problems = Vec::new();
    let term = text("term", Some(term), SHORT, &mut problems)
        .ok_or_else(|| AppError::invalid("term", "Give a word or phrase to redact."))?;
    problems_or(problems, ())?;
    let id = uuid::Uuid::now_v7().to_string();
    let sealed = app.vault.seal("redaction_terms", "term", &id, &term);
    let mut tx = app.db.begin().await?;
    store::insert_deny_term(&mut tx, &id, study, &sealed, &actor.account_id, app.now()).await?;
    tx.commit().await?;
    Ok(id)
}

// Quotes.

/// Marks a span of a redacted turn as a quote. Its speaker must be a
/// participant who holds the quotes use, decided by the gate as it is stored.
/// A span of a redacted turn to quote, with its theme.
pub struct QuoteInput<'a> {
    pub position: i32,
    /// Characters into the turn's redacted text.
    pub start: i32,
    pub end: i32,
    pub theme: &'a str,
}

pub async fn add_quote(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &TranscriptId,
    q: QuoteInput<'_>,
) -> Result<Quote> {
    let QuoteInput {
        position,
        start,
        end,
        theme,
    } = q;
    transcript_for(app, actor, study, id, true).await?;
    let mut problems = Vec::new();
    let theme = text("theme", Some(theme), SHORT, &mut problems);
    if theme.is_none() && problems.is_empty() {
        problems.push(FieldProblem {
            field: "theme".into(),
            detail: "Give the quote a theme.".into(),
        });
    }
    problems_or(problems, ())?;
    let mut tx = app.db.begin().await?;
    let row = store::lock_transcript(&mut tx, study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if row.status != TranscriptStatus::Redacted {
        return Err(AppError::Conflict(
            "Quotes come from a redacted transcript: redact it first.".into(),
        ));
    }
    let turns = store::turns(tx.conn(), id).await?;
    let turn = turns
        .iter()
        .find(|t| t.position == position)
        .ok_or_else(|| AppError::invalid("position", "The transcript has no such turn."))?;
    let len = turn
        .redacted_text
        .as_deref()
        .unwrap_or_default()
        .chars()
        .count();
    if start < 0 || end <= start || usize::try_from(end).unwrap_or(usize::MAX) > len {
        return Err(AppError::invalid(
            "end",
            format!("Quote characters within the turn (0 to {len}), end after start."),
        ));
    }
    let speaker = turn.speaker.ok_or_else(|| {
        AppError::Conflict(
            "This turn has no speaker, so no one could consent to quoting it.".into(),
        )
    })?;
    let participant = store::speaker_participant(tx.conn(), id, speaker)
        .await?
        .ok_or_else(|| AppError::Conflict("Map this turn's speaker to a participant first: quotes are of participants, with their consent.".into()))?;
    // The gate locks the participant; the code is only for its message.
    let code = crate::participants::store::get(tx.conn(), study, &participant)
        .await?
        .study_code;
    let permit = gate::may(&mut tx, &participant, DataUse::Quotes)
        .await
        .map_err(|e| refused(&code, &DataUse::Quotes, e))?;
    let quote_id = QuoteId::new();
    let now = app.now();
    store::insert_quote(
        &mut tx,
        &NewQuote {
            id: &quote_id,
            study_id: study,
            transcript_id: id,
            position,
            start,
            end,
            participant_id: &participant,
            theme: theme.as_deref().unwrap_or_default(),
            created_by: &actor.account_id,
        },
        now,
    )
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEntry::by_in_study(
            actor,
            study,
            Action::QuoteMark {
                study_code: code.clone(),
                consent_record_id: permit.record_id().clone(),
            },
            Entity::Quote(quote_id.clone()),
        ),
    )
    .await?;
    tx.commit().await?;
    // The gate has just allowed it: usable, as of now.
    Ok(Quote {
        id: quote_id,
        media_item_id: row.item_id,
        position,
        start,
        end,
        theme: theme.unwrap_or_default(),
        study_code: code,
        text: span(
            turn.redacted_text.as_deref().unwrap_or_default(),
            start,
            end,
        ),
        usable: true,
        blocked_because: None,
    })
}

/// Characters `start..end` of `text`.
fn span(text: &str, start: i32, end: i32) -> String {
    let start = usize::try_from(start).unwrap_or(0);
    let len = usize::try_from(end).unwrap_or(0).saturating_sub(start);
    text.chars().skip(start).take(len).collect()
}

/// Decides, from each speaker's consent as it stands, whether each quote
/// may be used now; a blocked quote's words are not shown.
async fn judge(conn: &mut sqlx::AnyConnection, rows: &mut [store::QuoteRow]) -> Result<()> {
    let mut answers: HashMap<ParticipantId, std::result::Result<(), Refusal>> = HashMap::new();
    for r in rows.iter_mut() {
        if !answers.contains_key(&r.participant_id) {
            let answer = gate::answer(conn, &r.participant_id, &DataUse::Quotes)
                .await?
                .map(|_| ());
            answers.insert(r.participant_id.clone(), answer);
        }
        match &answers[&r.participant_id] {
            Ok(()) => {
                r.quote.usable = true;
                r.quote.text = span(
                    r.turn_text.as_deref().unwrap_or_default(),
                    r.quote.start,
                    r.quote.end,
                );
            }
            Err(why) => {
                r.quote.blocked_because = Some(format!(
                    "{}: {}",
                    r.quote.study_code,
                    why.to_string()
                        .replace("This participant", "the participant")
                ));
            }
        }
    }
    Ok(())
}

/// A page of the study's quotes, each marked usable or blocked (and why).
pub async fn quotes(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    page: &PageRequest<QuoteId>,
) -> Result<Page<Quote, QuoteId>> {
    let perm = if crate::auth::policy::permits(
        actor,
        Permission::RecordFieldwork,
        crate::auth::policy::Scope::Study(study),
    ) {
        Permission::RecordFieldwork
    } else {
        Permission::ViewRedactedFieldwork
    };
    require_study(actor, perm, study)?;
    let sites = site_scope(actor, perm, study);
    let found = store::quotes(&app.db.pool, study, &sites, page).await?;
    let mut rows = found.items;
    let mut conn = app.db.pool.acquire().await?;
    judge(&mut conn, &mut rows).await?;
    Ok(Page {
        items: rows.into_iter().map(|r| r.quote).collect(),
        next: found.next,
    })
}

/// What a reviewer sees: counts, never content.
/// The study's usable quotes as CSV for a report (theme, speaker's study
/// code, the redacted words, where they come from). Blocked quotes are left
/// out and counted; the export is audited with both counts.
pub async fn export_quotes(app: &App, actor: &Actor, study: &StudyId) -> Result<String> {
    let mut page = PageRequest {
        after: None,
        limit: crate::db::list::MAX_LIMIT,
    };
    let mut usable = Vec::new();
    let mut blocked = 0;
    loop {
        let found = quotes(app, actor, study, &page).await?;
        for q in found.items {
            if q.usable {
                usable.push(q);
            } else {
                blocked += 1;
            }
        }
        match found.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let cell = crate::consent::register::model::cell;
    let mut out = String::from("quote_id,theme,study_code,text,media_item_id,turn\r\n");
    for q in &usable {
        let cells = [
            q.id.to_string(),
            q.theme.clone(),
            q.study_code.to_string(),
            q.text.clone(),
            q.media_item_id.to_string(),
            (q.position + 1).to_string(),
        ];
        let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    let mut tx = app.db.begin().await?;
    let action = Action::QuotesExport {
        usable: usable.len(),
        blocked,
    };
    let entry = NewEntry::by_in_study(actor, study, action, Entity::Study(study.clone()));
    audit::append(&mut tx, app.now(), entry).await?;
    tx.commit().await?;
    Ok(out)
}

pub async fn checks(app: &App, actor: &Actor, study: &StudyId) -> Result<store::Checks> {
    require_study(actor, Permission::ViewFieldworkChecks, study)?;
    let mut conn = app.db.pool.acquire().await?;
    Ok(store::checks(&mut conn, study).await?)
}
