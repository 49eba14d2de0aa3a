-- The recent days of each site, one row per site, rebuilt from rollup_day
-- once a day (and for a site whose day is rolled up again): so that a
-- status page of 500 sites reads 500 rows, not 45,000. days holds, for
-- each day with checks, 14 bytes in network order: the day as a count of
-- days from days_from (int2), the checks and those up, maintenance left
-- out (int4 each), and the mean time to an answer in milliseconds (float4,
-- NaN without one). One bytea, not arrays: it is sent as it is stored.
CREATE TABLE rollup_recent (
    site_id BIGINT PRIMARY KEY,
    days_from TIMESTAMP WITH TIME ZONE NOT NULL,
    days BYTEA NOT NULL
);

-- The figures of each site's days not rolled up yet, kept as checks are
-- added, in the statement that adds them: today's bar costs a row, not
-- the day's checks. Days before rollup_done.days_until are deleted.
CREATE TABLE checks_day (
    site_id BIGINT NOT NULL,
    day TIMESTAMP WITH TIME ZONE NOT NULL,
    checks INTEGER NOT NULL,
    up INTEGER NOT NULL,
    maintenance_checks INTEGER NOT NULL,
    maintenance_up INTEGER NOT NULL,
    latency_count INTEGER NOT NULL,
    latency_sum DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (site_id, day)
);

-- recent_until: where the recent days' rows end, NULL until first built.
-- live_from: the first day checks_day counts whole. A database that holds
-- checks already has today's partly counted; an empty one is counted from
-- today.
ALTER TABLE rollup_done ADD COLUMN recent_until TIMESTAMP WITH TIME ZONE,
    ADD COLUMN live_from TIMESTAMP WITH TIME ZONE;
UPDATE rollup_done SET live_from = date_trunc('day', now(), 'UTC')
    + CASE WHEN EXISTS (SELECT FROM checks) THEN interval '1 day' ELSE interval '0' END;

-- The trigger of every statement that adds checks counts them too, in
-- the order of the rows' keys, so that concurrent statements lock them in
-- one order.
CREATE OR REPLACE FUNCTION checks_mark_late() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1970298721); -- "up_a"
    INSERT INTO rollup_late (site_id, hour)
        SELECT DISTINCT n.site_id, date_trunc('hour', n.checked_at, 'UTC')
        FROM new_checks n, rollup_closed c
        WHERE n.checked_at < c.closed_until
        ON CONFLICT DO NOTHING;
    INSERT INTO checks_day AS d (site_id, day, checks, up, maintenance_checks, maintenance_up, latency_count, latency_sum)
        SELECT site_id, date_trunc('day', checked_at, 'UTC'), count(*), count(*) FILTER (WHERE up),
            count(*) FILTER (WHERE maintenance), count(*) FILTER (WHERE maintenance AND up),
            count(latency_ms) FILTER (WHERE status_code IS NOT NULL),
            COALESCE(sum(latency_ms) FILTER (WHERE status_code IS NOT NULL), 0)
        FROM new_checks GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (site_id, day) DO UPDATE SET checks = d.checks + excluded.checks, up = d.up + excluded.up,
            maintenance_checks = d.maintenance_checks + excluded.maintenance_checks,
            maintenance_up = d.maintenance_up + excluded.maintenance_up,
            latency_count = d.latency_count + excluded.latency_count,
            latency_sum = d.latency_sum + excluded.latency_sum;
    RETURN NULL;
END
$$;

-- Checks deleted (a site forgotten, old rows pruned) are taken out of the
-- figures of their days that are still counted.
CREATE FUNCTION checks_day_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE checks_day AS d SET checks = d.checks - o.checks, up = d.up - o.up,
        maintenance_checks = d.maintenance_checks - o.maintenance_checks,
        maintenance_up = d.maintenance_up - o.maintenance_up,
        latency_count = d.latency_count - o.latency_count, latency_sum = d.latency_sum - o.latency_sum
    FROM (SELECT site_id, date_trunc('day', checked_at, 'UTC') AS day, count(*) AS checks,
            count(*) FILTER (WHERE up) AS up, count(*) FILTER (WHERE maintenance) AS maintenance_checks,
            count(*) FILTER (WHERE maintenance AND up) AS maintenance_up,
            count(latency_ms) FILTER (WHERE status_code IS NOT NULL) AS latency_count,
            COALESCE(sum(latency_ms) FILTER (WHERE status_code IS NOT NULL), 0) AS latency_sum
        FROM old_checks GROUP BY 1, 2 ORDER BY 1, 2) o
    WHERE d.site_id = o.site_id AND d.day = o.day;
    RETURN NULL;
END
$$;
CREATE TRIGGER checks_day_forget AFTER DELETE ON checks
    REFERENCING OLD TABLE AS old_checks
    FOR EACH STATEMENT EXECUTE FUNCTION checks_day_forget();
