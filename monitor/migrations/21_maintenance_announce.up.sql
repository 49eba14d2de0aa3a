-- How long before each of its periods a window is announced on the status
-- pages of the sites it covers.
ALTER TABLE maintenance ADD COLUMN announce_before_s INTEGER NOT NULL DEFAULT 86400 CHECK (announce_before_s >= 0);
