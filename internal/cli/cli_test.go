package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"uptime/internal/secrets"
)

func TestSecretSet(t *testing.T) {
	tests := []struct {
		name, value string
		code        int
		stored      string
	}{
		{"webhook", "https://hooks.slack.com/services/T0/B0/abc\n", 0, "https://hooks.slack.com/services/T0/B0/abc"},
		{"not a URL", "hello\n", 1, ""},
		{"empty", "\n", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var out, errOut bytes.Buffer
			code := Main(context.Background(), []string{"secret", "set", "SlackWebhookURL", "--state-dir", dir},
				strings.NewReader(tt.value), &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, errOut.String())
			}
			got, err := secrets.NewStore(dir, func(string) string { return "" }).Get("SlackWebhookURL")
			if err != nil || got != tt.stored {
				t.Fatalf("stored %q (%v), want %q", got, err, tt.stored)
			}
			if strings.Contains(out.String()+errOut.String(), "abc") {
				t.Errorf("the secret was echoed: %s %s", out.String(), errOut.String())
			}
			if tt.stored != "" {
				fi, err := os.Stat(filepath.Join(dir, "secrets.json"))
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("secrets file: %v, mode %v; want 0600", err, fi.Mode().Perm())
				}
			}
		})
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"help"}, 0, "uptime db shell"},
		{[]string{"--help"}, 0, "uptime secret set"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"db"}, 1, "usage: uptime db shell"},
		{[]string{"db", "shell", "nope"}, 1, "usage: uptime db shell <site|monitor|statuspage|notify|account>"},
		{[]string{"run", "--addr", "0.0.0.0:4000"}, 1, "refusing to listen"},
		{[]string{"run", "extra"}, 1, "no arguments"},
		{[]string{"secret"}, 1, "usage: uptime secret set"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		code := Main(context.Background(), tt.args, strings.NewReader(""), &out, &out)
		if code != tt.code || !strings.Contains(out.String(), tt.says) {
			t.Errorf("uptime %v: exit %d, output %q; want exit %d saying %q", tt.args, code, out.String(), tt.code, tt.says)
		}
	}
}
