//! The media store's use cases: receiving a file as it streams in (hashed,
//! checked against its declared kind, stripped of location if a photo,
//! encrypted under its own data key into a temporary file), putting it in
//! place in the same transaction as the record that refers to it, reading
//! any byte range of it back, and erasing it.
//!
//! A refused or abandoned upload leaves nothing behind: the temporary file
//! belongs to a guard that deletes it unless the file was placed, and a
//! placed file whose transaction did not commit is deleted by its own guard.
//! A crash between the two is caught by `sweep`, which removes files that no
//! live record names.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::crypt::{self, DataKey, Decryptor, Encryptor};
use super::kind::{self, MediaKind};
use super::store::{self, Cause, Location, NewObject, ObjectRow, Purpose};
use crate::app::App;
use crate::db::Tx;
use crate::error::{AppError, Result};
use crate::ids::{AccountId, MediaObjectId, ParticipantId, StudyId};

/// Photos are read whole to remove their location data; none is larger.
pub const MAX_PHOTO_BYTES: u64 = 50 * 1024 * 1024;
/// How much of a file is read before its kind is decided.
const SNIFF_BYTES: usize = 64 * 1024;
const SUFFIX: &str = "fkm";

/// The folder the encrypted files live in.
pub struct MediaStore {
    dir: PathBuf,
}

impl MediaStore {
    pub fn open(dir: &Path) -> anyhow::Result<MediaStore> {
        crate::config::private_dir(&dir.join("tmp"))?;
        Ok(MediaStore {
            dir: dir.to_owned(),
        })
    }

    /// `<dir>/<last two hex digits>/<id>.fkm`: server-chosen, spread over 256
    /// folders (the last digits of a UUID v7 are random).
    fn path_of(&self, id: &MediaObjectId) -> PathBuf {
        let s = id.as_str();
        self.dir
            .join(&s[s.len().saturating_sub(2)..])
            .join(format!("{s}.{SUFFIX}"))
    }

    fn temp_path(&self) -> PathBuf {
        self.dir
            .join("tmp")
            .join(format!("{}.part", uuid::Uuid::new_v4().simple()))
    }
}

/// Deletes its file when dropped, unless told to keep it.
struct FileGuard {
    path: PathBuf,
    keep: bool,
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A file received and encrypted, not yet in place.
pub struct Staged {
    pub id: MediaObjectId,
    pub kind: MediaKind,
    pub media_type: String,
    pub size: u64,
    pub sha256: String,
    data_key_sealed: String,
    temp: FileGuard,
}

/// A file moved into place; deleted again unless `keep` is called after the
/// transaction that records it commits.
#[must_use = "call keep() once the transaction has committed"]
pub struct Placed(FileGuard);

impl Placed {
    pub fn keep(mut self) {
        self.0.keep = true;
    }
}

fn io_error(e: std::io::Error) -> AppError {
    AppError::internal(anyhow::Error::new(e).context("the media folder"))
}

/// Where a file's bytes come from: chunks as they arrive, with the error
/// that reading them may end in.
pub type Chunks<'a> = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes>> + Send + 'a>>;

/// Receives a file of the declared kind, at most `limit` bytes: refused
/// (and nothing kept) when its bytes are not what was declared, when it is
/// too large, or when a photo's location cannot be removed.
pub async fn receive(
    app: &App,
    declared: MediaKind,
    mut chunks: Chunks<'_>,
    limit: u64,
    field: &str,
) -> Result<Staged> {
    let limit = if declared == MediaKind::Photo {
        limit.min(MAX_PHOTO_BYTES)
    } else {
        limit
    };
    let too_large = || AppError::TooLarge {
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    };
    let id = MediaObjectId::new();
    let key = crypt::new_data_key();
    let (mut encryptor, header) = Encryptor::new(&key, id.as_str().as_bytes());
    let temp = FileGuard {
        path: app.media.temp_path(),
        keep: false,
    };
    let mut file = private_file(&temp.path).await?;
    file.write_all(&header).await.map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::new();
    let mut sniffed = None;
    let mut out = Vec::new();
    // Photos are held whole (at most MAX_PHOTO_BYTES) until their location is gone.
    let whole = declared == MediaKind::Photo;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large());
        }
        if whole || sniffed.is_none() {
            head.extend_from_slice(&chunk);
            if !whole && head.len() >= SNIFF_BYTES {
                sniffed = Some(check_kind(declared, &head, field)?);
                write_plain(&mut file, &mut encryptor, &mut hasher, &mut out, &head).await?;
                head = Vec::new();
            }
        } else {
            write_plain(&mut file, &mut encryptor, &mut hasher, &mut out, &chunk).await?;
        }
    }
    if size == 0 {
        return Err(AppError::invalid(field, "The file is empty."));
    }
    let sniffed = match sniffed {
        Some(s) => s,
        None => {
            let s = check_kind(declared, &head, field)?;
            if whole {
                head = kind::strip_location(head)
                    .map_err(|e| AppError::invalid(field, e.to_string()))?;
                size = head.len() as u64;
            }
            write_plain(&mut file, &mut encryptor, &mut hasher, &mut out, &head).await?;
            s
        }
    };
    encryptor.finish(&mut out);
    file.write_all(&out).await.map_err(io_error)?;
    file.sync_all().await.map_err(io_error)?;
    Ok(Staged {
        data_key_sealed: seal_key(app, &id, &key),
        id,
        kind: declared,
        media_type: sniffed.media_type.to_string(),
        size,
        sha256: hex::encode(hasher.finalize()),
        temp,
    })
}

