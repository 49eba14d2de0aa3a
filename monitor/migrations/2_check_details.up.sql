-- What each check saw, beyond up or down.
ALTER TABLE checks
    ADD COLUMN status_code INTEGER,
    ADD COLUMN latency_ms DOUBLE PRECISION,
    ADD COLUMN reason TEXT NOT NULL DEFAULT '',
    ADD COLUMN cert_expires_at TIMESTAMP WITH TIME ZONE;

CREATE INDEX checks_site_id_checked_at ON checks (site_id, checked_at DESC);
CREATE INDEX checks_checked_at ON checks (checked_at);

-- The latest state of each site: what /status answers from, and the row
-- whose lock decides transitions. "up" is the confirmed state.
CREATE TABLE site_state (
    site_id BIGINT PRIMARY KEY,
    url TEXT NOT NULL,
    up BOOLEAN NOT NULL,
    since TIMESTAMP WITH TIME ZONE,
    checked_at TIMESTAMP WITH TIME ZONE,
    status_code INTEGER,
    latency_ms DOUBLE PRECISION,
    reason TEXT NOT NULL DEFAULT '',
    cert_expires_at TIMESTAMP WITH TIME ZONE
);
