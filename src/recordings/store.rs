//! SQL for encounters, media items, transcripts, redactions and quotes.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::model::{
    Encounter, EncounterKind, MediaItem, Publication, Quote, Redaction, RedactionState, Speaker,
    SpeakerRole, TranscriptStatus, Turn,
};
use crate::db::list::{ListQuery, Order, Page, PageRequest, SiteScope};
use crate::db::Tx;
use crate::ids::{
    AccountId, EncounterId, MediaItemId, MediaObjectId, ParticipantId, QuoteId, RedactionId,
    SiteId, StudyCode, StudyId, TranscriptId,
};
use crate::media::kind::MediaKind;

fn decode<T>(what: &str, raw: &str, parse: impl Fn(&str) -> Option<T>) -> sqlx::Result<T> {
    parse(raw).ok_or_else(|| sqlx::Error::Decode(format!("unknown {what} {raw}").into()))
}

pub struct NewEncounter<'a> {
    pub id: &'a EncounterId,
    pub study_id: &'a StudyId,
    pub kind: EncounterKind,
    pub occurred_at: i64,
    pub site_id: &'a SiteId,
    pub location: Option<&'a str>,
    pub prompt_set: Option<&'a str>,
    pub duration_minutes: Option<i32>,
    pub notes: Option<&'a str>,
    pub created_by: &'a AccountId,
}

pub async fn insert_encounter(
    tx: &mut Tx,
    e: &NewEncounter<'_>,
    interviewers: &[AccountId],
    participants: &[ParticipantId],
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO encounters (id, study_id, kind, occurred_at, site_id, location, prompt_set,
             duration_minutes, notes, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(e.id)
    .bind(e.study_id)
    .bind(e.kind.as_str())
    .bind(e.occurred_at)
    .bind(e.site_id)
    .bind(e.location)
    .bind(e.prompt_set)
    .bind(e.duration_minutes)
    .bind(e.notes)
    .bind(e.created_by)
    .bind(now)
    .execute(tx.conn())
    .await?;
    for a in interviewers {
        sqlx::query(
            "INSERT INTO encounter_interviewers (encounter_id, account_id) VALUES ($1, $2)",
        )
        .bind(e.id)
        .bind(a)
        .execute(tx.conn())
        .await?;
    }
    for p in participants {
        sqlx::query(
            "INSERT INTO encounter_participants (encounter_id, participant_id) VALUES ($1, $2)",
        )
        .bind(e.id)
        .bind(p)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

const ENCOUNTER_SELECT: &str =
    "SELECT e.id, e.kind, e.occurred_at, e.site_id, e.location, e.prompt_set,
        e.duration_minutes, e.notes,
        (SELECT COUNT(*) FROM media_items m WHERE m.encounter_id = e.id) AS media_count
     FROM encounters e WHERE e.study_id = ";

fn encounter(r: &AnyRow) -> sqlx::Result<Encounter> {
    let kind: String = r.try_get("kind")?;
    Ok(Encounter {
        id: EncounterId::from_db(r.try_get("id")?),
        kind: decode("encounter kind", &kind, EncounterKind::parse)?,
        occurred_at: r.try_get("occurred_at")?,
        site_id: SiteId::from_db(r.try_get("site_id")?),
        location: r.try_get("location")?,
        prompt_set: r.try_get("prompt_set")?,
        duration_minutes: r.try_get("duration_minutes")?,
        notes: r.try_get("notes")?,
        interviewers: Vec::new(),
        participants: Vec::new(),
        media_count: r.try_get("media_count")?,
    })
}

/// Fills in the interviewers' names and the participants' codes of a page
/// of encounters: two queries, whatever the page's length.
async fn with_people(conn: &mut AnyConnection, encounters: &mut [Encounter]) -> sqlx::Result<()> {
    let ids: Vec<&str> = encounters.iter().map(|e| e.id.as_str()).collect();
    let mut names = ListQuery::new(
        "SELECT i.encounter_id, a.display_name FROM encounter_interviewers i
         JOIN accounts a ON a.id = i.account_id WHERE 1 = 1",
    );
    names
        .any_of("i.encounter_id", ids.iter().copied())
        .push(" ORDER BY a.display_name");
    let names = names
        .fetch_all(&mut *conn, |r| {
            Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?))
        })
        .await?;
    let mut codes = ListQuery::new(
        "SELECT ep.encounter_id, p.study_code FROM encounter_participants ep
         JOIN participants p ON p.id = ep.participant_id WHERE 1 = 1",
    );
    codes
        .any_of("ep.encounter_id", ids.iter().copied())
        .push(" ORDER BY p.study_code");
    let codes = codes
        .fetch_all(&mut *conn, |r| {
            Ok((r.try_get::<String, _>(0)?, r.try_get::<StudyCode, _>(1)?))
        })
        .await?;
    for e in encounters.iter_mut() {
        let mine = |id: &String| id.as_str() == e.id.as_str();
        e.interviewers = names
            .iter()
            .filter(|(id, _)| mine(id))
            .map(|(_, n)| n.clone())
            .collect();
        e.participants = codes
            .iter()
            .filter(|(id, _)| mine(id))
            .map(|(_, c)| c.clone())
            .collect();
    }
    Ok(())
}

/// Participants by id and study code, from a query of one id whose
/// participants are joined as `p`.
async fn coded(
    conn: &mut AnyConnection,
    sql: &'static str,
    id: &str,
) -> sqlx::Result<Vec<(ParticipantId, StudyCode)>> {
    let rows = sqlx::query(sql).bind(id).fetch_all(conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("study_code")?)))
        .collect()
}