/// Receives bytes already in memory (a transcript's original, a scan sent as
/// base64).
pub async fn receive_bytes(
    app: &App,
    declared: MediaKind,
    bytes: Bytes,
    field: &str,
) -> Result<Staged> {
    let limit = bytes.len() as u64;
    let chunks: Chunks<'_> = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
    receive(app, declared, chunks, limit.max(1), field).await
}

fn check_kind(declared: MediaKind, head: &[u8], field: &str) -> Result<kind::Sniffed> {
    let sniffed = kind::sniff(head);
    if kind::accepts(declared, &sniffed) {
        Ok(sniffed)
    } else {
        Err(AppError::invalid(
            field,
            format!(
                "The file is {}, not {} as declared.",
                sniffed.name,
                declared.label().to_lowercase()
            ),
        ))
    }
}

async fn write_plain(
    file: &mut tokio::fs::File,
    encryptor: &mut Encryptor,
    hasher: &mut Sha256,
    out: &mut Vec<u8>,
    plain: &[u8],
) -> Result<()> {
    hasher.update(plain);
    encryptor.push(plain, out);
    if !out.is_empty() {
        file.write_all(out).await.map_err(io_error)?;
        out.clear();
    }
    Ok(())
}

async fn private_file(path: &Path) -> Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(io_error)
}

fn seal_key(app: &App, id: &MediaObjectId, key: &DataKey) -> String {
    app.vault.seal(
        "media_objects",
        "data_key",
        id.as_str(),
        &hex::encode(key.as_slice()),
    )
}

impl Staged {
    /// Records the object in `tx` and moves the file into place. Keep the
    /// result once `tx` has committed.
    pub async fn record(
        self,
        tx: &mut Tx,
        app: &App,
        study: &StudyId,
        purpose: Purpose,
        original_name: Option<&str>,
        by: &AccountId,
    ) -> Result<Placed> {
        let name_sealed = original_name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                app.vault
                    .seal("media_objects", "original_name", self.id.as_str(), n)
            });
        let location = Location::Stored {
            data_key_sealed: self.data_key_sealed.clone(),
        };
        store::insert(
            tx,
            &NewObject {
                id: &self.id,
                study_id: study,
                purpose,
                kind: self.kind,
                media_type: &self.media_type,
                size_bytes: self.size,
                sha256: Some(&self.sha256),
                location: &location,
                original_name_sealed: name_sealed.as_deref(),
                created_by: by,
            },
            app.now(),
        )
        .await?;
        let dest = app.media.path_of(&self.id);
        if let Some(parent) = dest.parent() {
            crate::config::private_dir(parent).map_err(io_error)?;
        }
        let mut temp = self.temp;
        tokio::fs::rename(&temp.path, &dest)
            .await
            .map_err(io_error)?;
        temp.keep = true;
        if let Some(parent) = dest.parent() {
            // The rename is durable only once its folder is.
            if let Ok(dir) = tokio::fs::File::open(parent).await {
                let _ = dir.sync_all().await;
            }
        }
        Ok(Placed(FileGuard {
            path: dest,
            keep: false,
        }))
    }
}

/// A reference to a file kept on the team's own storage, too big to upload.
pub struct External<'a> {
    pub reference: &'a str,
    pub kind: MediaKind,
    pub size_bytes: u64,
    pub sha256: Option<&'a str>,
}

