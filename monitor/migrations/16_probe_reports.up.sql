-- Probes: the roles that check from a location and nothing more. A probe
-- records nothing itself: it hands what it saw to probe_report, which
-- takes the location from the role, not from the probe, and enqueues it as
-- a job that the full instances record and decide as they do their own
-- checks. deploy/probe-role.sql fills this table and grants the rest.
CREATE TABLE probe_role (
    role_name TEXT PRIMARY KEY,
    location TEXT NOT NULL
);

-- The location of the role this session logged in as, if it is a probe's;
-- null for any other role. Read by the row policies of deploy/probe-role.sql.
CREATE FUNCTION probe_location() RETURNS TEXT
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT location FROM probe_role WHERE role_name = session_user
$$;

-- The queue of that location's checks, as queue.ChecksOf names it (the two
-- change together).
CREATE FUNCTION probe_queue() RETURNS TEXT
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT CASE WHEN location IN ('local', '') THEN 'checks' ELSE 'checks-' || location END
    FROM probe_role WHERE role_name = session_user
$$;

-- probe_report enqueues a probe's rounds (a JSON array, see
-- monitor.ProbeReportArgs) as one probe-report job of its location, on the
-- default queue, which only the full instances work. It refuses a role that
-- is not a probe's, a report that is not an array of 1 to 2,000 rounds or
-- over 8 MB, and a location that has 200 reports waiting already: a probe
-- cannot bury the queue the alerts go through.
CREATE FUNCTION probe_report(rounds JSONB) RETURNS VOID
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    loc TEXT := probe_location();
BEGIN
    IF loc IS NULL THEN
        RAISE EXCEPTION 'role % is no probe: deploy/probe-role.sql names its location', session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF jsonb_typeof(rounds) IS DISTINCT FROM 'array' OR jsonb_array_length(rounds) NOT BETWEEN 1 AND 2000
            OR pg_column_size(rounds) > 8 * 1024 * 1024 THEN
        RAISE EXCEPTION 'a probe report is an array of 1 to 2000 rounds, at most 8 MB'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (SELECT count(*) FROM (
            SELECT 1 FROM river_job
            WHERE state = 'available' AND queue = 'default' AND kind = 'probe-report' AND args->>'location' = loc
            LIMIT 200) waiting) >= 200 THEN
        RAISE EXCEPTION 'location % has 200 reports waiting to be recorded', loc
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    INSERT INTO river_job (args, kind, max_attempts, queue, state, scheduled_at)
        VALUES (jsonb_build_object('location', loc, 'rounds', rounds), 'probe-report', 3, 'default', 'available', now());
END
$$;
-- Any role may ask its own location (the row policies do, for every role
-- that reads the tables they guard); only a probe's may report.
REVOKE ALL ON FUNCTION probe_report(JSONB) FROM PUBLIC;
