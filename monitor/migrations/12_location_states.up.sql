-- Each location's own view of a site, beside the site's combined state:
-- {"NAME": {"up", "checked_at", "status_code", "latency_ms", "reason",
-- "streak"}}, kept in the state row so that the row's lock covers the
-- decision that combines them. Until now every check was made from the
-- default location.
ALTER TABLE site_state ADD COLUMN locations JSONB NOT NULL DEFAULT '{}';
UPDATE site_state SET locations = jsonb_build_object('local', jsonb_build_object(
        'up', up, 'checked_at', checked_at, 'status_code', status_code, 'latency_ms', latency_ms,
        'reason', reason, 'streak', streak))
    WHERE checked_at IS NOT NULL;

-- The locations the scheduler has seen, and since when each has been lost
-- (no instance of it heard from lately); null while it checks.
CREATE TABLE location (
    name TEXT PRIMARY KEY,
    lost_since TIMESTAMP WITH TIME ZONE
);
INSERT INTO location (name) SELECT DISTINCT location FROM instance WHERE last_seen > now() - interval '30 seconds';
