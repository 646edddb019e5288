-- A second factor for staff (issue 7): TOTP secrets, recovery codes, sign-ins
-- waiting for their second step, and sessions asked to change a password.
-- Kept in lock-step with migrations/postgres/0011_second_factor.sql.

-- One TOTP per account. The secret is sealed by the vault (bound to this
-- table, column and account id), never stored in clear. confirmed_at is NULL
-- while enrolment waits for its first code; last_step is the last time step
-- (Unix time / 30 s) accepted, so a code is never accepted twice.
CREATE TABLE second_factors (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    totp_secret TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Single-use recovery codes, stored only as a keyed hash.
CREATE TABLE recovery_codes (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (account_id, code_hash)
);

-- A password accepted for an account with a second factor: the secret (as
-- a SHA-256 hash) lets the second step finish within a few minutes, once.
CREATE TABLE pending_sign_ins (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    password_change_due SMALLINT NOT NULL CHECK (password_change_due IN (0, 1)),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX pending_sign_ins_account ON pending_sign_ins (account_id);

-- 1 when the password used to sign in no longer meets the policy: the person
-- is asked to change it.
ALTER TABLE sessions ADD COLUMN password_change_due SMALLINT NOT NULL DEFAULT 0
    CHECK (password_change_due IN (0, 1));
