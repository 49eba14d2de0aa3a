-- Status pages: a public page of groups of sites, at /p/<slug>.
CREATE TABLE status_page (
    slug TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Whether the public page shows each site's URL; by default it shows
    -- names only.
    show_urls BOOLEAN NOT NULL DEFAULT false,
    -- [{"name": "...", "sites": [1, 2]}], in the page's order.
    groups JSONB NOT NULL DEFAULT '[]',
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
