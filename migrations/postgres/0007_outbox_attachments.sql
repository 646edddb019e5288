-- Outbox attachments (PostgreSQL). Kept in lock-step with migrations/sqlite/0007_outbox_attachments.sql
-- (the attachment column is BLOB on SQLite and BYTEA on PostgreSQL: the same bytes).
-- An attachment (a participant's consent PDF) is erased with the recipient and
-- the body once the message is sent or given up on.

ALTER TABLE outbox ADD COLUMN attachment_name TEXT;
ALTER TABLE outbox ADD COLUMN attachment_type TEXT;
ALTER TABLE outbox ADD COLUMN attachment BYTEA;
