-- Push sites: jobs that report in at their ping URL rather than sites that
-- are fetched. A row a push site, kept with the monitor's copy of its
-- settings (the scheduler leaves push sites alone: their copy is marked
-- paused). The deadline is here, not in a timer of one process, so that
-- any instance notices it passed, once, whatever becomes of the others.
CREATE TABLE heartbeat (
    site_id BIGINT PRIMARY KEY,
    -- The SHA-256, in hex, of the token in its ping URL.
    token_hash TEXT NOT NULL UNIQUE,
    version BIGINT NOT NULL,
    period_ms BIGINT NOT NULL,
    grace_ms BIGINT NOT NULL,
    paused BOOLEAN NOT NULL,
    last_signal_at TIMESTAMP WITH TIME ZONE,
    last_success_at TIMESTAMP WITH TIME ZONE,
    -- When the site is late: the next signal's expected time plus the
    -- grace. Null while none is expected: before the first success, after
    -- a failure or a missed deadline (until the next success), and while
    -- paused.
    due_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX heartbeat_due ON heartbeat (due_at) WHERE due_at IS NOT NULL;
