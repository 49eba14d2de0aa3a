package check_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"uptime/internal/config"
	"uptime/internal/egress"
	"uptime/monitor/check"
)

func prefixes(t *testing.T, list string) []netip.Prefix {
	t.Helper()
	p, err := config.ParsePrefixes(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestChecksHonourTargets checks with the real transport against loopback
// servers, under a policy that denies loopback as a public server's does:
// by address, by name (the address it resolves to), and at a redirect.
func TestChecksHonourTargets(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
		}
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	ctx := context.Background()

	public := check.NewChecker(time.Second, nil, egress.NewTargets(nil, nil, true))
	for _, u := range []string{srv.URL + "/", "http://localhost:" + port + "/", "http://[::ffff:127.0.0.1]:" + port + "/"} {
		if res := public.Check(ctx, u); res.Up || !strings.Contains(res.Reason, "not allowed") {
			t.Errorf("check of %s with loopback denied: %+v, want down as not allowed", u, res)
		}
	}
	if hits != 0 {
		t.Fatalf("the denied server got %d requests", hits)
	}
	// The transport itself refuses a name by the address it resolves to,
	// whoever asks it to dial: a name that rebinds gets no further.
	denyLoopback := egress.NewTargets(nil, nil, true)
	conn, err := check.NewTransport(denyLoopback).DialContext(ctx, "tcp", "localhost:"+port)
	if err == nil {
		conn.Close()
		t.Fatal("the transport dialled localhost with loopback denied")
	}
	var denied *egress.DeniedError
	if !errors.As(err, &denied) {
		t.Fatalf("dial of localhost with loopback denied: %v, want a DeniedError", err)
	}

	// Loopback allowed; a redirect to a denied address is refused at that hop.
	allowed := check.NewChecker(time.Second, nil, egress.NewTargets(prefixes(t, "127.0.0.2"), prefixes(t, "127.0.0.1"), true))
	if res := allowed.Check(ctx, srv.URL+"/"); !res.Up {
		t.Fatalf("check of an allowed loopback server: %+v", res)
	}
	res := allowed.Check(ctx, srv.URL+"/?to=http://127.0.0.2:"+port+"/")
	if res.Up || !strings.Contains(res.Reason, "127.0.0.2 is not allowed") {
		t.Fatalf("redirect to a denied address: %+v, want down as not allowed", res)
	}
	res = allowed.Check(ctx, srv.URL+"/?to=http://169.254.169.254/latest/meta-data/")
	if res.Up || !strings.Contains(res.Reason, "metadata") {
		t.Fatalf("redirect to the metadata address: %+v, want down as never checked", res)
	}
}
