package monitor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"uptime/internal/testnet"
	"uptime/internal/wait"
	"uptime/monitor"
	"uptime/monitor/history"
	"uptime/monitor/status"
)

// farm serves the behaviours the ping cases need.
func farm(t *testing.T) (plain, tls *httptest.Server) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscan(r.PathValue("code"), &code)
		w.WriteHeader(code)
	})
	mux.HandleFunc("/redirect/{n}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.PathValue("n"), &n)
		if n == 0 {
			http.Redirect(w, r, "/ok", http.StatusFound)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/redirect/%d", n-1), http.StatusMovedPermanently)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	// Broken answers: each begins as a 200 and then goes wrong.
	raw := func(answer string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			defer conn.Close()
			buf.WriteString(answer)
			buf.Flush()
		}
	}
	mux.HandleFunc("/short-body", raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"))
	mux.HandleFunc("/bad-chunks", raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n"))
	mux.HandleFunc("/headers-then-hang", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	plain = httptest.NewServer(mux)
	tls = httptest.NewTLSServer(mux)
	t.Cleanup(plain.Close)
	t.Cleanup(tls.Close)
	return plain, tls
}

func TestPing(t *testing.T) {
	plain, tls := farm(t)
	selfSigned := testnet.SelfSignedServer(t)
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close()
	e := setup(t, setupOpts{opts: monitor.Options{CheckTimeout: time.Second, Transport: testnet.Transport(tls)}})

	host := strings.TrimPrefix(plain.URL, "http://")
	tlsHost := strings.TrimPrefix(tls.URL, "https://")
	tests := []struct {
		name   string
		url    string
		up     bool
		reason string
	}{
		{"200 with scheme", plain.URL + "/ok", true, ""},
		{"200 without scheme gets https", tlsHost + "/ok", true, ""},
		{"200 over https", tls.URL + "/ok", true, ""},
		{"400 is down", plain.URL + "/status/400", false, "HTTP 400"},
		{"500 is down", plain.URL + "/status/500", false, "HTTP 500"},
		{"399 is up", plain.URL + "/status/399", true, ""},
		{"404 without scheme over https", tlsHost + "/status/404", false, "HTTP 404"},
		{"invalid scheme", "invalid://scheme", false, ""},
		{"redirect chain to 200", plain.URL + "/redirect/5", true, ""},
		{"redirect loop", plain.URL + "/loop", false, "too many redirects"},
		{"exactly 10 redirects are followed", plain.URL + "/redirect/9", true, ""},
		{"11 redirects are too many", plain.URL + "/redirect/10", false, "too many redirects (more than 10)"},
		{"body shorter than its length", plain.URL + "/short-body", false, "reading the response: the body ended before its announced length"},
		{"invalid chunked encoding", plain.URL + "/bad-chunks", false, "reading the response"},
		{"headers then a hang", plain.URL + "/headers-then-hang", false, "reading the response: timeout after 1s"},
		{"refused port", refused.URL + "/", false, "connection refused"},
		{"never answers", plain.URL + "/hang", false, "timeout after 1s"},
		{"self-signed certificate", selfSigned.URL + "/", false, "certificate"},
		{"http without scheme slashes", "http:" + host + "/ok", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{"GET", "POST"} {
				var r monitor.CheckResponse
				start := time.Now()
				e.Call(t, method, "/ping/"+tt.url, "", &r)
				if r.Up != tt.up {
					t.Errorf("%s /ping/%s: up = %v, want %v (%+v)", method, tt.url, r.Up, tt.up, r)
				}
				if !tt.up && r.Reason == "" {
					t.Errorf("%s /ping/%s: down without a reason", method, tt.url)
				}
				if !strings.Contains(r.Reason, tt.reason) {
					t.Errorf("%s /ping/%s: reason %q, want it to say %q", method, tt.url, r.Reason, tt.reason)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("%s /ping/%s took %s; a check must end within its timeout", method, tt.url, d)
				}
			}
		})
	}
	var r monitor.CheckResponse
	e.Call(t, "GET", "/ping/"+plain.URL+"/status/200?x=1", "", &r)
	if !r.Up {
		t.Errorf("ping with a query string: %+v", r)
	}
	// The latency of a check that hung is the time it took, not the time
	// to the headers.
	e.Call(t, "GET", "/ping/"+plain.URL+"/headers-then-hang", "", &r)
	if r.LatencyMS < 900 {
		t.Errorf("a check that hung for its 1s timeout after the headers recorded %.1f ms", r.LatencyMS)
	}
}

func TestFailingOnceIsNotDown(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 2}})
	sw, srv := newSwitchable(t, 200)
	s := e.addSite(t, srv.URL)
	e.check(t, s.ID)

	sw.set(200, 503) // one failure, then healthy again
	if r := e.check(t, s.ID); !r.Up {
		t.Fatalf("a site that failed once and then answered was reported down: %+v", r)
	}
	if st := e.status(t)[fmt.Sprint(s.ID)]; !st.Up {
		t.Fatalf("status after a single failure = %+v, want up", st)
	}
	if got := e.waitTransitions(t, 0); len(got) != 0 {
		t.Fatalf("transitions after a single failure: %+v, want none", got)
	}
	// Every attempt is recorded: the first check, the failure, and the
	// re-check that found it up (the site-added check may add one).
	if n := e.countChecks(t, s.ID); n < 3 {
		t.Errorf("%d checks recorded, want every attempt (at least 3)", n)
	}
}

