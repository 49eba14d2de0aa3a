//go:build chaos

package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestChaosAuditKilledMidChanges kills the program with SIGKILL while
// eight clients add sites as fast as it takes them, then starts it again:
// no site was made without its audit row. A change whose row was begun
// but never finished (the process died first) says so with a null
// status; every finished row's site exists.
func TestChaosAuditKilledMidChanges(t *testing.T) {
	const key = "chaos-audit-key-0123456789"
	p := newProgram(t, "UPTIME_API_KEY="+key)
	p.Key = key
	p.start(t)

	var added atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	client := &http.Client{Timeout: 10 * time.Second}
	for c := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", p.URL+"/site", strings.NewReader(fmt.Sprintf(`{"url": "https://c%d-%d.example.com"}`, c, i)))
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err != nil {
					return // killed
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					added.Add(1)
				}
			}
		})
	}
	for added.Load() < 100 {
		time.Sleep(10 * time.Millisecond)
	}
	p.kill()
	close(stop)
	wg.Wait()
	p.start(t)

	var sites struct{ Sites []struct{ ID int64 } }
	p.Call(t, "GET", "/site", "", &sites)
	var log struct {
		Entries []struct {
			Route, Object string
			Status        *int
		}
		Next *int64
	}
	p.Call(t, "GET", "/audit?limit=1000", "", &log)
	if log.Next != nil {
		t.Fatalf("more than 1000 audit rows: the test counts one page")
	}
	finished, unknown := map[string]bool{}, 0
	for _, e := range log.Entries {
		if e.Route != "POST /site" {
			continue
		}
		switch {
		case e.Status == nil:
			unknown++
		case *e.Status == 200:
			finished[e.Object] = true
		}
	}
	missing := 0
	exists := map[string]bool{}
	for _, s := range sites.Sites {
		obj := fmt.Sprintf("site/%d", s.ID)
		exists[obj] = true
		if !finished[obj] {
			missing++
		}
	}
	for obj := range finished {
		if !exists[obj] {
			t.Errorf("the audit log says %s was added, but it does not exist", obj)
		}
	}
	t.Logf("%d sites after the kill (%d answered 200 before it); %d adds with a finished audit row, %d begun and never finished, %d sites without a finished row",
		len(sites.Sites), added.Load(), len(finished), unknown, missing)
	if missing > unknown {
		t.Errorf("%d sites have no finished audit row, and only %d rows say their change's outcome is unknown: a site was made without its row",
			missing, unknown)
	}
	if len(sites.Sites) < int(added.Load()) {
		t.Errorf("%d sites, but %d adds were answered 200", len(sites.Sites), added.Load())
	}
}