/// The participants present, by id and study code.
pub async fn present(
    conn: &mut AnyConnection,
    encounter: &EncounterId,
) -> sqlx::Result<Vec<(ParticipantId, StudyCode)>> {
    coded(
        conn,
        "SELECT p.id, p.study_code FROM encounter_participants ep
         JOIN participants p ON p.id = ep.participant_id
         WHERE ep.encounter_id = $1 ORDER BY p.study_code",
        encounter.as_str(),
    )
    .await
}

/// The accounts among `accounts` that are not staff of the study. Changes
/// to membership lock the study's row first (`studies::store::lock_study`);
/// this holds it shared so the memberships read stay as read until the
/// transaction commits. Take it before the participants' locks, in the
/// order a membership change takes them.
pub async fn not_staff(
    tx: &mut Tx,
    study: &StudyId,
    accounts: &[AccountId],
) -> sqlx::Result<Vec<AccountId>> {
    let sql = crate::for_share!(tx, "SELECT id FROM studies WHERE id = $1");
    sqlx::query(sql)
        .bind(study)
        .fetch_optional(tx.conn())
        .await?;
    let mut missing = Vec::new();
    for a in accounts {
        let member = crate::studies::store::member(
            tx.conn(),
            study,
            crate::studies::store::MemberKey::Account(a),
        )
        .await?;
        if !member.is_some_and(|m| m.role != crate::auth::model::Role::Participant) {
            missing.push(a.clone());
        }
    }
    Ok(missing)
}

pub async fn encounter_in(
    conn: &mut AnyConnection,
    study: &StudyId,
    id: &EncounterId,
) -> sqlx::Result<Option<Encounter>> {
    let sql = format!("{ENCOUNTER_SELECT}$1 AND e.id = $2");
    let row = sqlx::query(&sql)
        .bind(study)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let mut found: Vec<Encounter> = row
        .as_ref()
        .map(encounter)
        .transpose()?
        .into_iter()
        .collect();
    with_people(conn, &mut found).await?;
    Ok(found.pop())
}

