package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"uptime/internal/apptest"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
)

// TestUserCommands makes the first admin on the database of a running
// server, which then keeps its reads private, and lists, changes and
// disables users as an operator would.
func TestUserCommands(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix})
	if status, _ := a.Do(t, "GET", "/site", ""); status != 200 {
		t.Fatalf("a read with no users: %d, want 200", status)
	}
	db := []string{"--database-url", pgtest.ServerURL(t), "--database-prefix", prefix, "--state-dir", t.TempDir()}
	uptime := func(stdin string, args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code := Main(context.Background(), append(args, db...), strings.NewReader(stdin), &out, &out)
		return code, out.String()
	}
	for _, tt := range []struct {
		name, stdin string
		args        []string
		code        int
		says        string
	}{
		{"no role", "blue-kettle-orbit\n", []string{"user", "add", "ops@example.com"}, 1, "--role is required"},
		{"unknown role", "blue-kettle-orbit\n", []string{"user", "add", "ops@example.com", "--role", "root"}, 1, "unknown role"},
		{"weak password", "password1234\n", []string{"user", "add", "ops@example.com", "--role", "admin"}, 1, "too easy to guess"},
		{"no password", "", []string{"user", "add", "ops@example.com", "--role", "admin"}, 1, "no password"},
		{"bad email", "blue-kettle-orbit\n", []string{"user", "add", "ops", "--role", "admin"}, 1, "not an address"},
		{"first admin", "blue-kettle-orbit\n", []string{"user", "add", "ops@example.com", "--role", "admin", "--name", "Ops"}, 0, "Added ops@example.com (admin)"},
		{"duplicate", "blue-kettle-orbit\n", []string{"user", "add", "OPS@example.com", "--role", "viewer"}, 1, "already has the email"},
		{"second", "green-ladder-comet\n", []string{"user", "add", "dev@example.com", "--role", "editor"}, 0, "Added dev@example.com (editor)"},
		{"passwd", "violet-harbour-sky\n", []string{"user", "passwd", "dev@example.com"}, 0, "password changed"},
		{"passwd of nobody", "violet-harbour-sky\n", []string{"user", "passwd", "nobody@example.com"}, 1, "no user has the email"},
		{"disable", "", []string{"user", "disable", "dev@example.com"}, 0, "disabled"},
		{"last admin", "", []string{"user", "disable", "ops@example.com"}, 1, "last admin"},
		{"no such command", "", []string{"user", "promote", "dev@example.com"}, 1, "usage: uptime user add"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out := uptime(tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.says) {
				t.Errorf("uptime %s: exit %d, %q; want exit %d saying %q", strings.Join(tt.args, " "), code, out, tt.code, tt.says)
			}
		})
	}
	code, out := uptime("", "user", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(lines[1], "dev@example.com") || !strings.Contains(lines[1], "true") ||
		!strings.Contains(lines[2], "ops@example.com") || !strings.Contains(lines[2], "Ops") || !strings.Contains(lines[2], "admin") {
		t.Errorf("uptime user list: exit %d\n%s\nwant a header, then dev (disabled) and ops (admin)", code, out)
	}
	if strings.Contains(out, "kettle") || strings.Contains(out, "argon2") {
		t.Errorf("uptime user list shows a password or its hash:\n%s", out)
	}

	// The running server sees the users within a second: reads are
	// private now.
	wait.Until(t, 2e9, "reads to become private", func() bool {
		status, _ := a.Do(t, "GET", "/site", "")
		return status == 401
	})

	// A token for the first admin, printed alone, works at once.
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), append([]string{"token", "add", "ops@example.com", "--name", "laptop", "--role", "admin"}, db...),
		strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("uptime token add: exit %d %s", code, stderr.String())
	}
	tok := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(tok, "upt_") || strings.Contains(stdout.String(), " ") || !strings.Contains(stderr.String(), "shown this once") {
		t.Fatalf("uptime token add printed %q and %q, want the token alone on standard output", stdout.String(), stderr.String())
	}
	admin := apptest.Client{URL: a.URL, Key: tok}
	if status, _ := admin.Do(t, "GET", "/user", ""); status != 200 {
		t.Fatalf("GET /user with the admin's new token: %d", status)
	}
	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{"token", "add", "dev@example.com", "--name", "x", "--role", "admin"}, "disabled"},
		{[]string{"token", "add", "nobody@example.com", "--name", "x", "--role", "viewer"}, "no user has the email"},
		{[]string{"token", "add", "ops@example.com", "--role", "viewer"}, "name is required"},
		{[]string{"token", "add", "ops@example.com", "--name", "x", "--role", "viewer", "--expires-in", "later"}, "expires_in"},
		{[]string{"token", "revoke", "abc"}, "not a token's id"},
	} {
		if code, out := uptime("", tt.args...); code != 1 || !strings.Contains(out, tt.says) {
			t.Errorf("uptime %s: exit %d %q, want 1 saying %q", strings.Join(tt.args, " "), code, out, tt.says)
		}
	}
	code, out = uptime("", "token", "list")
	if code != 0 || !strings.Contains(out, "laptop") || !strings.Contains(out, "ops@example.com") || strings.Contains(out, tok) {
		t.Errorf("uptime token list: exit %d\n%s\nwant the laptop token of ops, without its secret", code, out)
	}
	id := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1])[0]
	if code, out := uptime("", "token", "revoke", id); code != 0 {
		t.Fatalf("uptime token revoke %s: exit %d %s", id, code, out)
	}
	wait.Until(t, 2e9, "the server to refuse the revoked token", func() bool {
		status, _ := admin.Do(t, "GET", "/user", "")
		return status == 401
	})
}
