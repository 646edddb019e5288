-- Fieldwork recordings and the shared media store (issue 8). Kept in
-- lock-step with migrations/sqlite/0014_recordings.sql.

-- One stored file (encrypted under its own data key, which is sealed by the
-- vault) or a reference to a file on the team's own storage. The file's
-- original name and an external location may identify someone, so both are
-- sealed. Erasing drops the data key: the ciphertext left on disk until the
-- sweep removes it can no longer be opened.
CREATE TABLE media_objects (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('recording', 'transcript_original', 'consent_scan')),
    kind TEXT NOT NULL CHECK (kind IN ('audio', 'video', 'photo', 'document')),
    media_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
    sha256 TEXT,
    storage TEXT NOT NULL CHECK (storage IN ('stored', 'external')),
    data_key_sealed TEXT,
    external_ref_sealed TEXT,
    original_name_sealed TEXT,
    created_by TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    erased_at BIGINT,
    CHECK (storage = 'external' OR sha256 IS NOT NULL),
    CHECK (storage = 'stored' OR erased_at IS NOT NULL OR external_ref_sealed IS NOT NULL),
    CHECK (storage = 'external' OR erased_at IS NOT NULL OR data_key_sealed IS NOT NULL)
);
CREATE INDEX media_objects_study ON media_objects (study_id, created_at);

-- What happened to a participant's media when they withdrew with removal of
-- identifiable data, or when the study's retention period ran out: removed,
-- or kept and why.
CREATE TABLE media_erasures (
    id TEXT PRIMARY KEY,
    media_object_id TEXT NOT NULL REFERENCES media_objects (id),
    participant_id TEXT REFERENCES participants (id),
    cause TEXT NOT NULL CHECK (cause IN ('withdrawal', 'retention')),
    outcome TEXT NOT NULL CHECK (outcome IN ('removed', 'kept')),
    reason TEXT NOT NULL,
    decided_at BIGINT NOT NULL
);
CREATE INDEX media_erasures_object ON media_erasures (media_object_id);

