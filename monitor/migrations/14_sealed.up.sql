-- The monitor's copy of each site keeps its credentials sealed, as the site
-- database does (see site's migration 4): url and settings as open reads
-- show them, sealed the rest, under the instances' secret key. The rows
-- written before are marked in_clear, and the program seals them in place
-- at its start, with the URL site_state keeps.
ALTER TABLE monitored
    ADD COLUMN sealed BYTEA,
    ADD COLUMN in_clear BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE monitored ALTER COLUMN in_clear SET DEFAULT false;
CREATE INDEX monitored_in_clear ON monitored (site_id) WHERE in_clear;

-- The probe of the key the credentials are sealed with: see notify's.
CREATE TABLE sealing_key (
    id INT PRIMARY KEY CHECK (id = 1),
    probe BYTEA NOT NULL
);
