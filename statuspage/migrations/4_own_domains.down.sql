ALTER TABLE status_page DROP COLUMN domain;
