-- The audit log: every change, sign-in and refused credential. A change's
-- row is written before the change runs and finished after it, so that no
-- change is made without its row; one never finished says so.
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    -- change, export, sign-in, sign-in refused, sign-out, credential refused
    kind TEXT NOT NULL,
    -- Who: a user's email, a token's name, "api-key" or "anonymous".
    actor TEXT NOT NULL,
    -- user, token, session, api-key or anonymous
    actor_kind TEXT NOT NULL,
    user_id BIGINT,
    token_id BIGINT,
    client TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL DEFAULT '',
    route TEXT NOT NULL DEFAULT '',
    -- The object changed, as "site/5".
    object TEXT NOT NULL DEFAULT '',
    -- The answer's status; NULL while the change runs, or if the process
    -- stopped before it answered.
    status INTEGER,
    -- The object before and after, as reads show it, secrets masked.
    before JSONB,
    after JSONB,
    message TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_actor ON audit (actor, id);
CREATE INDEX audit_object ON audit (object, id);
CREATE INDEX audit_at ON audit (at);
