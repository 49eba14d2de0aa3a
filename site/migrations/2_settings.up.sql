-- A site's own settings: only the ones it was given, as JSON, so that every
-- other setting follows the program's defaults. version counts the site's
-- changes, so that the monitor can tell which of its copies are stale.
ALTER TABLE sites
    ADD COLUMN settings JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
