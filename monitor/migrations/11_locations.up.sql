-- Where each check was made from, and the instances checking from each
-- location. Adding a column without a default rewrites nothing.
ALTER TABLE checks ADD COLUMN location TEXT;

CREATE TABLE instance (
    id TEXT PRIMARY KEY,
    location TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_seen TIMESTAMP WITH TIME ZONE NOT NULL,
    checks_per_second DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX instance_location ON instance (location, last_seen);