/// A page of a study's encounters at the reader's sites, newest first.
pub async fn encounters(
    pool: &AnyPool,
    study: &StudyId,
    sites: &SiteScope,
    page: &PageRequest<EncounterId>,
) -> sqlx::Result<Page<Encounter, EncounterId>> {
    let mut q = ListQuery::new(ENCOUNTER_SELECT);
    q.bind(study.as_str()).sites("e.site_id", sites);
    let mut found = q
        .page(pool, "e.id", Order::Descending, page, encounter, |e| {
            e.id.clone()
        })
        .await?;
    let mut conn = pool.acquire().await?;
    with_people(&mut conn, &mut found.items).await?;
    Ok(found)
}

pub struct NewItem<'a> {
    pub id: &'a MediaItemId,
    pub study_id: &'a StudyId,
    pub encounter_id: &'a EncounterId,
    pub object_id: &'a MediaObjectId,
    pub title: &'a str,
    pub public_uses: &'a [String],
}

pub async fn insert_item(
    tx: &mut Tx,
    i: &NewItem<'_>,
    people: &[ParticipantId],
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO media_items (id, study_id, encounter_id, media_object_id, title, publication,
             public_uses, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $7)",
    )
    .bind(i.id)
    .bind(i.study_id)
    .bind(i.encounter_id)
    .bind(i.object_id)
    .bind(i.title)
    .bind(serde_json::to_string(i.public_uses).unwrap_or_else(|_| "[]".into()))
    .bind(now)
    .execute(tx.conn())
    .await?;
    for p in people {
        sqlx::query(
            "INSERT INTO media_item_people (media_item_id, participant_id) VALUES ($1, $2)",
        )
        .bind(i.id)
        .bind(p)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

const ITEM_COLUMNS: &str = "SELECT i.id, i.encounter_id, i.title, i.publication, i.public_uses,
        i.takedown_flagged_at, i.created_at, i.media_object_id, o.kind, o.media_type, o.size_bytes,
        o.sha256, o.storage, o.erased_at, t.id AS transcript_id
     FROM media_items i JOIN media_objects o ON o.id = i.media_object_id
     LEFT JOIN transcripts t ON t.media_item_id = i.id";

/// A media item, and the object that holds its bytes.
pub struct ItemRow {
    pub item: MediaItem,
    pub object_id: MediaObjectId,
}

fn item(r: &AnyRow) -> sqlx::Result<ItemRow> {
    let publication: String = r.try_get("publication")?;
    let kind: String = r.try_get("kind")?;
    let uses: String = r.try_get("public_uses")?;
    let erased: Option<i64> = r.try_get("erased_at")?;
    let storage: String = r.try_get("storage")?;
    Ok(ItemRow {
        object_id: MediaObjectId::from_db(r.try_get("media_object_id")?),
        item: MediaItem {
            id: MediaItemId::from_db(r.try_get("id")?),
            encounter_id: EncounterId::from_db(r.try_get("encounter_id")?),
            title: r.try_get("title")?,
            kind: decode("media kind", &kind, MediaKind::parse)?,
            media_type: r.try_get("media_type")?,
            size_bytes: u64::try_from(r.try_get::<i64, _>("size_bytes")?).unwrap_or(0),
            sha256: r.try_get("sha256")?,
            storage: if erased.is_some() {
                "erased".into()
            } else {
                storage
            },
            publication: decode("publication", &publication, Publication::parse)?,
            public_uses: serde_json::from_str(&uses).unwrap_or_default(),
            people: Vec::new(),
            takedown_flagged: r
                .try_get::<Option<i64>, _>("takedown_flagged_at")?
                .is_some(),
            transcript_id: r
                .try_get::<Option<String>, _>("transcript_id")?
                .map(TranscriptId::from_db),
            created_at: r.try_get("created_at")?,
        },
    })
}

/// The identifiable people in an item, by id and code.
pub async fn people(
    conn: &mut AnyConnection,
    item: &MediaItemId,
) -> sqlx::Result<Vec<(ParticipantId, StudyCode)>> {
    coded(
        conn,
        "SELECT p.id, p.study_code FROM media_item_people mp
         JOIN participants p ON p.id = mp.participant_id
         WHERE mp.media_item_id = $1 ORDER BY p.study_code",
        item.as_str(),
    )
    .await
}

async fn with_item_people(conn: &mut AnyConnection, mut row: ItemRow) -> sqlx::Result<ItemRow> {
    row.item.people = people(conn, &row.item.id)
        .await?
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    Ok(row)
}

pub async fn item_in(
    conn: &mut AnyConnection,
    study: &StudyId,
    id: &MediaItemId,
) -> sqlx::Result<Option<ItemRow>> {
    let sql = format!("{ITEM_COLUMNS} WHERE i.study_id = $1 AND i.id = $2");
    let row = sqlx::query(&sql)
        .bind(study)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(r) => Ok(Some(with_item_people(conn, item(&r)?).await?)),
        None => Ok(None),
    }
}