/// Checks a reference's SHA-256 (64 hex digits) and location before any lock.
pub fn check_external(e: &External<'_>) -> Result<()> {
    let mut problems = Vec::new();
    let reference = e.reference.trim();
    if reference.is_empty() || reference.len() > 2000 || reference.chars().any(char::is_control) {
        problems.push(crate::error::FieldProblem {
            field: "reference".into(),
            detail: "Give the path or URI of the file on your team's storage (at most 2,000 characters).".into(),
        });
    }
    if let Some(h) = e.sha256 {
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push(crate::error::FieldProblem {
                field: "sha256".into(),
                detail: "A SHA-256 checksum is 64 hexadecimal digits.".into(),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(problems))
    }
}

/// Records an external reference in `tx`.
pub async fn record_external(
    tx: &mut Tx,
    app: &App,
    study: &StudyId,
    e: &External<'_>,
    by: &AccountId,
) -> Result<MediaObjectId> {
    check_external(e)?;
    let id = MediaObjectId::new();
    let location = Location::External {
        reference_sealed: app.vault.seal(
            "media_objects",
            "external_ref",
            id.as_str(),
            e.reference.trim(),
        ),
    };
    let sha = e.sha256.map(str::to_ascii_lowercase);
    store::insert(
        tx,
        &NewObject {
            id: &id,
            study_id: study,
            purpose: Purpose::Recording,
            kind: e.kind,
            media_type: "application/octet-stream",
            size_bytes: e.size_bytes,
            sha256: sha.as_deref(),
            location: &location,
            original_name_sealed: None,
            created_by: by,
        },
        app.now(),
    )
    .await?;
    Ok(id)
}

/// An object opened for reading.
pub struct Opened {
    pub row: ObjectRow,
    file: tokio::fs::File,
    decryptor: Decryptor,
}

/// Opens a stored object of `study`. NotFound for another study's, an
/// external reference's or an erased object's bytes.
pub async fn open(app: &App, study: &StudyId, id: &MediaObjectId) -> Result<Opened> {
    let mut conn = app.db.pool.acquire().await?;
    let row = store::get(&mut conn, id).await?.ok_or(AppError::NotFound)?;
    drop(conn);
    if &row.study_id != study {
        return Err(AppError::NotFound);
    }
    let Some(Location::Stored { data_key_sealed }) = &row.location else {
        return Err(AppError::NotFound);
    };
    let opened = app
        .vault
        .open("media_objects", "data_key", id.as_str(), data_key_sealed)
        .map_err(AppError::internal)?;
    let mut key = DataKey::default();
    hex::decode_to_slice(opened.as_bytes(), key.as_mut_slice()).map_err(AppError::internal)?;
    let mut file = tokio::fs::File::open(app.media.path_of(id))
        .await
        .map_err(io_error)?;
    // A file cut short or grown on disk is found here, not halfway through a reply.
    let on_disk = file.metadata().await.map_err(io_error)?.len();
    if crypt::plaintext_len(on_disk).ok() != Some(row.size_bytes) {
        return Err(AppError::internal(anyhow::anyhow!(
            "media object {id}: the stored file's length does not match its record"
        )));
    }
    let mut header = vec![0; crypt::HEADER_LEN];
    file.read_exact(&mut header).await.map_err(io_error)?;
    let decryptor =
        Decryptor::new(&key, id.as_str().as_bytes(), &header).map_err(AppError::internal)?;
    Ok(Opened {
        row,
        file,
        decryptor,
    })
}

impl Opened {
    /// The whole plaintext, for small files read by the server itself (a
    /// transcript's original, a consent scan).
    pub async fn read_all(self) -> Result<Vec<u8>> {
        let len = self.row.size_bytes;
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        let mut stream = std::pin::pin!(self.range(0, len.saturating_sub(1)));
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(AppError::internal)?);
        }
        Ok(out)
    }

    /// The plaintext bytes `start..=end`, decrypted a segment at a time as
    /// they are sent, so memory stays at one segment whatever the file's size.
    pub fn range(self, start: u64, end: u64) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
        let plan = crypt::plan(self.row.size_bytes, start, end);
        let segments = plan.segments();
        futures_util::stream::try_unfold(
            (self, plan, segments, false),
            |(mut o, plan, mut segments, sought)| async move {
                let Some(index) = segments.next() else {
                    return Ok(None);
                };
                if !sought {
                    o.file
                        .seek(std::io::SeekFrom::Start(plan.file_offset))
                        .await?;
                }
                let mut buf = vec![0; plan.segment_len(index)];
                o.file.read_exact(&mut buf).await?;
                o.decryptor
                    .segment(index, plan.is_last(index), &mut buf)
                    .map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                    })?;
                let bytes = Bytes::copy_from_slice(plan.trim(index, &buf));
                Ok(Some((bytes, (o, plan, segments, true))))
            },
        )
    }
}

