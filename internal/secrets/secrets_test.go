package secrets

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"SlackWebhookURL": "SLACK_WEBHOOK_URL",
		"APIKey":          "API_KEY",
		"token":           "TOKEN",
		"GitHubToken":     "GIT_HUB_TOKEN",
	} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSetGetAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{}
	s := NewStore(dir, func(k string) string { return env[k] })
	if v, err := s.Get("SlackWebhookURL"); err != nil || v != "" {
		t.Fatalf("unset secret = %q, %v", v, err)
	}
	if err := s.Set("SlackWebhookURL", "http://hooks.example/a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("Other", "x"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get("SlackWebhookURL"); v != "http://hooks.example/a" {
		t.Fatalf("stored secret = %q", v)
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets file mode %v, want 0600", fi.Mode().Perm())
	}
	env["SLACK_WEBHOOK_URL"] = "http://hooks.example/from-env"
	if v, _ := s.Get("SlackWebhookURL"); v != "http://hooks.example/from-env" {
		t.Fatalf("the environment does not override the file: %q", v)
	}
}
