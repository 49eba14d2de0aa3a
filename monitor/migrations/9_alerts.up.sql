-- What alerts beyond the transitions need of each site's state.
ALTER TABLE site_state
    -- The state last announced: while a site flaps (or, later, is in
    -- maintenance) its changes are held back, and the state it is in at
    -- the end is announced if it differs.
    ADD COLUMN announced_up BOOLEAN NOT NULL DEFAULT true,
    -- When the next reminder of a site still down is due; null for none.
    ADD COLUMN next_reminder_at TIMESTAMP WITH TIME ZONE,
    -- Since when the site has been reported flapping; null when not.
    ADD COLUMN flapping_since TIMESTAMP WITH TIME ZONE,
    -- Degraded checks in a row, and since when the site has been reported
    -- degraded.
    ADD COLUMN slow_streak INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN degraded_since TIMESTAMP WITH TIME ZONE,
    -- The first checks of its last rounds, a bit each (bit 0 the latest, 1
    -- for a failure), how many rounds they are (at most 20), and since when
    -- the site has been reported unstable.
    ADD COLUMN recent BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN recent_n INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN unstable_since TIMESTAMP WITH TIME ZONE,
    -- The certificate last warned about, and the fewest days before its
    -- expiry that were warned of (14, 7 or 1).
    ADD COLUMN cert_warned_for TIMESTAMP WITH TIME ZONE,
    ADD COLUMN cert_warned_days INTEGER;

UPDATE site_state SET announced_up = false WHERE NOT up;
