-- Maintenance windows: one-off (starts_at to ends_at) or recurring (a cron
-- expression in a time zone, each occurrence lasting duration_s seconds),
-- for every site (no sites, no tags), some sites or some tags. Checks go on
-- during them and are marked; alerts are held until they end.
CREATE TABLE maintenance (
    id BIGSERIAL PRIMARY KEY,
    title TEXT NOT NULL,
    sites BIGINT[] NOT NULL DEFAULT '{}',
    tags TEXT[] NOT NULL DEFAULT '{}',
    starts_at TIMESTAMP WITH TIME ZONE,
    ends_at TIMESTAMP WITH TIME ZONE,
    cron TEXT,
    duration_s INTEGER,
    timezone TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    CHECK ((starts_at IS NOT NULL AND ends_at > starts_at AND cron IS NULL)
        OR (starts_at IS NULL AND ends_at IS NULL AND cron IS NOT NULL AND duration_s > 0 AND timezone IS NOT NULL))
);