/// A media item, its row locked for a change of publication state.
pub async fn lock_item(
    tx: &mut Tx,
    study: &StudyId,
    id: &MediaItemId,
) -> sqlx::Result<Option<ItemRow>> {
    if crate::db::lock_in_study(tx, "media_items", study, id.as_str()).await? {
        item_in(tx.conn(), study, id).await
    } else {
        Ok(None)
    }
}

pub async fn items_of(
    conn: &mut AnyConnection,
    encounter: &EncounterId,
) -> sqlx::Result<Vec<MediaItem>> {
    let sql = format!("{ITEM_COLUMNS} WHERE i.encounter_id = $1 ORDER BY i.created_at, i.id");
    let rows = sqlx::query(&sql)
        .bind(encounter)
        .fetch_all(&mut *conn)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push(with_item_people(conn, item(r)?).await?.item);
    }
    Ok(items)
}

pub async fn set_publication(
    tx: &mut Tx,
    id: &MediaItemId,
    to: Publication,
    now: i64,
) -> sqlx::Result<()> {
    // Taking an item down, or starting it again as a draft, answers the flag.
    sqlx::query(
        "UPDATE media_items SET publication = $1, updated_at = $2,
             takedown_flagged_at = CASE WHEN $1 IN ('taken_down', 'draft') THEN NULL ELSE takedown_flagged_at END
         WHERE id = $3",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Items a participant is in that are on their way to public use or out
/// there, with the account that recorded each, for the take-down check.
pub async fn public_items_with(
    tx: &mut Tx,
    participant: &ParticipantId,
) -> sqlx::Result<Vec<(MediaItemId, String, Vec<String>, AccountId)>> {
    let rows = sqlx::query(
        "SELECT i.id, i.title, i.public_uses, o.created_by FROM media_item_people mp
         JOIN media_items i ON i.id = mp.media_item_id
         JOIN media_objects o ON o.id = i.media_object_id
         WHERE mp.participant_id = $1 AND i.publication IN ('approved', 'published')
           AND i.takedown_flagged_at IS NULL
         ORDER BY i.id",
    )
    .bind(participant)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| {
            let uses: String = r.try_get("public_uses")?;
            Ok((
                MediaItemId::from_db(r.try_get("id")?),
                r.try_get("title")?,
                serde_json::from_str(&uses).unwrap_or_default(),
                AccountId::from_db(r.try_get("created_by")?),
            ))
        })
        .collect()
}

pub async fn flag_takedown(tx: &mut Tx, id: &MediaItemId, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE media_items SET takedown_flagged_at = $1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The stored objects a participant is in (as a person in an item, or as a
/// mapped speaker of a transcript's original), with how many other
/// participants share each.
pub async fn objects_with(
    tx: &mut Tx,
    participant: &ParticipantId,
) -> sqlx::Result<Vec<(MediaObjectId, i64)>> {
    let rows = sqlx::query(
        "SELECT i.media_object_id AS object_id,
                (SELECT COUNT(*) FROM media_item_people o WHERE o.media_item_id = i.id AND o.participant_id <> $1) AS others
         FROM media_item_people mp JOIN media_items i ON i.id = mp.media_item_id
         WHERE mp.participant_id = $1
         UNION
         SELECT t.original_object_id AS object_id,
                (SELECT COUNT(*) FROM transcript_speakers o WHERE o.transcript_id = t.id
                   AND o.role = 'participant' AND o.participant_id <> $1) AS others
         FROM transcript_speakers s JOIN transcripts t ON t.id = s.transcript_id
         WHERE s.participant_id = $1",
    )
    .bind(participant)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                MediaObjectId::from_db(r.try_get("object_id")?),
                r.try_get("others")?,
            ))
        })
        .collect()
}

