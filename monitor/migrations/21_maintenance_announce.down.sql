ALTER TABLE maintenance DROP COLUMN announce_before_s;