/// Erases an object in `tx`: its data key goes, so the file can no longer be
/// opened even before `sweep` deletes it. Records the decision.
pub async fn erase(
    tx: &mut Tx,
    app: &App,
    id: &MediaObjectId,
    participant: Option<&ParticipantId>,
    cause: Cause,
) -> Result<bool> {
    let now = app.now();
    let erased = store::erase(tx, id, now).await?;
    if erased {
        store::record_decision(tx, id, participant, cause, None, now).await?;
    }
    Ok(erased)
}

/// Deletes files that no live record names (erased, or left by a crash
/// between placing a file and committing its record) and temporary files
/// older than a day. Files younger than an hour are left alone: their
/// transaction may still be committing.
pub async fn sweep(app: &App) -> anyhow::Result<u64> {
    sweep_older_than(app, std::time::Duration::from_secs(3600)).await
}

/// `sweep`, for files older than `age`.
pub async fn sweep_older_than(app: &App, age: std::time::Duration) -> anyhow::Result<u64> {
    let cutoff = std::time::SystemTime::now() - age;
    let mut candidates = Vec::new();
    let mut dirs = tokio::fs::read_dir(&app.media.dir).await?;
    while let Some(dir) = dirs.next_entry().await? {
        if !dir.file_type().await?.is_dir() {
            continue;
        }
        let is_temp = dir.file_name() == "tmp";
        let mut files = tokio::fs::read_dir(dir.path()).await?;
        while let Some(f) = files.next_entry().await? {
            let modified = f.metadata().await?.modified()?;
            if is_temp {
                // An upload may stream for hours; a day-old part file is abandoned.
                if modified + std::time::Duration::from_secs(24 * 3600)
                    < std::time::SystemTime::now()
                {
                    tokio::fs::remove_file(f.path()).await?;
                }
                continue;
            }
            if modified >= cutoff {
                continue;
            }
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(&format!(".{SUFFIX}")) {
                candidates.push((id.to_owned(), f.path()));
            }
        }
    }
    let ids: Vec<String> = candidates.iter().map(|(id, _)| id.clone()).collect();
    let live = store::live_among(&app.db.pool, &ids).await?;
    let mut removed = 0;
    for (id, path) in candidates {
        if !live.contains(&id) {
            tokio::fs::remove_file(path).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Erases every object whose study's retention period has run out, a batch
/// per transaction, recording each decision; then sweeps their files.
pub async fn apply_retention(app: &App) -> anyhow::Result<u64> {
    let mut erased = 0;
    loop {
        let mut tx = app.db.begin().await?;
        let due = store::past_retention(tx.conn(), app.now(), 200).await?;
        if due.is_empty() {
            break;
        }
        for id in &due {
            if erase(&mut tx, app, id, None, Cause::Retention).await? {
                erased += 1;
            }
        }
        tx.commit().await?;
    }
    sweep(app).await?;
    Ok(erased)
}

/// Re-seals every media data key with the vault's current key, a batch per
/// transaction; the files themselves need no re-encryption.
pub async fn reseal_keys(app: &App, to_version: u16) -> anyhow::Result<u64> {
    let mut rows = 0;
    loop {
        let mut tx = app.db.begin().await?;
        let batch = store::keys_sealed_before(tx.conn(), to_version, 200).await?;
        if batch.is_empty() {
            break;
        }
        for (id, old) in &batch {
            let key = app
                .vault
                .open("media_objects", "data_key", id.as_str(), old)
                .map_err(|e| anyhow::anyhow!("the data key of media object {id}: {e}"))?;
            let new = app
                .vault
                .seal("media_objects", "data_key", id.as_str(), &key);
            if store::reseal_key(&mut tx, id, old, &new).await? {
                rows += 1;
            }
        }
        tx.commit().await?;
    }
    Ok(rows)
}