/// Blanks the raw and redacted words of a participant's turns.
pub async fn erase_turns_of(tx: &mut Tx, participant: &ParticipantId) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE transcript_turns SET text_sealed = NULL, redacted_text = NULL
         WHERE (transcript_id, speaker) IN
             (SELECT transcript_id, speaker FROM transcript_speakers WHERE participant_id = $1)
           AND (text_sealed IS NOT NULL OR redacted_text IS NOT NULL)",
    )
    .bind(participant)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

// Transcripts.

pub struct NewTranscript<'a> {
    pub id: &'a TranscriptId,
    pub study_id: &'a StudyId,
    pub item_id: &'a MediaItemId,
    pub original: &'a MediaObjectId,
    pub format: &'a str,
    pub created_by: &'a AccountId,
}

pub struct NewTurn {
    pub speaker: Option<i32>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub text_sealed: String,
}

pub async fn insert_transcript(
    tx: &mut Tx,
    t: &NewTranscript<'_>,
    speakers: usize,
    turns: &[NewTurn],
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO transcripts (id, study_id, media_item_id, original_object_id, format, status,
             created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'raw', $6, $7, $7)",
    )
    .bind(t.id)
    .bind(t.study_id)
    .bind(t.item_id)
    .bind(t.original)
    .bind(t.format)
    .bind(t.created_by)
    .bind(now)
    .execute(tx.conn())
    .await?;
    for s in 0..speakers {
        sqlx::query(
            "INSERT INTO transcript_speakers (transcript_id, speaker, role) VALUES ($1, $2, 'unmapped')",
        )
        .bind(t.id)
        .bind(i32::try_from(s).unwrap_or(i32::MAX))
        .execute(tx.conn())
        .await?;
    }
    for (position, turn) in turns.iter().enumerate() {
        sqlx::query(
            "INSERT INTO transcript_turns (transcript_id, position, speaker, start_ms, end_ms, text_sealed)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.id)
        .bind(i32::try_from(position).unwrap_or(i32::MAX))
        .bind(turn.speaker)
        .bind(turn.start_ms)
        .bind(turn.end_ms)
        .bind(&turn.text_sealed)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// A transcript's row.
pub struct TranscriptRow {
    pub id: TranscriptId,
    pub item_id: MediaItemId,
    pub original: MediaObjectId,
    pub format: String,
    pub status: TranscriptStatus,
}

fn transcript(r: &AnyRow) -> sqlx::Result<TranscriptRow> {
    let status: String = r.try_get("status")?;
    Ok(TranscriptRow {
        id: TranscriptId::from_db(r.try_get("id")?),
        item_id: MediaItemId::from_db(r.try_get("media_item_id")?),
        original: MediaObjectId::from_db(r.try_get("original_object_id")?),
        format: r.try_get("format")?,
        status: decode("transcript status", &status, TranscriptStatus::parse)?,
    })
}

pub async fn transcript_in(
    conn: &mut AnyConnection,
    study: &StudyId,
    id: &TranscriptId,
) -> sqlx::Result<Option<TranscriptRow>> {
    sqlx::query(
        "SELECT id, media_item_id, original_object_id, format, status FROM transcripts
         WHERE study_id = $1 AND id = $2",
    )
    .bind(study)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(transcript)
    .transpose()
}

/// The transcript's row, locked: every change to its speakers, marks,
/// status and quotes takes this lock and decides after it.
pub async fn lock_transcript(
    tx: &mut Tx,
    study: &StudyId,
    id: &TranscriptId,
) -> sqlx::Result<Option<TranscriptRow>> {
    let sql = crate::for_update!(
        tx,
        "SELECT id, media_item_id, original_object_id, format, status FROM transcripts
         WHERE study_id = $1 AND id = $2"
    );
    sqlx::query(sql)
        .bind(study)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .as_ref()
        .map(transcript)
        .transpose()
}

pub async fn set_status(
    tx: &mut Tx,
    id: &TranscriptId,
    status: TranscriptStatus,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE transcripts SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now)
        .bind(id)
        .execute(tx.conn())
        .await?;
    if status != TranscriptStatus::Redacted {
        sqlx::query("UPDATE transcript_turns SET redacted_text = NULL WHERE transcript_id = $1")
            .bind(id)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

pub async fn speakers(conn: &mut AnyConnection, id: &TranscriptId) -> sqlx::Result<Vec<Speaker>> {
    let rows = sqlx::query(
        "SELECT s.speaker, s.role, p.study_code FROM transcript_speakers s
         LEFT JOIN participants p ON p.id = s.participant_id
         WHERE s.transcript_id = $1 ORDER BY s.speaker",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok(Speaker {
                speaker: r.try_get("speaker")?,
                role: decode("speaker role", &role, SpeakerRole::parse)?,
                study_code: r.try_get::<Option<StudyCode>, _>("study_code")?,
            })
        })
        .collect()
}

