-- Two-factor sign-in: a TOTP secret, sealed with the secret key like
-- channels' secrets. totp_pending is one offered and not yet confirmed.
ALTER TABLE users ADD COLUMN totp_secret BYTEA, ADD COLUMN totp_pending BYTEA;

-- Recovery codes, each signing in once in place of a TOTP code, kept as
-- their SHA-256.
CREATE TABLE recovery_code (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash BYTEA NOT NULL,
    used_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (user_id, hash)
);
