-- The identity vault (PostgreSQL). Kept in lock-step with migrations/sqlite/0003_vault.sql.
-- Who a participant is, sealed column by column (XChaCha20-Poly1305, stored as
-- "v<key_version>:<base64url(nonce || ciphertext)>"); nothing here is readable
-- without the vault keys, which never enter the database. email_index is a keyed
-- HMAC of the address, for lookups. Erasure nulls every sealed value and the
-- index and keeps the row, so the fact and time of erasure remain.

CREATE TABLE identities (
    participant_id TEXT PRIMARY KEY REFERENCES participants (id),
    key_version INTEGER NOT NULL,
    name_ct TEXT,
    email_ct TEXT,
    phone_ct TEXT,
    date_of_birth_ct TEXT,
    notes_ct TEXT,
    email_index TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    erased_at BIGINT
);
CREATE INDEX identities_email_index ON identities (email_index);
