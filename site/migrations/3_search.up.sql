-- What GET /site?q= searches: the URL as open reads show it (credentials
-- hidden) and the name, written by the program with each change of a
-- site, and for the sites before this version at its start. Searching the
-- stored URL would let anyone guess a password one character at a time.
ALTER TABLE sites ADD COLUMN search TEXT;

-- A trigram index makes a search cost what it finds, not a scan of every
-- site; without pg_trgm (it ships with PostgreSQL's contrib, and any
-- database owner may create it) searching scans.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX sites_search_trgm ON sites USING gin (search gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): searching sites scans them', SQLERRM;
END
$$;
