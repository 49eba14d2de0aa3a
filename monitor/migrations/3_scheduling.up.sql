-- The sites as the monitor schedules them: a copy of each site's settings
-- (the ones it was given) from the site database, kept by notices of
-- changes and repaired by reconciliation. A site is due at the times that
-- are phase_ms past a multiple of interval_ms, so the schedule needs no
-- write per round: a scheduling pass claims a window of time, and with it
-- the sites whose phase falls in it.
CREATE TABLE monitored (
    site_id BIGINT PRIMARY KEY,
    url TEXT NOT NULL,
    settings JSONB NOT NULL,
    version BIGINT NOT NULL,
    -- The program's defaults the row was written with: interval_ms and
    -- budget_ms follow them where the settings say nothing.
    defaults TEXT NOT NULL,
    interval_ms BIGINT NOT NULL,
    phase_ms BIGINT NOT NULL,
    -- How long one round of the site may take: its checks, re-checks and
    -- the pauses between them.
    budget_ms BIGINT NOT NULL,
    paused BOOLEAN NOT NULL DEFAULT false,
    -- When a new site's first check was asked for: its rounds due less
    -- than half an interval later are left out, as that check is theirs.
    first_check_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX monitored_phase ON monitored (interval_ms, phase_ms) WHERE NOT paused;

-- The scheduler's one row: the end of the last window claimed, and when a
-- pass last ran, on any instance, so that the others fill in while the
-- leader's passes stop, until River elects another.
CREATE TABLE scheduler (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    claimed_until TIMESTAMP WITH TIME ZONE,
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
