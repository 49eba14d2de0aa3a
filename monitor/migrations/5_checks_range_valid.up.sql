-- One pass over the existing checks, under a lock that lets them be read
-- and written meanwhile (see 4).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'checks_legacy_range') THEN
        ALTER TABLE checks VALIDATE CONSTRAINT checks_legacy_range;
    END IF;
END
$$;