func TestDownOnceAndUpOnce(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 2}})
	sw, srv := newSwitchable(t, 200)
	s := e.addSite(t, srv.URL)
	e.check(t, s.ID)

	sw.set(503)
	before := e.countChecks(t, s.ID)
	if r := e.check(t, s.ID); r.Up || r.Reason != "HTTP 503" {
		t.Fatalf("check of a failing site = %+v, want down with HTTP 503", r)
	}
	if n := e.countChecks(t, s.ID) - before; n != 3 {
		t.Errorf("%d attempts recorded for a confirmed failure, want 3 (1 + 2 confirmations)", n)
	}
	e.check(t, s.ID) // still down: no new transition, no confirmation
	got := e.waitTransitions(t, 1)
	if len(got) != 1 || got[0].Up || got[0].Site != s || got[0].Reason != "HTTP 503" {
		t.Fatalf("transitions = %+v, want one down for %+v", got, s)
	}
	if st := e.status(t)[fmt.Sprint(s.ID)]; st.Up || st.StatusCode != 503 {
		t.Fatalf("status = %+v, want down with 503", st)
	}

	sw.set(200)
	if r := e.check(t, s.ID); !r.Up {
		t.Fatalf("check after recovery = %+v", r)
	}
	e.check(t, s.ID)
	got = e.waitTransitions(t, 2)
	if len(got) != 2 || !got[1].Up || got[1].Since == nil {
		t.Fatalf("transitions = %+v, want down then up, the up one saying since when it was down", got)
	}
}

func TestConcurrentChecksAnnounceEachChangeOnce(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 1}})
	sw, srv := newSwitchable(t, 200)
	s := e.addSite(t, srv.URL)
	e.check(t, s.ID)

	checkMany := func() {
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.mon.Check(context.Background(), s); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	sw.set(500)
	checkMany()
	sw.set(200)
	checkMany()
	// Deliveries are not ordered; the events carry the time of the change.
	got := e.waitTransitions(t, 2)
	sort.Slice(got, func(i, j int) bool { return got[i].At.Before(got[j].At) })
	if len(got) != 2 || got[0].Up || !got[1].Up {
		t.Fatalf("transitions = %+v, want exactly one down then one up", got)
	}
}

func TestNewSiteIsCheckedAtOnce(t *testing.T) {
	e := setup(t, setupOpts{})
	_, srv := newSwitchable(t, 200)
	s := e.addSite(t, srv.URL)
	var st status.SiteStatus
	wait.Until(t, 10*time.Second, "a new site was not checked after being added", func() bool {
		var ok bool
		st, ok = e.status(t)[fmt.Sprint(s.ID)]
		return ok
	})
	if !st.Up || st.StatusCode != 200 {
		t.Fatalf("first status = %+v", st)
	}
}

func TestDeletedSiteLeavesStatus(t *testing.T) {
	e := setup(t, setupOpts{})
	_, srv := newSwitchable(t, 200)
	a := e.addSite(t, srv.URL+"/a")
	b := e.addSite(t, srv.URL+"/b")
	e.Call(t, "POST", "/check-all", "", nil)
	if st := e.status(t); len(st) != 2 {
		t.Fatalf("status = %v, want both sites", st)
	}
	var only struct{ Sites map[string]status.SiteStatus }
	e.Call(t, "GET", fmt.Sprintf("/status?ids=%d,424242", b.ID), "", &only)
	if _, ok := only.Sites[fmt.Sprint(b.ID)]; !ok || len(only.Sites) != 1 {
		t.Fatalf("status of site %d alone = %v", b.ID, only.Sites)
	}
	e.Call(t, "DELETE", fmt.Sprintf("/site/%d", a.ID), "", nil)
	st := e.status(t)
	if _, ok := st[fmt.Sprint(a.ID)]; ok || len(st) != 1 {
		t.Fatalf("status after deleting site %d = %v, want only site %d", a.ID, st, b.ID)
	}
	if n := e.countChecks(t, a.ID); n != 0 {
		t.Errorf("%d checks of the deleted site remain", n)
	}
}

