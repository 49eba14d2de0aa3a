package statuspage_test

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"uptime/internal/apptest"
)

// What a reader of feeds reads, written apart from the server's types.
type (
	atomDoc struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		Title   string   `xml:"http://www.w3.org/2005/Atom title"`
		ID      string   `xml:"http://www.w3.org/2005/Atom id"`
		Updated string   `xml:"http://www.w3.org/2005/Atom updated"`
		Links   []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"http://www.w3.org/2005/Atom link"`
		Entries []struct {
			Title   string `xml:"http://www.w3.org/2005/Atom title"`
			ID      string `xml:"http://www.w3.org/2005/Atom id"`
			Updated string `xml:"http://www.w3.org/2005/Atom updated"`
			Content struct {
				Type string `xml:"type,attr"`
				Body string `xml:",chardata"`
			} `xml:"http://www.w3.org/2005/Atom content"`
		} `xml:"http://www.w3.org/2005/Atom entry"`
	}
	rssDoc struct {
		XMLName xml.Name `xml:"rss"`
		Version string   `xml:"version,attr"`
		Channel struct {
			Title string `xml:"title"`
			Link  string `xml:"link"`
			Items []struct {
				Title       string `xml:"title"`
				GUID        string `xml:"guid"`
				PubDate     string `xml:"pubDate"`
				Description string `xml:"description"`
			} `xml:"item"`
		} `xml:"channel"`
	}
)

// A page's feeds, Atom and RSS, hold its written incidents with their
// updates rendered, its sites' outages and the maintenance it announces,
// newest first, each once, and parse back as what they claim to be; a page
// that does not exist has none.
func TestStatusPageFeeds(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/down") {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	var web, shop struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Web"}`, srv.URL+"/web"), &web)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Shop", "confirmations": 0}`, srv.URL+"/down"), &shop)
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "acme", "title": "Acme & Co",
		"groups": [{"name": "All", "sites": [%d, %d]}]}`, web.ID, shop.ID), nil)
	var in struct{ ID int64 }
	a.Call(t, "POST", "/status-page/acme/incident", `{"title": "Slow checkout", "status": "investigating", "message": "We are **looking**."}`, &in)
	time.Sleep(10 * time.Millisecond)
	a.Call(t, "POST", fmt.Sprintf("/status-page/acme/incident/%d/update", in.ID), `{"status": "identified", "message": "A full disk."}`, nil)
	a.Call(t, "POST", "/maintenance", fmt.Sprintf(`{"title": "Database upgrade", "sites": [%d], "start": %q, "end": %q}`,
		web.ID, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339)), nil)
	a.Call(t, "POST", fmt.Sprintf("/check/%d", shop.ID), "", nil) // down: an outage

	status, h, body := call(t, a, "GET", "/p/acme/feed.atom", "")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/atom+xml") {
		t.Fatalf("GET feed.atom = %d %s", status, h.Get("Content-Type"))
	}
	var atom atomDoc
	if err := xml.Unmarshal([]byte(body), &atom); err != nil {
		t.Fatalf("the Atom feed does not parse: %v\n%s", err, body)
	}
	if atom.Title != "Acme & Co" || atom.ID == "" {
		t.Errorf("feed title %q, id %q", atom.Title, atom.ID)
	}
	if _, err := time.Parse(time.RFC3339, atom.Updated); err != nil {
		t.Errorf("feed updated: %v", err)
	}
	self := false
	for _, l := range atom.Links {
		self = self || l.Rel == "self" && strings.HasPrefix(l.Href, "http://") && strings.HasSuffix(l.Href, "/p/acme/feed.atom")
	}
	if !self {
		t.Errorf("no absolute self link: %+v", atom.Links)
	}
	titles := map[string]string{}
	ids := map[string]bool{}
	for _, e := range atom.Entries {
		if _, err := time.Parse(time.RFC3339, e.Updated); err != nil || e.ID == "" || ids[e.ID] {
			t.Errorf("entry %q: updated %q (%v), id %q once", e.Title, e.Updated, err, e.ID)
		}
		ids[e.ID] = true
		if e.Content.Type != "html" {
			t.Errorf("entry %q: content of type %q", e.Title, e.Content.Type)
		}
		titles[e.Title] = e.Content.Body
	}
	if len(atom.Entries) != 3 {
		t.Errorf("%d entries, want 3 (the incident, the outage, the maintenance): %v", len(atom.Entries), titles)
	}
	incident := titles["Slow checkout"]
	if !strings.Contains(incident, "<strong>looking</strong>") || strings.Index(incident, "A full disk") > strings.Index(incident, "looking") {
		t.Errorf("the incident's content, newest update first, Markdown rendered: %q", incident)
	}
	if _, ok := titles["Shop is down"]; !ok {
		t.Errorf("no entry of the outage: %v", titles)
	}
	if !strings.Contains(titles["Scheduled maintenance: Database upgrade"], "Web") {
		t.Errorf("no entry of the maintenance naming its site: %v", titles)
	}

	status, h, body = call(t, a, "GET", "/p/acme/feed.rss", "")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/rss+xml") {
		t.Fatalf("GET feed.rss = %d %s", status, h.Get("Content-Type"))
	}
	var rss rssDoc
	if err := xml.Unmarshal([]byte(body), &rss); err != nil {
		t.Fatalf("the RSS feed does not parse: %v\n%s", err, body)
	}
	if rss.Version != "2.0" || rss.Channel.Title != "Acme & Co" || !strings.HasSuffix(rss.Channel.Link, "/p/acme") {
		t.Errorf("channel %q %q, version %q", rss.Channel.Title, rss.Channel.Link, rss.Version)
	}
	if len(rss.Channel.Items) != len(atom.Entries) {
		t.Errorf("%d items, %d Atom entries", len(rss.Channel.Items), len(atom.Entries))
	}
	var last time.Time
	for i, it := range rss.Channel.Items {
		at, err := time.Parse(time.RFC1123Z, it.PubDate)
		if err != nil || it.GUID == "" || it.Description == "" {
			t.Errorf("item %q: pubDate %q (%v), guid %q", it.Title, it.PubDate, err, it.GUID)
		}
		if i > 0 && at.After(last) {
			t.Errorf("item %q is newer than the one before it", it.Title)
		}
		last = at
	}

	if status, _, _ := call(t, a, "GET", "/p/nope/feed.atom", ""); status != http.StatusNotFound {
		t.Errorf("the feed of no page: %d, want 404", status)
	}
	_, _, page := call(t, a, "GET", "/p/acme", "")
	if !strings.Contains(page, `<link rel="alternate" type="application/atom+xml" title="Acme &amp; Co" href="/p/acme/feed.atom">`) {
		t.Errorf("the page does not point to its feed")
	}
}
