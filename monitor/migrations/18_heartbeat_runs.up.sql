-- Push sites run at the times of a cron expression as well as every
-- period; a run can say it began, and each signal is kept for the
-- dashboard's list of recent runs.
ALTER TABLE heartbeat
    -- A cron expression and its time zone, where the job runs at its
    -- times; empty for a job expected every period_ms.
    ADD COLUMN cron TEXT NOT NULL DEFAULT '',
    ADD COLUMN timezone TEXT NOT NULL DEFAULT '',
    -- The run awaited: expected at this time. Null while none is: before
    -- the first run ends, and while paused.
    ADD COLUMN expected_at TIMESTAMP WITH TIME ZONE,
    -- How many signals came: every so many, the oldest kept beyond the
    -- last hundred are deleted.
    ADD COLUMN signals BIGINT NOT NULL DEFAULT 0;
-- due_at is now the earliest of expected_at plus the grace and the start
-- of each run going plus the grace.
UPDATE heartbeat SET expected_at = last_success_at + period_ms * interval '1 millisecond' WHERE due_at IS NOT NULL;

-- The runs going: begun (/start) and not yet ended. rid is the run id the
-- job gave (?rid=), or empty.
CREATE TABLE heartbeat_run (
    site_id BIGINT NOT NULL REFERENCES heartbeat ON DELETE CASCADE,
    rid TEXT NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (site_id, rid)
);

-- Every signal, as it came: what it said, its run's id and length, and
-- the body of a POST (at most 10,000 bytes). The last hundred or so of
-- each site are kept.
CREATE TABLE heartbeat_signal (
    site_id BIGINT NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    -- success, fail, start, log, or exit (with exit_code).
    kind TEXT NOT NULL,
    exit_code INT,
    rid TEXT NOT NULL DEFAULT '',
    duration_ms BIGINT,
    body TEXT NOT NULL DEFAULT ''
);
CREATE INDEX heartbeat_signal_site ON heartbeat_signal (site_id, at DESC);
CREATE INDEX heartbeat_signal_at ON heartbeat_signal (at);
