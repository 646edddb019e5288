-- Why a withdrawal was made, and whether its confirmation was emailed
-- (issue 13); what a consultee's advice did. Kept in lock-step with
-- migrations/sqlite/0010_withdrawal_basis.sql.

-- request: the participant asked (themselves or through a researcher);
-- objection: a sign of objection (MCA 2005 s.33); consultee_advice: a
-- consultee advised that they would not want to take part (s.32(5)).
ALTER TABLE withdrawals ADD COLUMN basis TEXT NOT NULL DEFAULT 'request'
    CHECK (basis IN ('request', 'objection', 'consultee_advice'));
-- 1 when a confirmation was queued for the participant's address; NULL for
-- withdrawals recorded before this was kept.
ALTER TABLE withdrawals ADD COLUMN confirmation_emailed SMALLINT
    CHECK (confirmation_emailed IN (0, 1));

-- consent_recorded: advice to take part, recorded as their consent;
-- kept_from_taking_part: advice against for someone not yet consented;
-- withdrawn: advice against for someone taking part; already_withdrawn:
-- advice against for someone already withdrawn from further collection.
-- NULL for advice recorded before this was kept.
ALTER TABLE consultee_advice ADD COLUMN effect TEXT
    CHECK (effect IN ('consent_recorded', 'kept_from_taking_part', 'withdrawn', 'already_withdrawn'));
