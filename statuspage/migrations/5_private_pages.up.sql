-- Who may see a page: anyone (public), those who gave its password (a
-- signed cookie then), or those who have its token (?token=, for a wall
-- screen). The password is kept as an Argon2id hash and the token as its
-- SHA-256; secret signs the page's cookies, and is made anew with each
-- new password or token, so that the cookies given before are void.
ALTER TABLE status_page ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public'
        CHECK (visibility IN ('public', 'password', 'token')),
    ADD COLUMN password_hash TEXT,
    ADD COLUMN token_hash BYTEA,
    ADD COLUMN secret BYTEA;