pub async fn map_speaker(
    tx: &mut Tx,
    id: &TranscriptId,
    speaker: i32,
    role: SpeakerRole,
    participant: Option<&ParticipantId>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE transcript_speakers SET role = $1, participant_id = $2
         WHERE transcript_id = $3 AND speaker = $4",
    )
    .bind(role.as_str())
    .bind(participant)
    .bind(id)
    .bind(speaker)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The participant speaker N was mapped to, if any.
pub async fn speaker_participant(
    conn: &mut AnyConnection,
    id: &TranscriptId,
    speaker: i32,
) -> sqlx::Result<Option<ParticipantId>> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT participant_id FROM transcript_speakers WHERE transcript_id = $1 AND speaker = $2",
    )
    .bind(id)
    .bind(speaker)
    .fetch_optional(conn)
    .await?
    .flatten()
    .map(ParticipantId::from_db))
}

/// Turns with their sealed raw text and their redacted text.
pub struct TurnRow {
    pub position: i32,
    pub speaker: Option<i32>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub text_sealed: Option<String>,
    pub redacted_text: Option<String>,
}

pub async fn turns(conn: &mut AnyConnection, id: &TranscriptId) -> sqlx::Result<Vec<TurnRow>> {
    let rows = sqlx::query(
        "SELECT position, speaker, start_ms, end_ms, text_sealed, redacted_text
         FROM transcript_turns WHERE transcript_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TurnRow {
                position: r.try_get("position")?,
                speaker: r.try_get("speaker")?,
                start_ms: r.try_get("start_ms")?,
                end_ms: r.try_get("end_ms")?,
                text_sealed: r.try_get("text_sealed")?,
                redacted_text: r.try_get("redacted_text")?,
            })
        })
        .collect()
}

pub async fn set_redacted(
    tx: &mut Tx,
    id: &TranscriptId,
    position: i32,
    text: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE transcript_turns SET redacted_text = $1
         WHERE transcript_id = $2 AND position = $3 AND text_sealed IS NOT NULL",
    )
    .bind(text)
    .bind(id)
    .bind(position)
    .execute(tx.conn())
    .await?;
    Ok(())
}

impl From<&TurnRow> for Turn {
    fn from(t: &TurnRow) -> Turn {
        Turn {
            position: t.position,
            speaker: t.speaker,
            start_ms: t.start_ms,
            end_ms: t.end_ms,
            text: String::new(),
        }
    }
}

