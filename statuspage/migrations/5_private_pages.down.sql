ALTER TABLE status_page DROP COLUMN visibility, DROP COLUMN password_hash, DROP COLUMN token_hash, DROP COLUMN secret;
