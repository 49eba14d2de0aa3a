-- People who asked a page to tell them by email of its incidents and
-- maintenance. An address hears nothing but its confirmation until it
-- follows the link in it (confirmed_at). A subscriber's token, in the
-- links of every message it gets (confirm, unsubscribe), is kept sealed
-- with the instance's key, and found by its keyed digest.
ALTER TABLE status_page ADD COLUMN subscriptions BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE page_subscriber (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL REFERENCES status_page (slug) ON UPDATE CASCADE ON DELETE CASCADE,
    -- Lower-cased.
    email TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    token_sealed BYTEA NOT NULL,
    -- Where the links in its messages lead: the server as it was asked to
    -- subscribe (or --public-url).
    link_base TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    -- When the latest confirmation was sent: its link is good for a day.
    confirm_sent_at TIMESTAMP WITH TIME ZONE,
    confirmed_at TIMESTAMP WITH TIME ZONE,
    UNIQUE (slug, email)
);
CREATE INDEX page_subscriber_email ON page_subscriber (email);

-- What a page's subscribers are told, each once: a written incident, an
-- update of one, a maintenance period announced. Written in the same
-- transaction as what it tells of; queued_at is when the job telling it
-- was enqueued (River's jobs live in another database).
CREATE TABLE page_notice (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL REFERENCES status_page (slug) ON UPDATE CASCADE ON DELETE CASCADE,
    -- incident:ID, update:ID or maintenance:WINDOW:START: one notice each.
    key TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- Markdown.
    body TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    queued_at TIMESTAMP WITH TIME ZONE,
    UNIQUE (slug, key)
);
CREATE INDEX page_notice_waiting ON page_notice (id) WHERE queued_at IS NULL;

-- Each notice being sent (claimed_at) and sent (sent_at) to each
-- subscriber: a delivery finds here what was sent and sends nothing
-- twice, and sends a subscriber's notices in order. A claim of a process
-- that died lapses after a few minutes.
CREATE TABLE page_notice_sent (
    notice_id BIGINT NOT NULL REFERENCES page_notice (id) ON DELETE CASCADE,
    subscriber_id BIGINT NOT NULL REFERENCES page_subscriber (id) ON DELETE CASCADE,
    claimed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    sent_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (notice_id, subscriber_id)
);
CREATE INDEX page_notice_sent_subscriber ON page_notice_sent (subscriber_id);
