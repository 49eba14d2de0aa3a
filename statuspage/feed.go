package statuspage

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strings"
	"time"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/monitor/history"
)

// feedDays is how far back a page's feed goes: its written incidents
// resolved since, its sites' outages begun since, and the maintenance
// announced now.
const feedDays = 90

// feedEntry is one item of a page's feed, in either format.
type feedEntry struct {
	id, title          string
	published, updated time.Time
	html               string // the entry's content, as HTML
}

// feed is what a page's feed says.
type feed struct {
	title, slug string
	updated     time.Time
	entries     []feedEntry
}

// handleFeed serves GET /p/:slug/feed.atom and feed.rss: the page's
// written incidents, with their updates, its sites' outages, and the
// maintenance it announces, newest first.
func (s *Service) handleFeed(format string) func(r *http.Request) (any, error) {
	return func(r *http.Request) (any, error) {
		slug := r.PathValue("slug")
		p, err := s.Get(r.Context(), slug)
		if err != nil {
			return nil, err
		}
		header := http.Header{}
		cacheControl := fmt.Sprintf("public, max-age=%d", int(cacheFor.Seconds()))
		if p.access.visibility != "public" {
			if !s.admits(r, slug, p.access, header) {
				return nil, errs.Errorf(errs.Unauthenticated, "the feed of page %s needs its token (?token=) or its cookie", slug)
			}
			cacheControl = "private, no-cache"
		}
		f, err := s.feed(r.Context(), p, s.now())
		if err != nil {
			return nil, err
		}
		base := requestBase(r)
		var (
			body        []byte
			contentType string
		)
		switch format {
		case "atom":
			body, err = f.atom(base)
			contentType = "application/atom+xml; charset=utf-8"
		default:
			body, err = f.rss(base)
			contentType = "application/rss+xml; charset=utf-8"
		}
		if err != nil {
			return nil, err
		}
		header.Set("Content-Type", contentType)
		header.Set("Cache-Control", cacheControl)
		return &api.Raw{Status: http.StatusOK, Header: header, Body: body}, nil
	}
}

// requestBase is the scheme and host the request came to, as a feed's
// links need them: https when a proxy in front says so.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// feed reads what the page p's feed says at now.
func (s *Service) feed(ctx context.Context, p *Page, now time.Time) (*feed, error) {
	slug := p.Slug
	f := &feed{title: p.Title, slug: slug, updated: p.UpdatedAt}
	since := now.AddDate(0, 0, -feedDays)
	ids := p.siteIDs()
	entries, sites, err := s.pageSites(ctx, ids)
	if err != nil {
		return nil, err
	}
	var outages []history.Incident
	if len(ids) > 0 {
		got, err := s.mon.Incidents(ctx, history.IncidentQuery{Sites: ids, Since: since, Limit: maxIncidents})
		if err != nil {
			return nil, err
		}
		outages = got.Incidents
	}
	written, t, err := s.writtenAndTold(ctx, slug, maxIncidents, &since, nil)
	if err != nil {
		return nil, err
	}
	for _, in := range written {
		var b strings.Builder
		for _, u := range in.Updates {
			fmt.Fprintf(&b, "<p><strong>%s</strong> · %s</p>\n%s\n", html.EscapeString(statusText(u.Status)),
				html.EscapeString(when(u.CreatedAt)), renderMarkdown(u.Message))
		}
		for _, o := range t.of(in) {
			if e := sites[o.SiteID]; e != nil {
				_, text := outageText(e.Name, o)
				fmt.Fprintf(&b, "<p>%s</p>\n", text)
			}
		}
		title := in.Title
		if in.ResolvedAt != nil {
			title += " (resolved)"
		}
		f.add(feedEntry{id: fmt.Sprintf("urn:uptime:status-page:%s:incident:%d", slug, in.ID), title: title,
			published: in.CreatedAt, updated: in.UpdatedAt, html: b.String()})
	}
	for _, o := range withDependents(t.untold(outages), sites, now) {
		in := o.Incident
		title, text := outageText(sites[in.SiteID].Name, in)
		if len(o.dependents) > 0 {
			text += " " + html.EscapeString(strings.Join(o.dependents, ", ")) + " went down with it."
		}
		e := feedEntry{id: fmt.Sprintf("urn:uptime:status-page:%s:outage:%d:%d", slug, in.SiteID, in.StartedAt.Unix()),
			title: title, published: in.StartedAt, updated: in.StartedAt, html: "<p>" + text + "</p>"}
		if in.EndedAt != nil {
			e.updated = *in.EndedAt
		}
		f.add(e)
	}
	if len(entries) > 0 {
		for _, a := range s.mon.Announced(ctx, entries, now) {
			f.add(feedEntry{id: fmt.Sprintf("urn:uptime:status-page:%s:maintenance:%d:%d", slug, a.Window, a.Start.Unix()),
				title: maintenanceTitle(a), published: a.Start, updated: a.Start,
				html: fmt.Sprintf("<p>From %s to %s: %s.</p>", html.EscapeString(when(a.Start)), html.EscapeString(when(a.End)),
					html.EscapeString(joinNames(sites, a.Sites)))})
		}
	}
	slices.SortStableFunc(f.entries, func(a, b feedEntry) int { return b.updated.Compare(a.updated) })
	return f, nil
}

