-- Lists filtered by status, site or group read an index in key order, so a
-- filter few rows match does not walk the whole study (SQLite). Kept in
-- lock-step with migrations/postgres/0009_list_indexes.sql.
CREATE INDEX participants_study_status ON participants (study_id, status, id);
CREATE INDEX participants_study_site ON participants (study_id, site_id, id);
CREATE INDEX participants_study_group ON participants (study_id, stakeholder_group, id);

-- Covered by the (study_id, seq) and (study_id, id) indexes of 0008.
DROP INDEX audit_log_study;
DROP INDEX consent_records_study;

-- When a record's signature was erased is set once and never changed.
CREATE TRIGGER consent_records_erased_once BEFORE UPDATE OF signature_erased_at ON consent_records
WHEN OLD.signature_erased_at IS NOT NULL AND NEW.signature_erased_at IS NOT OLD.signature_erased_at
BEGIN SELECT RAISE(ABORT, 'when a signature was erased is never changed'); END;
