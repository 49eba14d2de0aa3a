-- Channels: where alerts go. The URL and the webhook secret are sealed
-- (AES-GCM, under a key kept out of the database); url_masked is what
-- responses and logs show of the URL.
CREATE TABLE channel (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    url_sealed BYTEA NOT NULL,
    url_masked TEXT NOT NULL,
    secret_sealed BYTEA,
    tags TEXT[] NOT NULL DEFAULT '{}',
    sites BIGINT[] NOT NULL DEFAULT '{}',
    events TEXT[] NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_delivery_at TIMESTAMPTZ,
    last_delivery_event TEXT,
    last_delivery_ok BOOLEAN,
    last_delivery_error TEXT
);

-- A value sealed with the key of the first instance: an instance holding
-- another key finds out at start-up, not when it first opens a channel.
CREATE TABLE sealing_key (
    id INT PRIMARY KEY CHECK (id = 1),
    probe BYTEA NOT NULL
);
