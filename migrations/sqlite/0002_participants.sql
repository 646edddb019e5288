-- Participants (SQLite). Kept in lock-step with migrations/postgres/0002_participants.sql.
-- Research tables carry the pseudonymous study code only; who a participant is
-- lives in the encrypted identity vault.

-- The prefix of a study's participant codes (RC-0042) and the next number.
ALTER TABLE studies ADD COLUMN code_prefix TEXT NOT NULL DEFAULT 'P';
CREATE TABLE participant_code_counters (
    study_id TEXT PRIMARY KEY REFERENCES studies (id),
    next_number BIGINT NOT NULL
);

CREATE TABLE participants (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    study_code TEXT NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites (id),
    stakeholder_group TEXT NOT NULL CHECK (stakeholder_group IN
        ('student', 'peer_trainer', 'staff', 'practitioner', 'service_user', 'carer', 'other')),
    status TEXT NOT NULL CHECK (status IN ('invited', 'consented', 'active', 'withdrawn', 'completed')),
    account_id TEXT REFERENCES accounts (id),
    capacity_flag SMALLINT NOT NULL DEFAULT 0 CHECK (capacity_flag IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX participants_code ON participants (study_id, study_code);
CREATE INDEX participants_site ON participants (site_id);
CREATE INDEX participants_account ON participants (account_id);
