-- The sites as the monitor schedules them: a copy of each site's settings,
-- defaults filled in, from the site database. Notices of changes keep it,
-- and reconciliation repairs what a lost notice left stale. next_at is
-- when the site is next due; the scheduler claims due rows and moves
-- next_at on by the site's interval, so each round is claimed once.
CREATE TABLE monitored (
    site_id BIGINT PRIMARY KEY,
    url TEXT NOT NULL,
    config JSONB NOT NULL,
    version BIGINT NOT NULL,
    interval_ms BIGINT NOT NULL,
    -- How long one round of the site may take: its checks, re-checks and
    -- the pauses between them.
    budget_ms BIGINT NOT NULL,
    paused BOOLEAN NOT NULL DEFAULT false,
    next_at TIMESTAMP WITH TIME ZONE NOT NULL,
    added_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
CREATE INDEX monitored_due ON monitored (next_at) WHERE NOT paused;

-- When a scheduling pass last ran, on any instance: the others fill in
-- while the leader's passes stop, until River elects another.
CREATE TABLE scheduler (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    last_pass TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT 'epoch'
);
INSERT INTO scheduler DEFAULT VALUES;

-- An up check slower than the site's max_latency is degraded.
ALTER TABLE checks ADD COLUMN degraded BOOLEAN NOT NULL DEFAULT false;

-- streak counts the checks in a row that disagree with the confirmed
-- state, for sites that need several passing checks to be up again.
ALTER TABLE site_state
    ADD COLUMN degraded BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN streak INTEGER NOT NULL DEFAULT 0;
