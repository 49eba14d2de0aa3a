-- What a probe (`uptime run --probe`) may do, and nothing more: read the
-- sites as scheduled and the maintenance windows, record its checks, decide
-- and record each site's state and incidents, keep its heartbeat, and work
-- River's jobs of its location while publishing the alerts it decides as
-- jobs that the full instances deliver. It cannot change the schema, and
-- has no rights in the site, statuspage or notify databases: it never sees
-- a channel's URL, a status page or the site list's settings beyond the
-- copy the scheduler keeps.
--
-- Create the role first, as a superuser or a role with CREATEROLE:
--     CREATE ROLE uptime_probe LOGIN PASSWORD '...';
-- then run this file connected to the monitor database as the role that
-- owns its tables (the one the full instances use), after a full instance
-- of the same version has migrated it:
--     psql "postgres://uptime@db.example/uptime_monitor" -f deploy/probe-role.sql

GRANT USAGE ON SCHEMA public TO uptime_probe;

-- Reads: the schema's version, the sites as scheduled (their credentials
-- sealed: the probe holds UPTIME_SECRET_KEY to check with them), the probe
-- of the key they are sealed with, the maintenance windows, the locations
-- and the rollups' progress (its checks' trigger reads it).
GRANT SELECT ON schema_migrations, monitored, sealing_key, maintenance, location, rollup_closed TO uptime_probe;
GRANT INSERT ON location TO uptime_probe;
-- Holding the schedule's rows of the sites it records, so that a site
-- deleted meanwhile gets nothing recorded (the function locks them as the
-- owner; the role cannot change them).
GRANT EXECUTE ON FUNCTION hold_scheduled(BIGINT[]) TO uptime_probe;

-- Its checks, with the counts their trigger keeps per site and day.
GRANT INSERT ON checks TO uptime_probe;
GRANT SELECT, INSERT, UPDATE ON checks_day, rollup_late TO uptime_probe;

-- Its decisions: each site's state, per location and combined, and its
-- incidents.
GRANT SELECT, INSERT, UPDATE ON site_state, incident TO uptime_probe;
GRANT USAGE ON SEQUENCE incident_id_seq TO uptime_probe;

-- Its heartbeat, and the clearing of instances gone for an hour.
GRANT SELECT, INSERT, UPDATE, DELETE ON instance TO uptime_probe;

-- River: the jobs of its location's queue, and the alert jobs it publishes.
-- No DELETE: a probe is never River's leader, whose maintenance alone
-- deletes jobs.
GRANT SELECT, INSERT, UPDATE ON river_job, river_queue TO uptime_probe;
GRANT SELECT ON river_leader, river_migration TO uptime_probe;
GRANT USAGE ON SEQUENCE river_job_id_seq TO uptime_probe;
