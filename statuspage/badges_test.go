package statuspage_test

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"uptime/internal/apptest"
	"uptime/internal/wait"
)

// svgBadge is what a badge says, read back as XML.
type svgBadge struct {
	Width string `xml:"width,attr"`
	Title string `xml:"title"`
	Rects []struct {
		Fill string `xml:"fill,attr"`
	} `xml:"g>rect"`
	Texts []struct {
		Length string `xml:"textLength,attr"`
		Text   string `xml:",chardata"`
	} `xml:"g>text"`
}

// getBadge fetches a badge and parses it; a body that is not well-formed
// XML fails the test.
func getBadge(t *testing.T, a *apptest.App, path string) (int, http.Header, svgBadge, string) {
	t.Helper()
	status, header, body := a.DoWithHeaders(t, "GET", path, "")
	var b svgBadge
	if header.Get("Content-Type") == "image/svg+xml; charset=utf-8" {
		if err := xml.Unmarshal([]byte(body), &b); err != nil {
			t.Fatalf("GET %s: not well-formed XML: %v\n%s", path, err, body)
		}
		if len(b.Texts) != 4 || len(b.Rects) != 3 {
			t.Fatalf("GET %s: %d texts and %d boxes, want 4 and 3:\n%s", path, len(b.Texts), len(b.Rects), body)
		}
	}
	return status, header, b, body
}

func (b svgBadge) label() string   { return b.Texts[1].Text }
func (b svgBadge) message() string { return b.Texts[3].Text }
func (b svgBadge) color() string   { return b.Rects[1].Fill }

// waitForBadge fetches the badge until its message is want.
func waitForBadge(t *testing.T, a *apptest.App, path, want string) svgBadge {
	t.Helper()
	var b svgBadge
	wait.For(t, 15*time.Second, func() error {
		var status int
		var body string
		status, _, b, body = getBadge(t, a, path)
		if status == 200 && b.message() == want {
			return nil
		}
		return fmt.Errorf("GET %s = %d %s, want the message %q", path, status, body, want)
	})
	return b
}

func TestBadges(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	upID, downID := a.AddSite(t, up.URL), a.AddSite(t, down.URL)

	b := waitForBadge(t, a, fmt.Sprintf("/badge/%d/status.svg", upID), "up")
	if b.label() != "status" || b.color() != "#4c1" || b.Title != "status: up" {
		t.Errorf("the up site's badge: label %q, colour %s, title %q", b.label(), b.color(), b.Title)
	}
	// DejaVu Sans at 11 px: "status" is 33.7 px and "up" 14 px wide, each
	// with 5 px on either side.
	if b.Width != "68" || b.Texts[1].Length != "337" || b.Texts[3].Length != "140" {
		t.Errorf("the badge is %s px wide with texts of %s and %s tenths, want 68, 337 and 140",
			b.Width, b.Texts[1].Length, b.Texts[3].Length)
	}
	if b := waitForBadge(t, a, fmt.Sprintf("/badge/%d/status.svg", downID), "down"); b.color() != "#e05d44" {
		t.Errorf("the down site's badge is %s, want red", b.color())
	}

	_, h, b, _ := getBadge(t, a, fmt.Sprintf("/badge/%d/uptime.svg", upID))
	if b.label() != "uptime 30d" || b.message() != "100%" || b.color() != "#4c1" {
		t.Errorf("the up site's uptime badge says %q %q in %s, want uptime 30d 100%% in bright green", b.label(), b.message(), b.color())
	}
	if h.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("Cache-Control %q, want a minute", h.Get("Cache-Control"))
	}
	for _, w := range []string{"24h", "7d", "90d", "365d"} {
		if _, _, b, _ := getBadge(t, a, fmt.Sprintf("/badge/%d/uptime.svg?window=%s", downID, w)); b.label() != "uptime "+w || b.message() != "0%" {
			t.Errorf("the down site's %s badge says %q %q, want uptime %s 0%%", w, b.label(), b.message(), w)
		}
	}
	_, _, b, _ = getBadge(t, a, fmt.Sprintf("/badge/%d/latency.svg", upID))
	if ms, ok := strings.CutSuffix(b.message(), " ms"); !ok || b.label() != "latency" {
		t.Errorf("the latency badge says %q %q, want latency in ms", b.label(), b.message())
	} else if n, err := strconv.Atoi(ms); err != nil || n < 0 || n > 2000 {
		t.Errorf("the latency badge says %q", b.message())
	}
	if _, _, b, _ := getBadge(t, a, fmt.Sprintf("/badge/%d/latency.svg", downID)); b.message() == "no answer" || b.color() != "#4c1" {
		// A 503 is an answer: its time counts.
		t.Errorf("the latency of a site answering 503 says %q in %s", b.message(), b.color())
	}

	// A label of the caller's is text, escaped, and clipped.
	label := `<script>alert("x")</script>&` + strings.Repeat("é", 100)
	status, _, b, body := getBadge(t, a, fmt.Sprintf("/badge/%d/status.svg?label=%s", upID, urlQuery(label)))
	if status != 200 || !strings.HasPrefix(b.label(), `<script>alert("x")</script>&é`) || len([]rune(b.label())) != 64 {
		t.Errorf("the label came back as %q (%d)", b.label(), status)
	}
	if strings.Contains(body, "<script>") {
		t.Errorf("the label is in the SVG unescaped:\n%s", body)
	}

	// A site that is gone still gets an image, with its 404.
	status, _, b, _ = getBadge(t, a, "/badge/99999/status.svg")
	if status != 404 || b.message() != "site not found" {
		t.Errorf("a badge of no site: %d %q, want 404 site not found", status, b.message())
	}
	for path, want := range map[string]int{
		fmt.Sprintf("/badge/%d/uptime.svg?window=1y", upID): 400,
		"/badge/abc/status.svg":                             400,
		"/badge/0/latency.svg":                              400,
	} {
		if status, _, _, body := getBadge(t, a, path); status != want || !strings.Contains(body, `"code"`) {
			t.Errorf("GET %s = %d %s, want %d with an error", path, status, body, want)
		}
	}
}

func urlQuery(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
