-- One consent form in several languages (issue 7). Kept in lock-step with
-- migrations/postgres/0012_form_translations.sql.
-- A translation is a file <form-id>.v<N>.<language>.md beside its source
-- <form-id>.v<N>.md, with the same clauses (keys, order, whether needed, what
-- each governs): it belongs to the source's published version, so the
-- current version, the consent chain and the gate are the same whichever
-- language a participant reads. Frozen like the version it belongs to.

-- A note for the research team; never shown to participants.
ALTER TABLE consent_form_versions ADD COLUMN staff_note TEXT;

CREATE TABLE consent_form_translations (
    id TEXT PRIMARY KEY,
    form_version_id TEXT NOT NULL REFERENCES consent_form_versions (id),
    language TEXT NOT NULL,
    -- The source's language, as the translation names it.
    translated_from TEXT NOT NULL,
    title TEXT NOT NULL,
    information_sheet_version TEXT NOT NULL,
    information_sheet_date TEXT NOT NULL,
    rec_reference TEXT NOT NULL,
    rec_approval_date TEXT NOT NULL,
    easy_read SMALLINT NOT NULL CHECK (easy_read IN (0, 1)),
    withdrawal_policy TEXT NOT NULL,
    body_markdown TEXT NOT NULL,
    -- JSON, as consent_form_versions.clauses: the same keys, in the same order.
    clauses TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    -- <study-slug>/<form-id>.v<N>.<language>.md
    source_path TEXT NOT NULL,
    staff_note TEXT,
    loaded_at BIGINT NOT NULL,
    UNIQUE (form_version_id, language)
);

CREATE TRIGGER consent_form_translations_no_update BEFORE UPDATE ON consent_form_translations
BEGIN SELECT RAISE(ABORT, 'a published consent form version never changes'); END;
CREATE TRIGGER consent_form_translations_no_delete BEFORE DELETE ON consent_form_translations
BEGIN SELECT RAISE(ABORT, 'a published consent form version never changes'); END;

-- The language the participant read the form in; NULL for records made
-- before translations: the form version's own language.
ALTER TABLE consent_records ADD COLUMN language TEXT;
CREATE TRIGGER consent_records_language_frozen BEFORE UPDATE OF language ON consent_records
BEGIN SELECT RAISE(ABORT, 'a consent record never changes; only its sealed signature and scan can be erased'); END;