// Redactions.

pub struct NewRedaction<'a> {
    pub transcript_id: &'a TranscriptId,
    pub position: i32,
    pub start: i32,
    pub end: i32,
    pub category: &'a str,
    pub state: RedactionState,
    pub suggested_because: Option<&'a str>,
    pub created_by: Option<&'a AccountId>,
}

pub async fn insert_redaction(
    tx: &mut Tx,
    r: &NewRedaction<'_>,
    now: i64,
) -> sqlx::Result<RedactionId> {
    let id = RedactionId::new();
    sqlx::query(
        "INSERT INTO redactions (id, transcript_id, position, start_char, end_char, category, state,
             suggested_because, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(r.transcript_id)
    .bind(r.position)
    .bind(r.start)
    .bind(r.end)
    .bind(r.category)
    .bind(r.state.as_str())
    .bind(r.suggested_because)
    .bind(r.created_by)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(id)
}

pub async fn redactions(
    conn: &mut AnyConnection,
    id: &TranscriptId,
) -> sqlx::Result<Vec<Redaction>> {
    let rows = sqlx::query(
        "SELECT id, position, start_char, end_char, category, state, suggested_because, tag
         FROM redactions WHERE transcript_id = $1 ORDER BY position, start_char, id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let state: String = r.try_get("state")?;
            Ok(Redaction {
                id: RedactionId::from_db(r.try_get("id")?),
                position: r.try_get("position")?,
                start: r.try_get("start_char")?,
                end: r.try_get("end_char")?,
                category: r.try_get("category")?,
                state: decode("redaction state", &state, RedactionState::parse)?,
                suggested_because: r.try_get("suggested_because")?,
                tag: r.try_get("tag")?,
            })
        })
        .collect()
}

pub async fn set_redaction_state(
    tx: &mut Tx,
    transcript: &TranscriptId,
    id: &RedactionId,
    state: RedactionState,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE redactions SET state = $1, tag = NULL, original_sealed = NULL
         WHERE transcript_id = $2 AND id = $3",
    )
    .bind(state.as_str())
    .bind(transcript)
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn log_redaction(
    tx: &mut Tx,
    id: &RedactionId,
    tag: &str,
    original_sealed: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE redactions SET tag = $1, original_sealed = $2 WHERE id = $3")
        .bind(tag)
        .bind(original_sealed)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn deny_terms(
    conn: &mut AnyConnection,
    study: &StudyId,
) -> sqlx::Result<Vec<(String, String)>> {
    let rows =
        sqlx::query("SELECT id, term_sealed FROM redaction_terms WHERE study_id = $1 ORDER BY id")
            .bind(study)
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("term_sealed")?)))
        .collect()
}

