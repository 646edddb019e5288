-- Instruments as data (issue 10). Kept in lock-step with
-- migrations/postgres/0013_instruments.sql.

-- A team may be in a trial's intervention or control arm.
ALTER TABLE teams ADD COLUMN arm TEXT CHECK (arm IN ('intervention', 'control'));

-- A new study role, rater: completes the study's instruments as themselves.
-- SQLite cannot change a CHECK, so memberships is rebuilt; membership_sites,
-- whose rows would go with the old table (ON DELETE CASCADE), is kept aside
-- and put back.
CREATE TABLE memberships_new (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL CHECK (role IN ('researcher', 'reviewer', 'analyst', 'participant', 'rater')),
    created_at BIGINT NOT NULL
);
INSERT INTO memberships_new (id, study_id, account_id, role, created_at)
    SELECT id, study_id, account_id, role, created_at FROM memberships;
CREATE TABLE membership_sites_kept AS SELECT membership_id, site_id FROM membership_sites;
DROP TABLE membership_sites;
DROP TABLE memberships;
ALTER TABLE memberships_new RENAME TO memberships;
CREATE UNIQUE INDEX memberships_one_role ON memberships (study_id, account_id);
CREATE INDEX memberships_account ON memberships (account_id);
CREATE TABLE membership_sites (
    membership_id TEXT NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    site_id TEXT NOT NULL REFERENCES sites (id),
    PRIMARY KEY (membership_id, site_id)
);
INSERT INTO membership_sites (membership_id, site_id)
    SELECT membership_id, site_id FROM membership_sites_kept;
DROP TABLE membership_sites_kept;

-- Each instrument version fieldkit knows: from the shipped files, a
-- deployment's folder (--instruments-dir) or an import. The definition is
-- kept as its TOML text, so a response can always be shown and rescored
-- with the definition it was given under. A version with responses is
-- frozen: a changed file for it stops the server from starting.
CREATE TABLE instrument_versions (
    id TEXT PRIMARY KEY,
    instrument_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    title TEXT NOT NULL,
    subject TEXT NOT NULL CHECK (subject IN ('participant', 'team', 'site')),
    definition TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    -- Where it came from: instruments/<file>, <folder>/<file>, or the
    -- imported file's name.
    source TEXT NOT NULL,
    -- Set for a version imported into one study; NULL for files, which every
    -- study may use.
    study_id TEXT REFERENCES studies (id),
    loaded_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX instrument_versions_one ON instrument_versions (instrument_id, version);

-- A completed (or draft) instrument: about one subject, by one rater in one
-- rater role, at one time point. One response per instrument, subject,
-- rater and time point: a second is refused by the unique index, whatever
-- the race.
CREATE TABLE instrument_responses (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies (id),
    instrument_version_id TEXT NOT NULL REFERENCES instrument_versions (id),
    instrument_id TEXT NOT NULL,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('participant', 'team', 'site')),
    subject_id TEXT NOT NULL,
    -- The subject's site (a participant's, a team's, or the site itself), so
    -- a researcher who works at some sites sees only their responses.
    site_id TEXT NOT NULL REFERENCES sites (id),
    -- The account that completed or entered it.
    entered_by TEXT NOT NULL REFERENCES accounts (id),
    rater_role TEXT NOT NULL CHECK (rater_role IN
        ('practitioner', 'team_manager', 'service_user', 'researcher', 'participant', 'peer_trainer')),
    -- A researcher entering a paper form names the rater by a code the team
    -- keeps (e.g. SU-07); NULL when the account rated for itself.
    rater_code TEXT,
    -- entered_by, or 'code:' || rater_code: who the rater is, for uniqueness.
    rater_key TEXT NOT NULL,
    time_point TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'submitted')),
    -- JSON: item key to answer.
    answers TEXT NOT NULL,
    -- JSON: the engine's scores on submit, with the engine version.
    scores TEXT,
    engine_version INTEGER,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    submitted_at BIGINT,
    CHECK ((status = 'submitted') = (submitted_at IS NOT NULL)),
    CHECK ((status = 'submitted') = (scores IS NOT NULL))
);
CREATE UNIQUE INDEX instrument_responses_one
    ON instrument_responses (study_id, instrument_id, subject_kind, subject_id, rater_key, time_point);
CREATE INDEX instrument_responses_version ON instrument_responses (instrument_version_id, status);
