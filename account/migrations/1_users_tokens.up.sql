-- Users: the people who sign in, each with a role.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    -- Argon2id, in the PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash);
    -- NULL for a user who signs in through an identity provider only.
    password_hash TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMP WITH TIME ZONE,
    disabled BOOLEAN NOT NULL DEFAULT false
);

-- One user per address, however it is capitalised.
CREATE UNIQUE INDEX users_email ON users (lower(email));

-- API tokens: shown once when made, kept as their SHA-256 only.
CREATE TABLE token (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    -- The user it acts for: its role is at most theirs, and it ends with
    -- them. NULL for a token made with the API key (made_by says so).
    owner_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    made_by TEXT NOT NULL DEFAULT '',
    hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    last_used_at TIMESTAMP WITH TIME ZONE,
    expires_at TIMESTAMP WITH TIME ZONE
);

CREATE INDEX token_owner ON token (owner_id);
