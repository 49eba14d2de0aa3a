package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestTrustedProxies: behind a trusted proxy the client is the last
// address X-Forwarded-For names that is not a proxy's; what a client
// writes there itself, or sends past no trusted proxy, is not believed.
func TestTrustedProxies(t *testing.T) {
	srv := NewServer(slog.New(slog.DiscardHandler), "")
	srv.TrustProxies([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")})
	var seen string
	srv.Handle("GET /who", func(r *http.Request) (any, error) {
		seen = ClientAddr(r)
		return nil, nil
	})
	for _, tt := range []struct {
		name, remote, forwarded, want string
	}{
		{"no proxy", "203.0.113.5:1234", "", "203.0.113.5"},
		{"an untrusted sender's header", "203.0.113.5:1234", "198.51.100.1", "203.0.113.5"},
		{"one proxy", "10.0.0.2:1234", "198.51.100.1", "198.51.100.1"},
		{"two proxies", "127.0.0.1:1234", "198.51.100.1, 10.1.2.3", "198.51.100.1"},
		{"a forged hop before the real one", "10.0.0.2:1234", "192.0.2.66, 198.51.100.1", "198.51.100.1"},
		{"only proxies", "10.0.0.2:1234", "10.0.0.3", "10.0.0.3"},
		{"garbage", "10.0.0.2:1234", "198.51.100.1, nonsense", "10.0.0.2"},
		{"mapped IPv4", "10.0.0.2:1234", "::ffff:198.51.100.1", "198.51.100.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://127.0.0.1/who", nil)
			req.RemoteAddr = tt.remote
			if tt.forwarded != "" {
				req.Header.Set("X-Forwarded-For", tt.forwarded)
			}
			srv.ServeHTTP(httptest.NewRecorder(), req)
			if seen != tt.want {
				t.Errorf("client %q, want %q", seen, tt.want)
			}
		})
	}
}
