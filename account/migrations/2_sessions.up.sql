-- Sessions of the dashboard: a cookie's secret, kept as its SHA-256, so
-- that every instance honours it and signing out ends it everywhere.
CREATE TABLE user_session (
    hash BYTEA PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Sent back with every change the session makes (X-CSRF-Token).
    csrf TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    client TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT ''
);

CREATE INDEX user_session_user_id ON user_session (user_id);

-- Failed sign-ins of the last minutes, by address and by client, so that
-- every instance counts them together.
CREATE TABLE signin_failure (
    at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    email TEXT NOT NULL,
    client TEXT NOT NULL
);

CREATE INDEX signin_failure_email ON signin_failure (lower(email), at);
CREATE INDEX signin_failure_client ON signin_failure (client, at);
