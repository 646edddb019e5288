-- Capacity and consultees under the Mental Capacity Act 2005 (SQLite). Kept in
-- lock-step with migrations/postgres/0006_capacity.sql. Rows are never changed:
-- the latest assessment of a decision is the one that counts.

-- Approved by the ethics committee under the MCA (ss.30-31): only then may
-- someone lacking capacity take part, on a consultee's advice.
ALTER TABLE studies ADD COLUMN mca_approved SMALLINT NOT NULL DEFAULT 0 CHECK (mca_approved IN (0, 1));

CREATE TABLE capacity_assessments (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    participant_id TEXT NOT NULL REFERENCES participants (id),
    -- The decision assessed: 'take_part' or a data use key.
    decision TEXT NOT NULL,
    -- The day of the assessment, YYYY-MM-DD.
    assessed_on TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('has_capacity', 'lacks_capacity')),
    assessor_account TEXT NOT NULL REFERENCES accounts (id),
    -- Free text about the assessment, sealed by the identity vault.
    notes_sealed TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX capacity_assessments_participant ON capacity_assessments (participant_id, decision, created_at);

-- A consultee's advice (s.32).
CREATE TABLE consultee_advice (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    participant_id TEXT NOT NULL REFERENCES participants (id),
    consultee_kind TEXT NOT NULL CHECK (consultee_kind IN ('personal', 'nominated')),
    advice TEXT NOT NULL CHECK (advice IN ('take_part', 'not_take_part')),
    -- Who the consultee is, sealed by the identity vault.
    consultee_name_sealed TEXT NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES accounts (id),
    recorded_at BIGINT NOT NULL,
    -- The form the consultee answered on the participant's behalf, if they advised taking part.
    form_version_id TEXT REFERENCES consent_form_versions (id)
);
CREATE INDEX consultee_advice_participant ON consultee_advice (participant_id);

-- Any sign of objection (s.33); each one withdraws the participant at once.
CREATE TABLE objections (
    id TEXT PRIMARY KEY,
    participant_id TEXT NOT NULL REFERENCES participants (id),
    study_id TEXT NOT NULL REFERENCES studies (id),
    -- What was seen or said, sealed by the identity vault.
    description_sealed TEXT NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES accounts (id),
    recorded_at BIGINT NOT NULL
);
CREATE INDEX objections_participant ON objections (participant_id);
