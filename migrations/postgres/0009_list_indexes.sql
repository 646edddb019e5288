-- Lists filtered by status, site or group read an index in key order, so a
-- filter few rows match does not walk the whole study (PostgreSQL). Kept in
-- lock-step with migrations/sqlite/0009_list_indexes.sql.
CREATE INDEX participants_study_status ON participants (study_id, status, id);
CREATE INDEX participants_study_site ON participants (study_id, site_id, id);
CREATE INDEX participants_study_group ON participants (study_id, stakeholder_group, id);

-- Covered by the (study_id, seq) and (study_id, id) indexes of 0008.
DROP INDEX audit_log_study;
DROP INDEX consent_records_study;

-- When a record's signature was erased is set once and never changed.
CREATE FUNCTION consent_records_erased_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.signature_erased_at IS NOT NULL
       AND NEW.signature_erased_at IS DISTINCT FROM OLD.signature_erased_at THEN
        RAISE EXCEPTION 'when a signature was erased is never changed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER consent_records_erased_once BEFORE UPDATE ON consent_records
FOR EACH ROW EXECUTE FUNCTION consent_records_erased_once();
