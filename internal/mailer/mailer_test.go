package mailer

import (
	"strings"
	"testing"
)

// Parse takes smtp:// and smtps:// URLs with a sender, and refuses the
// rest saying why, never repeating the password.
func TestParse(t *testing.T) {
	for _, c := range []struct {
		raw      string
		port     int
		implicit bool
		user     string
	}{
		{"smtp://mail.example.com/?from=status@example.com", 587, false, ""},
		{"smtp://ops:s3cret@mail.example.com:2525/?from=Acme+%3Cstatus@example.com%3E&tls=none", 2525, false, "ops"},
		{"smtps://ops@mail.example.com/?from=status@example.com", 465, true, "ops"},
	} {
		m, err := Parse(c.raw)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.raw, err)
			continue
		}
		if m.port != c.port || m.implicit != c.implicit || m.user != c.user || m.from.Address != "status@example.com" {
			t.Errorf("Parse(%q) = port %d, implicit %v, user %q, from %v", c.raw, m.port, m.implicit, m.user, m.from)
		}
	}
	if m, _ := Parse("smtps://ops@mail.example.com/?from=a@example.com"); !m.NeedsPassword() {
		t.Error("a user without a password needs one")
	}
	for raw, want := range map[string]string{
		"http://mail.example.com/?from=a@example.com":              "scheme",
		"smtp:///?from=a@example.com":                              "no host",
		"smtp://mail.example.com:99999/?from=a@example.com":        "port",
		"smtp://mail.example.com/":                                 "from is required",
		"smtp://ops:s3cret@mail.example.com/?from=nobody":          "not an address",
		"smtp://mail.example.com/?from=a@example.com&tls=maybe":    "tls",
		"smtps://mail.example.com/?from=a@example.com&tls=none":    "tls=none",
		"smtp://mail.example.com/?from=a@example.com&auth=plain":   "unknown parameter",
		"smtp://ops:s3cret@mail.example.com:x/?from=a@example.com": "not a URL",
	} {
		_, err := Parse(raw)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Parse(%q): %v, want an error saying %q without the password", raw, err, want)
		}
	}
}
