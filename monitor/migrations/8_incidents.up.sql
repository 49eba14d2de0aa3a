-- Incidents: each confirmed down period of a site, from the check that
-- confirmed it down to the one that confirmed it up again (NULL while it
-- lasts). cause is the reason of the check that confirmed it; checks is
-- how many checks it lasted, filled in when it ends.
CREATE TABLE incident (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    ended_at TIMESTAMP WITH TIME ZONE,
    cause TEXT NOT NULL,
    checks INTEGER
);
CREATE INDEX incident_site_id ON incident (site_id, id DESC);
CREATE INDEX incident_started_at ON incident (started_at);
-- One open incident per site.
CREATE UNIQUE INDEX incident_open ON incident (site_id) WHERE ended_at IS NULL;

-- The sites down at the upgrade are in an incident since they went down.
INSERT INTO incident (site_id, started_at, cause)
    SELECT site_id, COALESCE(since, checked_at, now()), COALESCE(reason, '')
    FROM site_state WHERE NOT up;
