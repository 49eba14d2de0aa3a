package text

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
		{"a user alone is a token", "https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/o/r", "https://xxxxx@github.com/o/r"},
		{"a user alone, no path", "https://user@example.com", "https://xxxxx@example.com"},
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
		{"comma and semicolon", "http://alice:Pa55,w0rd;x@host/", "http://alice:xxxxx@host/"},
		{"every sub-delim", "http://alice:a!b$c&d'e(f)g*h+i,j;k=l@host/p", "http://alice:xxxxx@host/p"},
		{"sub-delims without a scheme", "/ping/alice:Pa55,w0rd;x@host/", "/ping/alice:xxxxx@host/"},
		{"sub-delims in a log line", `msg="site changed state" url=http://alice:Pa55,w0rd;x@host/ up=false`, `msg="site changed state" url=http://alice:xxxxx@host/ up=false`},
		{"sub-delims in JSON", `{"site":{"url":"http://alice:Pa55,w0rd;x@host/"}}`, `{"site":{"url":"http://alice:xxxxx@host/"}}`},
		{"in parentheses", "(see http://u:s3cret)@host)", "(see http://u:xxxxx@host)"},
		{"percent-encoded user alone", "https://alice%3Apw@host/", "https://xxxxx@host/"},
		{"percent-encoded password", "https://alice:%70%77%21@host/", "https://alice:xxxxx@host/"},
		{"IPv6 host with a zone", "http://u:pw@[fe80::1%25eth0]:80/", "http://u:xxxxx@[fe80::1%25eth0]:80/"},
		{"IPv6 host, user alone", "https://tok@[2001:db8::2]/", "https://xxxxx@[2001:db8::2]/"},
		{"query after the authority", "https://u:pw@h/?to=bob@example.com", "https://u:xxxxx@h/?to=bob@example.com"},
		{"smtp with a recipient", "smtp://me:pw@mail.example:587/?from=a@b.example&to=c@d.example", "smtp://me:xxxxx@mail.example:587/?from=a@b.example&to=c@d.example"},
		{"other schemes", "redis://:s3cret@cache:6379/0 and postgres://app:pw@db/x", "redis://:xxxxx@cache:6379/0 and postgres://app:xxxxx@db/x"},
		{"in an error message", `Get "https://u:s3cret@h/": dial tcp: lookup h: no such host`, `Get "https://u:xxxxx@h/": dial tcp: lookup h: no such host`},
		{"tab and newline around", "\thttp://u:pw@h/\n", "\thttp://u:xxxxx@h/\n"},
		{"a path with @ and no userinfo", "https://example.com/@user/profile", "https://example.com/@user/profile"},
		{"a fragment with what looks like a password", "https://example.com/#x:y@z", "https://example.com/#x:xxxxx@z"},
		{"nothing before the @", "http://@host/", "http://@host/"},
		{"already masked", "https://u:xxxxx@h/ and https://xxxxx@h/", "https://u:xxxxx@h/ and https://xxxxx@h/"},
		{"mailto in text", "mail mailto:bob@example.com now", "mail mailto:bob@example.com now"},
		{"query api_key", "https://h/v1?api_key=s3cret&page=2", "https://h/v1?api_key=xxxxx&page=2"},
		{"query token, key, sig, access_token", "https://h/?token=t0k&key=k3y&sig=5ig&access_token=acc#top",
			"https://h/?token=xxxxx&key=xxxxx&sig=xxxxx&access_token=xxxxx#top"},
		{"query secrets in any case", "https://h/?X-Amz-Signature=abc&X-Amz-Credential=def&Password=ghi",
			"https://h/?X-Amz-Signature=xxxxx&X-Amz-Credential=xxxxx&Password=xxxxx"},
		{"query that is no secret", "https://h/search?q=shoes&page=2&sort=asc", "https://h/search?q=shoes&page=2&sort=asc"},
		{"query in a log line", `url="https://h/hook?token=s3cret" status=500`, `url="https://h/hook?token=xxxxx" status=500`},
		{"query and userinfo", "https://u:pw@h/?apikey=s3cret", "https://u:xxxxx@h/?apikey=xxxxx"},
		{"empty secret value", "https://h/?token=&a=1", "https://h/?token=&a=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.in)
			if got != tt.want {
				t.Fatalf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for _, secret := range []string{"s3cret", "p@ss", "p%40ss", "pw@", ":pw", "p%2Fa", "Pa55", "ghp_", "w0rd", "%70%77", "a!b", "alice%3A", "tok@", "t0k", "k3y", "5ig", "=abc", "=def", "=ghi"} {
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

// A program's output keeps what is no credential, and hides the values of
// settings named like one.
func TestRedactOutput(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"pg_dump: connection refused", "pg_dump: connection refused"},
		{"PGPASSWORD=hunter2 ./backup.sh", "PGPASSWORD=xxxxx ./backup.sh"},
		{`api_key: s3cr3t and token="a b" left`, "api_key: xxxxx and token=xxxxx left"},
		{"X-Auth-Token:abc done", "X-Auth-Token:xxxxx done"},
		{"GET /x?sig=abc123&a=1", "GET /x?sig=xxxxx&a=1"},
		{"curl https://ops:hunter2@db.example/x", "curl https://ops:xxxxx@db.example/x"},
		{"rows=12 errors: 0", "rows=12 errors: 0"},
	} {
		if got := RedactOutput(c.in); got != c.want {
			t.Errorf("RedactOutput(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
