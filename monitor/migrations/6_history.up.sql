-- Raw checks are partitioned by the UTC day of checked_at: a day past
-- retention is dropped whole. The monitor creates each day's partition
-- ahead of time; a row no partition takes lands in checks_default and is
-- moved when its day's partition is made.
--
-- An existing table is kept as it is, as one partition for everything up
-- to the bound 4 set (checks_legacy), so that the upgrade moves no row:
-- it is pruned row by row as before, and dropped when it holds nothing
-- newer than the retention.
ALTER TABLE checks RENAME TO checks_legacy;
ALTER INDEX checks_site_id_checked_at RENAME TO checks_legacy_site_id_checked_at;
ALTER INDEX checks_checked_at RENAME TO checks_legacy_checked_at;
ALTER TABLE checks_legacy DROP COLUMN id;

-- maintenance marks a check made inside a maintenance window, which the
-- uptime figures leave out.
ALTER TABLE checks_legacy ADD COLUMN maintenance BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE checks (
    site_id BIGINT NOT NULL,
    up BOOLEAN NOT NULL,
    checked_at TIMESTAMP WITH TIME ZONE NOT NULL,
    status_code INTEGER,
    latency_ms DOUBLE PRECISION,
    reason TEXT NOT NULL DEFAULT '',
    cert_expires_at TIMESTAMP WITH TIME ZONE,
    degraded BOOLEAN NOT NULL DEFAULT false,
    maintenance BOOLEAN NOT NULL DEFAULT false
) PARTITION BY RANGE (checked_at);
CREATE INDEX checks_site_id_checked_at ON checks (site_id, checked_at DESC);
CREATE TABLE checks_default PARTITION OF checks DEFAULT;

DO $$
DECLARE
    upto TIMESTAMP WITH TIME ZONE;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM checks_legacy) THEN
        DROP TABLE checks_legacy;
        DELETE FROM checks_legacy_until;
        RETURN;
    END IF;
    SELECT until INTO upto FROM checks_legacy_until;
    IF upto IS NULL OR EXISTS (SELECT 1 FROM checks_legacy WHERE checked_at >= upto) THEN
        -- Checks written since 4 (or past its bound): a bound of its own,
        -- validated here by a scan.
        SELECT date_trunc('day', greatest(now(), max(checked_at)), 'UTC') + interval '1 day'
            INTO upto FROM checks_legacy;
        DELETE FROM checks_legacy_until;
        INSERT INTO checks_legacy_until (until) VALUES (upto);
        ALTER TABLE checks_legacy DROP CONSTRAINT IF EXISTS checks_legacy_range;
        EXECUTE format('ALTER TABLE checks_legacy ADD CONSTRAINT checks_legacy_range
            CHECK (checked_at IS NOT NULL AND checked_at < %L)', upto);
    END IF;
    -- The validated constraint spares the attachment a scan.
    EXECUTE format('ALTER TABLE checks ATTACH PARTITION checks_legacy
        FOR VALUES FROM (MINVALUE) TO (%L)', upto);
END
$$;

-- Rollups: per site and UTC hour, and per site and UTC day, computed from
-- the raw checks once their hour (or day) has closed. Latency figures are
-- over the checks that got an HTTP answer; p95 is PostgreSQL's
-- percentile_cont over the raw checks of the hour (or day), so it is exact.
-- maintenance_checks and maintenance_up count the checks inside a
-- maintenance window, which uptime leaves out.
CREATE TABLE rollup_hour (
    site_id BIGINT NOT NULL,
    hour TIMESTAMP WITH TIME ZONE NOT NULL,
    checks INTEGER NOT NULL,
    up INTEGER NOT NULL,
    degraded INTEGER NOT NULL,
    maintenance_checks INTEGER NOT NULL,
    maintenance_up INTEGER NOT NULL,
    latency_count INTEGER NOT NULL,
    latency_sum DOUBLE PRECISION NOT NULL,
    latency_min DOUBLE PRECISION,
    latency_max DOUBLE PRECISION,
    latency_p95 DOUBLE PRECISION,
    PRIMARY KEY (site_id, hour)
) PARTITION BY RANGE (hour);
CREATE TABLE rollup_hour_default PARTITION OF rollup_hour DEFAULT;

CREATE TABLE rollup_day (
    site_id BIGINT NOT NULL,
    day TIMESTAMP WITH TIME ZONE NOT NULL,
    checks INTEGER NOT NULL,
    up INTEGER NOT NULL,
    degraded INTEGER NOT NULL,
    maintenance_checks INTEGER NOT NULL,
    maintenance_up INTEGER NOT NULL,
    latency_count INTEGER NOT NULL,
    latency_sum DOUBLE PRECISION NOT NULL,
    latency_min DOUBLE PRECISION,
    latency_max DOUBLE PRECISION,
    latency_p95 DOUBLE PRECISION,
    PRIMARY KEY (site_id, day)
);
CREATE INDEX rollup_day_day ON rollup_day (day);

-- How far the rollups go. Hours before closed_until are closed: a check
-- of one that arrives late marks its hour in rollup_late, to be rolled up
-- again. Hours before hours_until, and days before days_until, are rolled
-- up. They start NULL: the first roll-up starts from the oldest check.
CREATE TABLE rollup_closed (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    closed_until TIMESTAMP WITH TIME ZONE
);
INSERT INTO rollup_closed DEFAULT VALUES;
CREATE TABLE rollup_done (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    hours_until TIMESTAMP WITH TIME ZONE,
    days_until TIMESTAMP WITH TIME ZONE
);
INSERT INTO rollup_done DEFAULT VALUES;

CREATE TABLE rollup_late (
    site_id BIGINT NOT NULL,
    hour TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (site_id, hour)
);

-- Every statement that adds checks holds this shared lock to its
-- transaction's end, and closing an hour takes it exclusively: so a check
-- either was committed before the hour closed, and is in the roll-up that
-- follows, or sees the hour closed and marks it late.
CREATE FUNCTION checks_mark_late() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1970298721); -- "up_a"
    INSERT INTO rollup_late (site_id, hour)
        SELECT DISTINCT n.site_id, date_trunc('hour', n.checked_at, 'UTC')
        FROM new_checks n, rollup_closed c
        WHERE n.checked_at < c.closed_until
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER checks_mark_late AFTER INSERT ON checks
    REFERENCING NEW TABLE AS new_checks
    FOR EACH STATEMENT EXECUTE FUNCTION checks_mark_late();