-- A vox pop, interview, focus group or film shoot.
CREATE TABLE encounters (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    kind TEXT NOT NULL CHECK (kind IN ('vox_pop', 'interview', 'focus_group', 'film_shoot')),
    occurred_at BIGINT NOT NULL,
    -- The study site it belongs to (who may see it follows from this), and
    -- where exactly, in words, when that was elsewhere (a market square).
    site_id TEXT NOT NULL REFERENCES sites (id),
    location TEXT,
    prompt_set TEXT,
    duration_minutes INTEGER CHECK (duration_minutes BETWEEN 0 AND 1440),
    notes TEXT,
    created_by TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX encounters_study ON encounters (study_id, occurred_at);

CREATE TABLE encounter_interviewers (
    encounter_id TEXT NOT NULL REFERENCES encounters (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (encounter_id, account_id)
);

CREATE TABLE encounter_participants (
    encounter_id TEXT NOT NULL REFERENCES encounters (id),
    participant_id TEXT NOT NULL REFERENCES participants (id),
    PRIMARY KEY (encounter_id, participant_id)
);
CREATE INDEX encounter_participants_participant ON encounter_participants (participant_id);

-- Audio, video, a photo or a document from an encounter, and where it is on
-- the way to public use.
CREATE TABLE media_items (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    encounter_id TEXT NOT NULL REFERENCES encounters (id),
    media_object_id TEXT NOT NULL UNIQUE REFERENCES media_objects (id),
    title TEXT NOT NULL,
    publication TEXT NOT NULL CHECK (publication IN
        ('draft', 'participant_review', 'approved', 'published', 'taken_down')),
    -- The uses approval needs from every identifiable person: film_public,
    -- plus any the study defines (film_teaching), as a JSON list.
    public_uses TEXT NOT NULL,
    takedown_flagged_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX media_items_encounter ON media_items (encounter_id, created_at);

-- The identifiable people in an item: who must consent to its uses.
CREATE TABLE media_item_people (
    media_item_id TEXT NOT NULL REFERENCES media_items (id),
    participant_id TEXT NOT NULL REFERENCES participants (id),
    PRIMARY KEY (media_item_id, participant_id)
);
CREATE INDEX media_item_people_participant ON media_item_people (participant_id);

-- A transcript of a recording. The imported file is kept sealed in the
-- media store; the speakers' names found in it are never stored elsewhere.
CREATE TABLE transcripts (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    media_item_id TEXT NOT NULL UNIQUE REFERENCES media_items (id),
    original_object_id TEXT NOT NULL REFERENCES media_objects (id),
    format TEXT NOT NULL CHECK (format IN ('web_vtt', 'srt', 'plain_text', 'docx')),
    status TEXT NOT NULL CHECK (status IN ('raw', 'checked', 'redacted')),
    created_by TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Speaker N of a transcript (in order of first appearance), mapped by the
-- researcher to a participant of the study or to an interviewer.
CREATE TABLE transcript_speakers (
    transcript_id TEXT NOT NULL REFERENCES transcripts (id),
    speaker INTEGER NOT NULL CHECK (speaker >= 0),
    role TEXT NOT NULL CHECK (role IN ('unmapped', 'participant', 'interviewer')),
    participant_id TEXT REFERENCES participants (id),
    PRIMARY KEY (transcript_id, speaker),
    CHECK ((role = 'participant') = (participant_id IS NOT NULL))
);

-- One turn. The raw text is sealed (it holds whatever was said, names
-- included); the redacted text exists once the transcript is redacted.
CREATE TABLE transcript_turns (
    transcript_id TEXT NOT NULL REFERENCES transcripts (id),
    position INTEGER NOT NULL CHECK (position >= 0),
    speaker INTEGER,
    start_ms BIGINT,
    end_ms BIGINT,
    text_sealed TEXT,
    redacted_text TEXT,
    PRIMARY KEY (transcript_id, position)
);

-- The redaction log, kept apart: each span replaced, its tag, and the
-- original words, sealed. Suggestions wait for the researcher.
CREATE TABLE redactions (
    id TEXT PRIMARY KEY,
    transcript_id TEXT NOT NULL REFERENCES transcripts (id),
    position INTEGER NOT NULL,
    start_char INTEGER NOT NULL CHECK (start_char >= 0),
    end_char INTEGER NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('person', 'place', 'organisation', 'other')),
    state TEXT NOT NULL CHECK (state IN ('suggested', 'accepted', 'rejected')),
    suggested_because TEXT,
    tag TEXT,
    original_sealed TEXT,
    created_by TEXT REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    CHECK (end_char > start_char)
);
CREATE INDEX redactions_transcript ON redactions (transcript_id, position, start_char);

-- Words a study always redacts (a ward, a small village): sealed, since the
-- list itself can point at people and places.
CREATE TABLE redaction_terms (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    term_sealed TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX redaction_terms_study ON redaction_terms (study_id);

-- A quote: a span of a redacted turn, with a theme. Whether it may be used
-- is decided from its speaker's consent each time it is listed or exported.
CREATE TABLE quotes (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    transcript_id TEXT NOT NULL REFERENCES transcripts (id),
    position INTEGER NOT NULL,
    start_char INTEGER NOT NULL CHECK (start_char >= 0),
    end_char INTEGER NOT NULL,
    participant_id TEXT NOT NULL REFERENCES participants (id),
    theme TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    CHECK (end_char > start_char)
);
CREATE INDEX quotes_study ON quotes (study_id, created_at);
CREATE INDEX quotes_participant ON quotes (participant_id);

-- A paper consent's scan is a media object like any other file: encrypted
-- under its own key, erased by dropping that key. The sealed TEXT column
-- (scan_sealed) keeps the scans made before, until they are erased.
ALTER TABLE consent_records ADD COLUMN scan_object_id TEXT REFERENCES media_objects (id);
CREATE OR REPLACE FUNCTION consent_records_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a consent record is never deleted';
    END IF;
    IF (NEW.id, NEW.study_id, NEW.participant_id, NEW.form_version_id, NEW.method, NEW.supersedes_id,
        NEW.participant_signed_at, NEW.taken_by, NEW.countersigned_at, NEW.verbal_record, NEW.scan_sha256,
        NEW.record_hash, NEW.pdf, NEW.pdf_sha256, NEW.created_at, NEW.scan_object_id)
       IS DISTINCT FROM
       (OLD.id, OLD.study_id, OLD.participant_id, OLD.form_version_id, OLD.method, OLD.supersedes_id,
        OLD.participant_signed_at, OLD.taken_by, OLD.countersigned_at, OLD.verbal_record, OLD.scan_sha256,
        OLD.record_hash, OLD.pdf, OLD.pdf_sha256, OLD.created_at, OLD.scan_object_id) THEN
        RAISE EXCEPTION 'a consent record never changes; only its sealed signature and scan can be erased';
    END IF;
    IF (NEW.signature_sealed IS NOT NULL AND NEW.signature_sealed IS DISTINCT FROM OLD.signature_sealed)
       OR (NEW.scan_sealed IS NOT NULL AND NEW.scan_sealed IS DISTINCT FROM OLD.scan_sealed) THEN
        RAISE EXCEPTION 'a sealed signature or scan can only be erased, never replaced';
    END IF;
    RETURN NEW;
END $$;
