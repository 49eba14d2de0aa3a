package api

import (
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRedact(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no userinfo", "https://encore.dev/x", "https://encore.dev/x"},
		{"user and password", "https://user:s3cret@example.com/health", "https://user:xxxxx@example.com/health"},
		{"in a ping path", "/ping/http://a:b@127.0.0.1:8080/", "/ping/http://a:xxxxx@127.0.0.1:8080/"},
		{"in JSON and text", `{"url":"https://u:p%40ss@h/"} and http://x:y@z`, `{"url":"https://u:xxxxx@h/"} and http://x:xxxxx@z`},
		{"user only", "https://user@example.com/", "https://user@example.com/"},
		{"mailto", "mailto:someone@example.com", "mailto:someone@example.com"},
		{"an @ in the user name", "http://me@corp:pw@host/", "http://me@corp:xxxxx@host/"},
		{"an @ in the password", "https://user:p@ss@host/", "https://user:xxxxx@host/"},
		{"no scheme", "user:p@ss@host", "user:xxxxx@host"},
		{"no scheme in a ping path", "/ping/user:pw@host", "/ping/user:xxxxx@host"},
		{"encoded characters", "https://us%3Aer:p%2Fa%40ss@host/", "https://us%3Aer:xxxxx@host/"},
		{"IPv6 host", "http://u:pw@[::1]:8080/x", "http://u:xxxxx@[::1]:8080/x"},
		{"IPv6 host without userinfo", "http://[2001:db8::1]:80/a@b", "http://[2001:db8::1]:80/a@b"},
		{"colon in the password", "https://u:a:b:c@host", "https://u:xxxxx@host"},
		{"empty password", "https://u:@host", "https://u:xxxxx@host"},
		{"upper-case scheme", "HTTPS://U:PW@HOST", "HTTPS://U:xxxxx@HOST"},
		{"log key=value", `url=http://me@corp:pw@host err="dial"`, `url=http://me@corp:xxxxx@host err="dial"`},
		{"after a query's &", "/x?a=1&u=n:pw@h", "/x?a=1&u=n:xxxxx@h"},
		{"Slack link", "<https://u:pw@h/|h>", "<https://u:xxxxx@h/|h>"},
		{"two URLs", "http://a:1@x http://b:2@y", "http://a:xxxxx@x http://b:xxxxx@y"},
		{"plain e-mail", "write to bob@example.com", "write to bob@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.in)
			if got != tt.want {
				t.Fatalf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for _, secret := range []string{"s3cret", "p@ss", "p%40ss", "pw@", ":pw", "p%2Fa"} {
				if strings.Contains(tt.in, secret) && strings.Contains(got, secret) {
					t.Fatalf("Redact(%q) = %q still holds %q", tt.in, got, secret)
				}
			}
		})
	}
}

// A nil pointer whose type is a Stringer or an error is logged as nil, not
// a panic that stops the program.
func TestRedactHandlerNilPointers(t *testing.T) {
	var b strings.Builder
	log := slog.New(RedactHandler(slog.NewTextHandler(&b, nil)))
	var when *time.Time
	var err *url.Error
	log.Info("nil values", "when", when, "err", err, "url", "https://user:secret@example.com/")
	if out := b.String(); !strings.Contains(out, "when=<nil>") || strings.Contains(out, "secret") {
		t.Fatalf("logged %q", out)
	}
}
