package metrics_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"uptime/internal/app"
	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/testnet"
	"uptime/internal/wait"
)

// scrape fetches /metrics and parses it as Prometheus does.
func scrape(t *testing.T, a *apptest.App) map[string]*dto.MetricFamily {
	t.Helper()
	status, body := a.Do(t, "GET", "/metrics", "")
	if status != 200 {
		t.Fatalf("GET /metrics = %d", status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("GET /metrics is not in the Prometheus text format: %v", err)
	}
	return fams
}

// value returns the sum of the values of the family's series with the
// labels (other labels any), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	var (
		sum   float64
		found bool
	)
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		found = true
		switch {
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

func TestMetrics(t *testing.T) {
	tlsSite := testnet.TLSServer(t, 10*24*time.Hour)
	a := apptest.Start(t, apptest.Setup{Options: appOptions(tlsSite)})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer down.Close()
	var named struct{ ID int }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Shop \"front\" <b>"}`, up.URL), &named)
	downID, tlsID := a.AddSite(t, down.URL), a.AddSite(t, tlsSite.URL)

	// Each site's first check comes in the background; a down site is
	// down once its re-checks fail too.
	var fams map[string]*dto.MetricFamily
	wait.For(t, 15*time.Second, func() error {
		fams = scrape(t, a)
		_, ok1 := value(fams, "uptime_site_up", "site_id", strconv.Itoa(named.ID))
		d, ok2 := value(fams, "uptime_site_up", "site_id", strconv.FormatInt(downID, 10))
		_, ok3 := value(fams, "uptime_site_up", "site_id", strconv.FormatInt(tlsID, 10))
		// A check is counted just after its transaction commits: its
		// state can be read a moment before.
		up, _ := value(fams, "uptime_checks_total", "result", "up")
		down, _ := value(fams, "uptime_checks_total", "result", "down")
		if ok1 && ok2 && ok3 && d == 0 && up >= 2 && down >= 3 {
			return nil
		}
		return fmt.Errorf("the sites' series and their checks did not all come within 15s: %v %v", fams["uptime_site_up"], fams["uptime_checks_total"])
	})
	if v, ok := value(fams, "uptime_site_up", "site_id", strconv.Itoa(named.ID), "name", `Shop "front" <b>`); !ok || v != 1 {
		t.Errorf("the up site, by its name: up %v (%v), want 1", v, ok)
	}
	host := strings.TrimPrefix(strings.Split(down.URL, ":")[1], "//")
	if v, ok := value(fams, "uptime_site_up", "site_id", strconv.FormatInt(downID, 10), "name", host); !ok || v != 0 {
		t.Errorf("the down site, named by its host %s: up %v (%v), want 0", host, v, ok)
	}
	if v, ok := value(fams, "uptime_site_latency_seconds", "site_id", strconv.Itoa(named.ID)); !ok || v <= 0 || v > 2 {
		t.Errorf("the up site's latency: %v s (%v)", v, ok)
	}
	want := float64(tlsSite.Certificate().NotAfter.Unix())
	if v, ok := value(fams, "uptime_site_cert_expiry_timestamp_seconds", "site_id", strconv.FormatInt(tlsID, 10)); !ok || v != want {
		t.Errorf("the https site's certificate expiry: %v (%v), want %v", v, ok, want)
	}
	if _, ok := value(fams, "uptime_site_up", "site_id", strconv.FormatInt(tlsID, 10), "kind", "https"); !ok {
		t.Errorf("the https site's series have no kind https: %v", fams["uptime_site_up"])
	}
	if _, ok := value(fams, "uptime_site_cert_expiry_timestamp_seconds", "site_id", strconv.Itoa(named.ID)); ok {
		t.Errorf("a plain http site has a certificate expiry")
	}
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"uptime_checks_total", []string{"result", "up"}, 2},
		{"uptime_checks_total", []string{"result", "down"}, 3}, // the check and its 2 re-checks
		{"uptime_checks_total", []string{"result", "up", "kind", "http"}, 1},
		{"uptime_check_duration_seconds", nil, 5},
		{"uptime_http_requests_total", []string{"route", "POST /site", "code", "200"}, 3},
		{"uptime_http_request_duration_seconds", []string{"route", "GET /metrics"}, 1},
		{"go_goroutines", nil, 1},
		{"process_cpu_seconds_total", nil, 0},
	} {
		if v, ok := value(fams, c.name, c.labels...); !ok || v < c.min {
			t.Errorf("%s%v = %v (%v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	// The Grafana dashboard asks for no series that is not served.
	dashboard, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`\b(?:uptime|go|process)_[a-z_]+`).FindAllString(string(dashboard), -1)
	if len(names) < 10 {
		t.Fatalf("the dashboard names %d series", len(names))
	}
	for _, n := range names {
		if n = strings.TrimSuffix(n, "_bucket"); fams[n] == nil {
			t.Errorf("the dashboard asks for %s, which /metrics does not serve", n)
		}
	}
	// A route's label is its pattern, not the path asked for.
	a.Do(t, "GET", fmt.Sprintf("/site/%d", named.ID), "")
	fams = scrape(t, a)
	if _, ok := value(fams, "uptime_http_requests_total", "route", "GET /site/{siteID}", "code", "200"); !ok {
		t.Errorf("no requests counted under GET /site/{siteID}: %v", fams["uptime_http_requests_total"])
	}
}

// Without per-site series, /metrics keeps the rest.
func TestMetricsWithoutSites(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) { c.MetricsPerSite = false }})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	a.AddSite(t, up.URL)
	wait.For(t, 15*time.Second, func() error {
		var st struct{ Sites map[string]any }
		a.Call(t, "GET", "/status", "", &st)
		if len(st.Sites) == 1 {
			return nil
		}
		return errors.New("the site was not checked within 15s")
	})
	fams := scrape(t, a)
	for _, name := range []string{"uptime_site_up", "uptime_site_latency_seconds", "uptime_site_cert_expiry_timestamp_seconds"} {
		if fams[name] != nil {
			t.Errorf("%s is served with per-site series off", name)
		}
	}
	if _, ok := value(fams, "uptime_checks_total", "result", "up"); !ok {
		t.Errorf("uptime_checks_total is missing with per-site series off")
	}
}

func appOptions(trusted *httptest.Server) app.Options {
	return app.Options{CheckTransport: testnet.Transport(trusted)}
}
