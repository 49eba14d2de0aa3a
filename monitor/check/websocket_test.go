package check_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"uptime/monitor/check"
)

// A ws:// check is up when the upgrade succeeds, and with send and expect
// when the first message holds the text; a refused upgrade, another
// message and silence are each down with their reason.
func TestWebSocketChecks(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/plain" {
			w.Write([]byte("not a websocket"))
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		switch r.URL.Path {
		case "/echo":
			typ, msg, err := c.Read(r.Context())
			if err == nil {
				c.Write(r.Context(), typ, append([]byte("echo: "), msg...))
			}
		case "/silent":
			time.Sleep(2 * time.Second)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}))
	defer srv.Close()
	ws := "ws" + strings.TrimPrefix(srv.URL, "http")
	checker := check.NewChecker(time.Second, nil, nil)
	tests := []struct {
		name, url, settings string
		up                  bool
		reason              string
	}{
		{"the upgrade", ws + "/", `{}`, true, ""},
		{"an echo", ws + "/echo", `{"send": "ping", "expect": "echo: ping"}`, true, ""},
		{"another message", ws + "/echo", `{"send": "ping", "expect": "pong"}`, false, `"pong" not in the first message; got "echo: ping"`},
		{"silence", ws + "/silent", `{"expect": "hello", "timeout": "300ms"}`, false, `timeout after 300ms, waiting for "hello"`},
		{"no upgrade", ws + "/plain", `{}`, false, "the WebSocket upgrade was refused: HTTP 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checker.Run(ctx, stream(t, tt.url, tt.settings))
			if res.Up != tt.up || !strings.Contains(res.Reason, tt.reason) || tt.up && res.Reason != "" {
				t.Fatalf("check of %s with %s: up %v, reason %q; want up %v, reason with %q", tt.url, tt.settings, res.Up, res.Reason, tt.up, tt.reason)
			}
		})
	}
}