// outageText is an outage of the site with the name, as a feed's title and
// as HTML.
func outageText(name string, in history.Incident) (title, text string) {
	if in.EndedAt == nil {
		return name + " is down", fmt.Sprintf("%s is down since %s.", html.EscapeString(name), html.EscapeString(when(in.StartedAt)))
	}
	return name + " was down", fmt.Sprintf("%s was down from %s to %s, for %s.", html.EscapeString(name),
		html.EscapeString(when(in.StartedAt)), html.EscapeString(when(*in.EndedAt)), lasted(in.EndedAt.Sub(in.StartedAt)))
}

// add adds an entry; the feed is as new as its newest.
func (f *feed) add(e feedEntry) {
	f.entries = append(f.entries, e)
	if e.updated.After(f.updated) {
		f.updated = e.updated
	}
}

// The Atom format (RFC 4287).
type (
	atomFeed struct {
		XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
		Title   string      `xml:"title"`
		ID      string      `xml:"id"`
		Updated string      `xml:"updated"`
		Links   []atomLink  `xml:"link"`
		Author  atomPerson  `xml:"author"`
		Entries []atomEntry `xml:"entry"`
	}
	atomLink struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
		Type string `xml:"type,attr,omitempty"`
	}
	atomPerson struct {
		Name string `xml:"name"`
	}
	atomEntry struct {
		Title     string      `xml:"title"`
		ID        string      `xml:"id"`
		Published string      `xml:"published"`
		Updated   string      `xml:"updated"`
		Link      atomLink    `xml:"link"`
		Content   atomContent `xml:"content"`
	}
	atomContent struct {
		Type string `xml:"type,attr"`
		Body string `xml:",chardata"`
	}
)

func (f *feed) atom(base string) ([]byte, error) {
	page := base + "/p/" + f.slug
	out := atomFeed{Title: f.title, ID: "urn:uptime:status-page:" + f.slug, Updated: f.updated.UTC().Format(time.RFC3339),
		Links: []atomLink{{Rel: "alternate", Href: page, Type: "text/html"},
			{Rel: "self", Href: page + "/feed.atom", Type: "application/atom+xml"}},
		Author: atomPerson{Name: f.title}}
	for _, e := range f.entries {
		out.Entries = append(out.Entries, atomEntry{Title: e.title, ID: e.id, Published: e.published.UTC().Format(time.RFC3339),
			Updated: e.updated.UTC().Format(time.RFC3339), Link: atomLink{Rel: "alternate", Href: page, Type: "text/html"},
			Content: atomContent{Type: "html", Body: e.html}})
	}
	return marshalFeed(out)
}

// The RSS 2.0 format.
type (
	rssFeed struct {
		XMLName xml.Name   `xml:"rss"`
		Version string     `xml:"version,attr"`
		Channel rssChannel `xml:"channel"`
	}
	rssChannel struct {
		Title         string    `xml:"title"`
		Link          string    `xml:"link"`
		Description   string    `xml:"description"`
		LastBuildDate string    `xml:"lastBuildDate"`
		Items         []rssItem `xml:"item"`
	}
	rssItem struct {
		Title       string  `xml:"title"`
		Link        string  `xml:"link"`
		GUID        rssGUID `xml:"guid"`
		PubDate     string  `xml:"pubDate"`
		Description string  `xml:"description"`
	}
	rssGUID struct {
		IsPermaLink string `xml:"isPermaLink,attr"`
		Value       string `xml:",chardata"`
	}
)

func (f *feed) rss(base string) ([]byte, error) {
	page := base + "/p/" + f.slug
	out := rssFeed{Version: "2.0", Channel: rssChannel{Title: f.title, Link: page,
		Description: "Incidents and maintenance of " + f.title, LastBuildDate: f.updated.UTC().Format(time.RFC1123Z)}}
	for _, e := range f.entries {
		out.Channel.Items = append(out.Channel.Items, rssItem{Title: e.title, Link: page,
			GUID: rssGUID{IsPermaLink: "false", Value: e.id}, PubDate: e.updated.UTC().Format(time.RFC1123Z), Description: e.html})
	}
	return marshalFeed(out)
}

func marshalFeed(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("write the feed: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
