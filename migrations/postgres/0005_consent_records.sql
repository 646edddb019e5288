-- Consent records (PostgreSQL). Kept in lock-step with migrations/sqlite/0005_consent_records.sql
-- (the PDF column is BLOB on SQLite and BYTEA on PostgreSQL: the same bytes).
-- A record is never changed: a re-consent or a change of mind is a new record
-- that names the one it supersedes; a withdrawal is a row of its own.

CREATE TABLE consent_records (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    participant_id TEXT NOT NULL REFERENCES participants (id),
    form_version_id TEXT NOT NULL REFERENCES consent_form_versions (id),
    method TEXT NOT NULL CHECK (method IN ('online', 'in_person_witnessed', 'verbal_recorded', 'paper_scanned', 'consultee_advice')),
    supersedes_id TEXT REFERENCES consent_records (id),
    -- The typed-name signature, sealed by the identity vault.
    signature_sealed TEXT,
    participant_signed_at BIGINT NOT NULL,
    taken_by TEXT REFERENCES accounts (id),
    countersigned_at BIGINT,
    verbal_record TEXT,
    scan_sha256 TEXT,
    -- The scanned paper form (it shows a signature), sealed by the vault.
    scan_sealed TEXT,
    record_hash TEXT NOT NULL,
    pdf BYTEA NOT NULL,
    pdf_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX consent_records_participant ON consent_records (participant_id, created_at);
CREATE INDEX consent_records_study ON consent_records (study_id);

CREATE TABLE consent_answers (
    record_id TEXT NOT NULL REFERENCES consent_records (id),
    clause_key TEXT NOT NULL,
    clause_text TEXT NOT NULL,
    clause_text_sha256 TEXT NOT NULL,
    governs TEXT NOT NULL,
    mandatory SMALLINT NOT NULL CHECK (mandatory IN (0, 1)),
    agreed SMALLINT NOT NULL CHECK (agreed IN (0, 1)),
    left_blank SMALLINT NOT NULL CHECK (left_blank IN (0, 1)),
    PRIMARY KEY (record_id, clause_key)
);

-- One-time links for online consent.
CREATE TABLE consent_invitations (
    token_hash TEXT PRIMARY KEY,
    participant_id TEXT NOT NULL REFERENCES participants (id),
    form_version_id TEXT NOT NULL REFERENCES consent_form_versions (id),
    created_by TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    cancelled_at BIGINT
);
CREATE INDEX consent_invitations_participant ON consent_invitations (participant_id);

CREATE TABLE withdrawals (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    participant_id TEXT NOT NULL REFERENCES participants (id),
    no_contact SMALLINT NOT NULL CHECK (no_contact IN (0, 1)),
    no_collection SMALLINT NOT NULL CHECK (no_collection IN (0, 1)),
    remove_identifiable SMALLINT NOT NULL CHECK (remove_identifiable IN (0, 1)),
    -- The participant's own reason, if they gave one, sealed by the vault.
    reason_sealed TEXT,
    recorded_by TEXT REFERENCES accounts (id),
    recorded_at BIGINT NOT NULL,
    erasure TEXT NOT NULL CHECK (erasure IN ('not_asked', 'erased', 'refused')),
    erasure_refusal_reason TEXT
);
CREATE INDEX withdrawals_participant ON withdrawals (participant_id);
