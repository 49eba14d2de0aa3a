-- The upgrade to checks partitioned by day (6_history) keeps the existing
-- table as the partition of everything before the end of the day after
-- the upgrade. This bound is set here, as a constraint not yet validated,
-- which takes its lock only for a moment; 5 validates it without stopping
-- writes, so that attaching the table needs no scan of its own.
CREATE TABLE checks_legacy_until (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    until TIMESTAMP WITH TIME ZONE NOT NULL
);

DO $$
DECLARE
    upto TIMESTAMP WITH TIME ZONE;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM checks) THEN
        RETURN;
    END IF;
    SELECT date_trunc('day', greatest(now(), max(checked_at)), 'UTC') + interval '2 days' INTO upto FROM checks;
    INSERT INTO checks_legacy_until (until) VALUES (upto);
    EXECUTE format('ALTER TABLE checks ADD CONSTRAINT checks_legacy_range
        CHECK (checked_at IS NOT NULL AND checked_at < %L) NOT VALID', upto);
END
$$;
