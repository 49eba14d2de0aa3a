-- The host name a page is served at, at /, besides /p/<slug>; NULL for
-- none. Each page's own.
ALTER TABLE status_page ADD COLUMN domain TEXT UNIQUE;
