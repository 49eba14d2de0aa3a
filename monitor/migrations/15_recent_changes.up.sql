-- The times of each site's latest changes of state, oldest first, as a
-- JSON array: the flap window's, as many as tell whether it flaps (see
-- decide.Alerts.Changes). Kept with the rest of the state, so that a
-- decision reads nothing but the state row. Filled from the incidents of
-- the last week, the newest 32 of them.
ALTER TABLE site_state ADD COLUMN changes JSONB NOT NULL DEFAULT '[]';
UPDATE site_state s SET changes = c.changes
FROM (
    SELECT site_id, jsonb_agg(at ORDER BY at) AS changes
    FROM (
        SELECT site_id, at, row_number() OVER (PARTITION BY site_id ORDER BY at DESC) AS nth
        FROM (
            SELECT site_id, started_at AS at FROM incident WHERE started_at > now() - interval '7 days'
            UNION ALL
            SELECT site_id, ended_at FROM incident WHERE ended_at > now() - interval '7 days'
        ) changed
    ) latest
    WHERE nth <= 32
    GROUP BY site_id
) c
WHERE s.site_id = c.site_id;
