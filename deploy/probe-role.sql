-- What a probe (`uptime run --probe`) may do, and nothing more: read the
-- sites as scheduled, keep its heartbeat, work River's jobs of its own
-- location's queue, and report what it saw through probe_report, which
-- takes the location from the role and hands the report to the full
-- instances to record and decide. It writes no check, state, incident or
-- alert itself, inserts no job, deletes nothing but its own location's
-- heartbeats, cannot change the schema, and cannot connect to the site,
-- statuspage or notify databases: taken over, it can make up the results
-- of its own location, which the quorum outvotes, and nothing more.
--
-- Create the role first, as a superuser or a role with CREATEROLE:
--     CREATE ROLE uptime_probe LOGIN PASSWORD '...';
-- then run this file connected to the monitor database as the role that
-- owns its tables (the one the full instances use), after a full instance
-- of the same version has migrated it, naming the probe's location:
--     psql "postgres://uptime@db.example/uptime_monitor" -v location=ap-south -f deploy/probe-role.sql
-- and restart the full instances once, so that they stop trusting
-- PostgreSQL's notifications (which any connected role can send) and poll
-- instead. For a second probe, edit the role's name and run it again.

-- The role and its location: every right below goes through it.
INSERT INTO probe_role (role_name, location) VALUES ('uptime_probe', :'location')
    ON CONFLICT (role_name) DO UPDATE SET location = EXCLUDED.location;

-- What an earlier version of this file granted goes first: the rights
-- below are all it keeps.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM uptime_probe;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM uptime_probe;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM uptime_probe;

GRANT USAGE ON SCHEMA public TO uptime_probe;

-- Reads: the schema's version, the sites as scheduled (their credentials
-- sealed: the probe holds UPTIME_SECRET_KEY to check with them), the probe
-- of the key they are sealed with, and the states as the locations see
-- them (their URLs masked), so that it confirms a failure of a site up.
GRANT SELECT ON schema_migrations, monitored, sealing_key, site_state TO uptime_probe;

-- Its reports.
GRANT EXECUTE ON FUNCTION probe_report(JSONB) TO uptime_probe;

-- Its heartbeat and its location's name: rows of its own location only.
GRANT SELECT, INSERT, UPDATE, DELETE ON instance TO uptime_probe;
GRANT SELECT, INSERT ON location TO uptime_probe;
ALTER TABLE instance ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS probe_own_location ON instance;
CREATE POLICY probe_own_location ON instance
    USING ((SELECT probe_location()) IS NULL OR location = (SELECT probe_location()));
ALTER TABLE location ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS probe_own_location ON location;
CREATE POLICY probe_own_location ON location
    USING ((SELECT probe_location()) IS NULL OR name = (SELECT probe_location()));

-- River: the jobs of its location's queue, which it fetches and finishes,
-- and that queue's row. No INSERT and no DELETE: a probe never leads, and
-- its reports are enqueued by probe_report. The policies leave every other
-- role as it was: the owner passes them, and a role that is no probe's
-- sees every row.
GRANT SELECT, UPDATE ON river_job TO uptime_probe;
GRANT SELECT, INSERT, UPDATE ON river_queue TO uptime_probe;
GRANT SELECT ON river_leader, river_migration TO uptime_probe;
ALTER TABLE river_job ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS probe_own_queue ON river_job;
CREATE POLICY probe_own_queue ON river_job
    USING ((SELECT probe_queue()) IS NULL OR queue = (SELECT probe_queue()));
ALTER TABLE river_queue ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS probe_own_queue ON river_queue;
CREATE POLICY probe_own_queue ON river_queue
    USING ((SELECT probe_queue()) IS NULL OR name = (SELECT probe_queue()));

-- No other database: PostgreSQL lets every role connect to every database
-- unless told otherwise. The others are named as this one is, with site,
-- statuspage and notify in place of monitor; databases named otherwise
-- need the same REVOKE by hand.
DO $$
DECLARE
    prefix TEXT := left(current_database(), length(current_database()) - length('monitor'));
    db TEXT;
BEGIN
    FOR db IN SELECT datname FROM pg_database
            WHERE datname IN (prefix || 'site', prefix || 'statuspage', prefix || 'notify') LOOP
        EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', db);
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', db, current_user);
    END LOOP;
END
$$;
