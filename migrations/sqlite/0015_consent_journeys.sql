-- The consent journeys as participants meet them (issue 11). Kept in
-- lock-step with migrations/postgres/0015_consent_journeys.sql.

-- Who a participant contacts, and where the information sheet is read:
-- from the form's front matter, so each translation and easy-read form
-- words them itself.
ALTER TABLE consent_form_versions ADD COLUMN contact TEXT;
ALTER TABLE consent_form_versions ADD COLUMN information_sheet_url TEXT;
ALTER TABLE consent_form_translations ADD COLUMN contact TEXT;
ALTER TABLE consent_form_translations ADD COLUMN information_sheet_url TEXT;

-- The record a used link made: the participant who has just signed can
-- download their copy for a short while after, through the same link.
ALTER TABLE consent_invitations ADD COLUMN record_id TEXT REFERENCES consent_records (id);
