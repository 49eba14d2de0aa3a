-- A site's credentials (its URL's user information and secret-looking
-- query values, its headers' values, its body) are sealed with the
-- instances' secret key, as channels are: url and settings keep the site
-- as open reads show it, sealed the rest (AES-GCM), so that a copy of the
-- database alone holds no site's password. The program seals the rows of
-- earlier versions in place at its start.
ALTER TABLE sites
    ADD COLUMN sealed BYTEA,
    -- What keeps a URL unique: the URL itself where it hides nothing, else
    -- a keyed hash of it (HMAC under a key derived from the secret key).
    -- Two sites may differ by their passwords alone, which url no longer
    -- shows, and a plain hash would let a copy of the database test
    -- guesses of a password.
    ADD COLUMN unique_url TEXT;
ALTER TABLE sites DROP CONSTRAINT sites_url_key;
CREATE UNIQUE INDEX sites_unique_url ON sites (unique_url);
-- Until its row is sealed, a site's url is its URL whole, unique as before.
CREATE UNIQUE INDEX sites_url_unsealed ON sites (url) WHERE unique_url IS NULL;

-- The probe of the key the credentials are sealed with: see notify's.
CREATE TABLE sealing_key (
    id INT PRIMARY KEY CHECK (id = 1),
    probe BYTEA NOT NULL
);