func TestCheckAllIsNotHeldUpByAHangingSite(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{CheckTimeout: 3 * time.Second, Concurrency: 4, Confirmations: 0}})
	plain, _ := farm(t)
	// Not e.addSite, which would wait out the hanging site's first check.
	e.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q}`, plain.URL+"/hang"), nil)
	var fast []int64
	for i := range 10 {
		fast = append(fast, e.addSite(t, fmt.Sprintf("%s/ok?n=%d", plain.URL, i)).ID)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Call(t, "POST", "/checkall", "", nil)
	}()
	// Every fast site gets its result while the hanging one still waits.
	for {
		st := e.status(t)
		n := 0
		for _, id := range fast {
			if _, ok := st[fmt.Sprint(id)]; ok {
				n++
			}
		}
		if n == len(fast) {
			break
		}
		select {
		case <-done:
			t.Fatalf("check-all finished before the fast sites had results (%d of %d)", n, len(fast))
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case <-done:
		t.Fatal("check-all returned before the hanging site's timeout")
	default:
	}
	<-done
	if len(e.status(t)) != 11 {
		t.Fatal("check-all returned before every site was recorded")
	}
}

func TestHistoryAndUptime(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 0}})
	sw, srv := newSwitchable(t, 200)
	s := e.addSite(t, srv.URL)
	// addSite waited for the site-added check: start from a known history.
	e.db.Exec(context.Background(), "DELETE FROM checks")
	for _, code := range []int{200, 200, 200, 500} {
		sw.set(code)
		e.check(t, s.ID)
	}
	var h history.HistoryResponse
	e.Call(t, "GET", fmt.Sprintf("/history/%d?limit=3", s.ID), "", &h)
	if len(h.Checks) != 3 || h.Checks[0].Up || h.Checks[0].Reason != "HTTP 500" || h.Checks[0].StatusCode != 500 {
		t.Fatalf("history = %+v, want the last 3 checks, newest (the 500) first", h.Checks)
	}
	// The page before the third: the first check alone.
	var older history.HistoryResponse
	e.Call(t, "GET", fmt.Sprintf("/history/%d?limit=3&before=%s", s.ID, h.Checks[2].CheckedAt.Format(time.RFC3339Nano)), "", &older)
	if len(older.Checks) != 1 || !older.Checks[0].CheckedAt.Before(h.Checks[2].CheckedAt) || !older.Checks[0].Up {
		t.Fatalf("the page before %s = %+v, want the first check alone", h.Checks[2].CheckedAt, older.Checks)
	}
	if status, body := e.Do(t, "GET", fmt.Sprintf("/history/%d?before=yesterday", s.ID), ""); status != 400 || !strings.Contains(body, "before") {
		t.Fatalf("before=yesterday: %d %s, want 400 naming before", status, body)
	}
	for _, u := range []*float64{h.Uptime.Day, h.Uptime.Week, h.Uptime.Month} {
		if u == nil || *u != 75 {
			t.Fatalf("uptime = %+v, want 75%% in every window", h.Uptime)
		}
	}
	// Checks older than a window count only in the longer ones. Written
	// into hours already rolled up, they count once these are rolled up
	// again, as the roll-up job does every minute. (That job may be taking
	// them at the moment this roll-up runs, which then leaves them to it.)
	_, err := e.db.Exec(context.Background(), `INSERT INTO checks (site_id, up, checked_at)
		SELECT $1, false, now() - interval '3 days' FROM generate_series(1, 4)`, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, 15*time.Second, func() error {
		if _, err := e.mon.History().Rollup(context.Background(), time.Now()); err != nil {
			return err
		}
		e.Call(t, "GET", fmt.Sprintf("/history/%d", s.ID), "", &h)
		if *h.Uptime.Day != 75 || *h.Uptime.Week != 37.5 || *h.Uptime.Month != 37.5 || *h.Uptime.Quarter != 37.5 || *h.Uptime.Year != 37.5 {
			return fmt.Errorf("uptime = 24h %v, 7d %v, 30d %v, 90d %v, 365d %v; want 75, then 37.5",
				*h.Uptime.Day, *h.Uptime.Week, *h.Uptime.Month, *h.Uptime.Quarter, *h.Uptime.Year)
		}
		return nil
	})
	var d history.DaysResponse
	e.Call(t, "GET", fmt.Sprintf("/history/%d?days=7", s.ID), "", &d)
	if len(d.Days) != 7 || d.Days[6].Checks != 4 || *d.Days[6].Uptime != 75 || d.Days[3].Checks+d.Days[2].Checks != 4 {
		t.Fatalf("days = %+v, want 7 days: today 4 checks at 75%%, 4 failed checks 3 days ago", d.Days)
	}
}

func TestCheckErrors(t *testing.T) {
	e := setup(t, setupOpts{})
	tests := []struct {
		method, path string
		status       int
	}{
		{"POST", "/check/999", 404},
		{"POST", "/check/abc", 400},
		{"GET", "/history/999", 404},
		{"GET", "/history/x", 400},
		{"GET", "/history/1?limit=0", 400},
		{"GET", "/history/1?limit=lots", 400},
		{"GET", "/history/1?days=0", 400},
		{"GET", "/history/1?days=", 400},
		{"GET", "/history/1?days=401", 400},
		{"GET", "/history/1?days=week", 400},
		{"GET", "/history/999?days=7", 404},
		{"GET", "/check/1", 405},
		{"GET", "/ping/", 400},
		{"GET", "/status?ids=", 400},
		{"GET", "/status?ids=1,x", 400},
		{"GET", "/status?ids=0", 400},
		{"GET", "/status?ids=" + strings.Repeat("1,", status.MaxStatusIDs) + "1", 400},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, e.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
		}
	}
}
