-- Consent form versions (SQLite). Kept in lock-step with
-- migrations/postgres/0004_consent_forms.sql.
-- One row per published version of a consent-form file, loaded by content
-- hash. A published version never changes (C5): a new version is a new file
-- and a new row, so the triggers refuse UPDATE and DELETE outright.

CREATE TABLE consent_form_versions (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    form_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    language TEXT NOT NULL,
    title TEXT NOT NULL,
    information_sheet_version TEXT NOT NULL,
    -- Calendar dates as YYYY-MM-DD.
    information_sheet_date TEXT NOT NULL,
    rec_reference TEXT NOT NULL,
    rec_approval_date TEXT NOT NULL,
    easy_read SMALLINT NOT NULL CHECK (easy_read IN (0, 1)),
    withdrawal_policy TEXT NOT NULL,
    body_markdown TEXT NOT NULL,
    -- JSON: [{"key", "text", "mandatory", "governs"}], in the order shown.
    clauses TEXT NOT NULL,
    -- Hex SHA-256 of the file's bytes.
    content_hash TEXT NOT NULL,
    -- The file, relative to the consent-forms folder: <study-slug>/<form-id>.v<N>.md
    source_path TEXT NOT NULL,
    loaded_at BIGINT NOT NULL,
    UNIQUE (study_id, form_id, version)
);

CREATE TRIGGER consent_form_versions_no_update BEFORE UPDATE ON consent_form_versions
BEGIN SELECT RAISE(ABORT, 'a published consent form version never changes'); END;
CREATE TRIGGER consent_form_versions_no_delete BEFORE DELETE ON consent_form_versions
BEGIN SELECT RAISE(ABORT, 'a published consent form version never changes'); END;
