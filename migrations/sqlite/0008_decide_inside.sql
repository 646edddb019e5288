-- Decisions inside the transaction (SQLite). Kept in lock-step with
-- migrations/postgres/0008_decide_inside.sql.

-- Writers now open with BEGIN IMMEDIATE, which takes the write lock itself.
DROP TABLE write_gate;

-- One linear chain of consent records per participant, guarded by the
-- database: a record is superseded by at most one other, and a participant
-- has at most one record that supersedes nothing (their first).
CREATE UNIQUE INDEX consent_records_one_successor ON consent_records (supersedes_id);
CREATE UNIQUE INDEX consent_records_one_first ON consent_records (participant_id) WHERE supersedes_id IS NULL;

-- Erasure ("remove identifiable data") reaches the sealed typed-name
-- signature and the paper scan; the record keeps its hashes.
ALTER TABLE consent_records ADD COLUMN signature_erased_at BIGINT;

-- A consent record never changes and is never deleted; erasure may only
-- clear its sealed signature and scan.
CREATE TRIGGER consent_records_no_delete BEFORE DELETE ON consent_records
BEGIN SELECT RAISE(ABORT, 'a consent record is never deleted'); END;
CREATE TRIGGER consent_records_no_update BEFORE UPDATE OF id, study_id, participant_id, form_version_id,
    method, supersedes_id, participant_signed_at, taken_by, countersigned_at, verbal_record, scan_sha256,
    record_hash, pdf, pdf_sha256, created_at ON consent_records
BEGIN SELECT RAISE(ABORT, 'a consent record never changes; only its sealed signature and scan can be erased'); END;
CREATE TRIGGER consent_records_erase_only BEFORE UPDATE OF signature_sealed, scan_sealed ON consent_records
WHEN (NEW.signature_sealed IS NOT NULL AND NEW.signature_sealed IS NOT OLD.signature_sealed)
  OR (NEW.scan_sealed IS NOT NULL AND NEW.scan_sealed IS NOT OLD.scan_sealed)
BEGIN SELECT RAISE(ABORT, 'a sealed signature or scan can only be erased, never replaced'); END;

-- A participant row per account and study at most.
CREATE UNIQUE INDEX participants_one_per_account ON participants (study_id, account_id);

-- Sign-in throttling counts every attempt before the password is checked
-- (a correct password gives its attempt back).
ALTER TABLE login_throttle RENAME COLUMN failures TO attempts;

-- Each checkpoint carries a consistency proof from the one before it.
ALTER TABLE audit_checkpoints ADD COLUMN consistency TEXT;

-- The tree's right edge just before each checkpoint's last entry, so
-- verification resumes from the newest checkpoint.
CREATE TABLE audit_frontiers (
    size BIGINT PRIMARY KEY,
    prefix TEXT NOT NULL
);

-- What each verification found, and when.
CREATE TABLE audit_verifications (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('full', 'incremental', 'checkpoint')),
    from_seq BIGINT NOT NULL,
    entries BIGINT NOT NULL,
    checkpoints_checked BIGINT NOT NULL,
    valid SMALLINT NOT NULL CHECK (valid IN (0, 1)),
    problem TEXT
);
CREATE INDEX audit_verifications_kind ON audit_verifications (kind, at);

-- Lists page by study (and site) in SQL.
CREATE INDEX participants_study ON participants (study_id, id);
CREATE INDEX consent_records_study_id ON consent_records (study_id, id);
CREATE INDEX audit_log_study_seq ON audit_log (study_id, seq);
