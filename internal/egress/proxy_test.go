package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// With a proxy, the dialer sees only the proxy's address: the request's
// own host is resolved and checked first, and a denied one never reaches
// the proxy. (http.ProxyFromEnvironment reads the environment once per
// process: no other test of this package uses it.)
func TestProxiedRequestsAreCheckedFirst(t *testing.T) {
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
	}))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	targets := NewTargets(nil, nil, false)
	names := map[string]string{"metadata.internal.corp": "169.254.169.254", "nat64.internal.corp": "64:ff9b::a9fe:a9fe", "fine.corp": "203.0.113.10"}
	targets.lookup = func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		if a, ok := names[host]; ok {
			return []netip.Addr{netip.MustParseAddr(a)}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy: Proxy(targets), DialContext: Dialer(targets, time.Second).DialContext}}
	for _, u := range []string{"http://metadata.internal.corp/latest/meta-data/", "http://nat64.internal.corp/", "http://169.254.169.254/"} {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s through the proxy: %d, want refused", u, resp.StatusCode)
		} else if !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("GET %s through the proxy: %v, want not allowed", u, err)
		}
	}
	if n := proxied.Load(); n != 0 {
		t.Fatalf("the proxy got %d requests for denied hosts", n)
	}
	resp, err := client.Get("http://fine.corp/")
	if err != nil {
		t.Fatalf("GET of an allowed host through the proxy: %v", err)
	}
	resp.Body.Close()
	if proxied.Load() != 1 {
		t.Errorf("an allowed host did not go through the proxy")
	}
}

// Names that never resolve are not looked up.
func TestReservedNamesAreNotLookedUp(t *testing.T) {
	targets := NewTargets(nil, nil, false)
	targets.lookup = func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		t.Errorf("%s was looked up", host)
		return nil, nil
	}
	for _, host := range []string{"hooks.example", "a.b.invalid", "x.test", "EXAMPLE."} {
		var dnsErr *net.DNSError
		if err := targets.CheckResolved(context.Background(), host, 443); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
			t.Errorf("CheckResolved(%s) = %v, want not found", host, err)
		}
	}
}
