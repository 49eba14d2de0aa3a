-- Incidents written by people on a status page, each a timeline of
-- updates. status is the latest update's, kept here for the lists.
CREATE TABLE page_incident (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL REFERENCES status_page (slug) ON UPDATE CASCADE ON DELETE CASCADE,
    title TEXT NOT NULL,
    impact TEXT NOT NULL,
    status TEXT NOT NULL,
    -- The page's sites it is about; none for the whole page.
    sites BIGINT[] NOT NULL DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    resolved_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX page_incident_slug ON page_incident (slug, created_at DESC);

CREATE TABLE page_incident_update (
    id BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES page_incident (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    -- Markdown, rendered to safe HTML when the page is.
    message TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
CREATE INDEX page_incident_update_incident ON page_incident_update (incident_id, created_at DESC);
