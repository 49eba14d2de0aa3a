ALTER TABLE page_incident DROP COLUMN outages;
