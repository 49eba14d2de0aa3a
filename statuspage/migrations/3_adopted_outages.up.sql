-- The outages (the monitor's incidents: a site confirmed down) that a
-- written incident tells the story of: the page shows them within it, not
-- apart.
ALTER TABLE page_incident ADD COLUMN outages BIGINT[] NOT NULL DEFAULT '{}';