pub async fn insert_deny_term(
    tx: &mut Tx,
    id: &str,
    study: &StudyId,
    term_sealed: &str,
    by: &AccountId,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO redaction_terms (id, study_id, term_sealed, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(study)
    .bind(term_sealed)
    .bind(by)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

// Quotes.

pub struct NewQuote<'a> {
    pub id: &'a QuoteId,
    pub study_id: &'a StudyId,
    pub transcript_id: &'a TranscriptId,
    pub position: i32,
    pub start: i32,
    pub end: i32,
    pub participant_id: &'a ParticipantId,
    pub theme: &'a str,
    pub created_by: &'a AccountId,
}

pub async fn insert_quote(tx: &mut Tx, q: &NewQuote<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO quotes (id, study_id, transcript_id, position, start_char, end_char,
             participant_id, theme, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(q.id)
    .bind(q.study_id)
    .bind(q.transcript_id)
    .bind(q.position)
    .bind(q.start)
    .bind(q.end)
    .bind(q.participant_id)
    .bind(q.theme)
    .bind(q.created_by)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A quote with its speaker and the redacted words of its turn.
pub struct QuoteRow {
    pub quote: Quote,
    pub participant_id: ParticipantId,
    pub turn_text: Option<String>,
}

const QUOTE_SELECT: &str = "SELECT q.id, t.media_item_id, q.position, q.start_char, q.end_char, q.theme,
        p.id AS participant_id, p.study_code, tt.redacted_text
     FROM quotes q JOIN participants p ON p.id = q.participant_id
     JOIN transcripts t ON t.id = q.transcript_id
     LEFT JOIN transcript_turns tt ON tt.transcript_id = q.transcript_id AND tt.position = q.position";

/// A page of a study's quotes at the reader's sites (the speaker's site), newest first.
pub async fn quotes(
    pool: &AnyPool,
    study: &StudyId,
    sites: &SiteScope,
    page: &PageRequest<QuoteId>,
) -> sqlx::Result<Page<QuoteRow, QuoteId>> {
    let mut q = ListQuery::new(QUOTE_SELECT);
    q.push(" WHERE q.study_id = ");
    q.bind(study.as_str()).sites("p.site_id", sites);
    q.page(pool, "q.id", Order::Descending, page, quote, |q| {
        q.quote.id.clone()
    })
    .await
}

fn quote(r: &AnyRow) -> sqlx::Result<QuoteRow> {
    Ok(QuoteRow {
        participant_id: r.try_get("participant_id")?,
        turn_text: r.try_get("redacted_text")?,
        quote: Quote {
            id: QuoteId::from_db(r.try_get("id")?),
            media_item_id: MediaItemId::from_db(r.try_get("media_item_id")?),
            position: r.try_get("position")?,
            start: r.try_get("start_char")?,
            end: r.try_get("end_char")?,
            theme: r.try_get("theme")?,
            study_code: r.try_get("study_code")?,
            text: String::new(),
            usable: false,
            blocked_because: None,
        },
    })
}

/// Counts for a reviewer: what was recorded and that it passed its checks.
#[derive(Clone, Debug, Default, serde::Serialize, poem_openapi::Object)]
pub struct Checks {
    pub encounters: i64,
    pub media_items: i64,
    pub published: i64,
    pub flagged_for_takedown: i64,
    pub transcripts_redacted: i64,
    pub quotes: i64,
    pub media_erased: i64,
    pub media_kept_after_withdrawal: i64,
}

pub async fn checks(conn: &mut AnyConnection, study: &StudyId) -> sqlx::Result<Checks> {
    let row = sqlx::query(
        "SELECT
            (SELECT COUNT(*) FROM encounters WHERE study_id = $1) AS encounters,
            (SELECT COUNT(*) FROM media_items WHERE study_id = $1) AS media_items,
            (SELECT COUNT(*) FROM media_items WHERE study_id = $1 AND publication = 'published') AS published,
            (SELECT COUNT(*) FROM media_items WHERE study_id = $1 AND takedown_flagged_at IS NOT NULL) AS flagged,
            (SELECT COUNT(*) FROM transcripts WHERE study_id = $1 AND status = 'redacted') AS redacted,
            (SELECT COUNT(*) FROM quotes WHERE study_id = $1) AS quotes,
            (SELECT COUNT(*) FROM media_erasures e JOIN media_objects o ON o.id = e.media_object_id
               WHERE o.study_id = $1 AND e.outcome = 'removed') AS erased,
            (SELECT COUNT(*) FROM media_erasures e JOIN media_objects o ON o.id = e.media_object_id
               WHERE o.study_id = $1 AND e.outcome = 'kept') AS kept",
    )
    .bind(study)
    .fetch_one(conn)
    .await?;
    Ok(Checks {
        encounters: row.try_get("encounters")?,
        media_items: row.try_get("media_items")?,
        published: row.try_get("published")?,
        flagged_for_takedown: row.try_get("flagged")?,
        transcripts_redacted: row.try_get("redacted")?,
        quotes: row.try_get("quotes")?,
        media_erased: row.try_get("erased")?,
        media_kept_after_withdrawal: row.try_get("kept")?,
    })
}
