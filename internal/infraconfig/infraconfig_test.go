package infraconfig

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var services = []string{"site", "monitor", "statuspage"}

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoadResolvesEncoresShape(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "infra-config.json")
	body := `{
	  "metadata": {"app_id": "uptime", "env_name": "prod"},
	  "pubsub": [{"type": "nsq", "hosts": "nsq:4150"}],
	  "sql_servers": [
	    {
	      "host": "db.internal:5433",
	      "tls_config": {"ca": ` + jsonString(testCA) + `, "disable_tls_hostname_verification": true},
	      "databases": {
	        "site": {"name": "prod_site", "username": "app", "password": {"$env": "DB_PASSWORD"}, "max_connections": 12, "min_connections": 2},
	        "monitor": {"username": {"$env": "DB_USER"}, "password": "p@ss w/rd"},
	        "billing": {"username": "x", "password": "y"}
	      }
	    },
	    {"host": "other.internal", "databases": {"statuspage": {"username": "pages", "password": "pw"}}}
	  ],
	  "secrets": {"SlackWebhookURL": {"$env": "SLACK_URL"}, "Other": "plain"}
	}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	inf, err := Load(path, services, filepath.Join(dir, "tls"), env(map[string]string{
		"DB_PASSWORD": "s3cret", "DB_USER": "mon", "SLACK_URL": "https://hooks.example/x",
	}))
	if err != nil {
		t.Fatal(err)
	}

	site, _ := url.Parse(inf.Databases["site"].URL)
	if site.Host != "db.internal:5433" || site.Path != "/prod_site" || site.User.String() != "app:s3cret" {
		t.Errorf("site URL = %s", inf.Databases["site"].URL)
	}
	if got := site.Query().Get("sslmode"); got != "verify-ca" {
		t.Errorf("sslmode = %q, want verify-ca (hostname verification disabled)", got)
	}
	ca := site.Query().Get("sslrootcert")
	if b, err := os.ReadFile(ca); err != nil || string(b) != testCA {
		t.Errorf("sslrootcert %q holds %q (%v), want the CA", ca, b, err)
	}
	if fi, err := os.Stat(ca); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the CA file's mode is %v (%v), want 0600", fi.Mode(), err)
	}
	if inf.Databases["site"].MaxConns != 12 {
		t.Errorf("site max conns = %d, want 12", inf.Databases["site"].MaxConns)
	}

	mon, _ := url.Parse(inf.Databases["monitor"].URL)
	if pw, _ := mon.User.Password(); mon.User.Username() != "mon" || pw != "p@ss w/rd" || mon.Path != "/monitor" {
		t.Errorf("monitor URL = %s: want user mon, the password kept whole and the database named by its key", mon.Redacted())
	}
	pages, _ := url.Parse(inf.Databases["statuspage"].URL)
	if pages.Host != "other.internal:5432" || pages.Query().Get("sslmode") != "prefer" {
		t.Errorf("statuspage URL = %s: want port 5432 added and sslmode=prefer without tls_config", pages.Redacted())
	}
	if got := strings.Join(inf.Ignored, ","); got != "metadata,pubsub,sql_servers[0].databases.billing" {
		t.Errorf("ignored = %q", got)
	}
	if inf.Secrets["SlackWebhookURL"] != "https://hooks.example/x" || inf.Secrets["Other"] != "plain" {
		t.Errorf("secrets = %v", inf.Secrets)
	}
	getenv := inf.Getenv(env(map[string]string{"OTHER": "from the environment"}))
	if getenv("SLACK_WEBHOOK_URL") != "https://hooks.example/x" || getenv("OTHER") != "from the environment" {
		t.Errorf("Getenv: SLACK_WEBHOOK_URL=%q OTHER=%q; want the file's secret, and the environment over the file",
			getenv("SLACK_WEBHOOK_URL"), getenv("OTHER"))
	}
}

func TestTLSModes(t *testing.T) {
	for _, tc := range []struct {
		name, tls, mode string
		rootcert        bool
	}{
		{"absent", ``, "prefer", false},
		{"empty", `"tls_config": {},`, "verify-full", false},
		{"ca", `"tls_config": {"ca": ` + jsonString(testCA) + `},`, "verify-full", true},
		{"no hostname check", `"tls_config": {"disable_tls_hostname_verification": true},`, "verify-ca", false},
		{"no CA check", `"tls_config": {"ca": ` + jsonString(testCA) + `, "disable_ca_validation": true},`, "require", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"sql_servers": [{"host": "db", ` + tc.tls + ` "databases": {"site": {"username": "u", "password": "p"}}}]}`
			inf, err := parse([]byte(body), services, t.TempDir(), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(inf.Databases["site"].URL)
			if got := u.Query().Get("sslmode"); got != tc.mode {
				t.Errorf("sslmode = %q, want %q", got, tc.mode)
			}
			if got := u.Query().Get("sslrootcert") != ""; got != tc.rootcert {
				t.Errorf("sslrootcert given: %v, want %v", got, tc.rootcert)
			}
		})
	}
}

func TestSecretsFromEnvRef(t *testing.T) {
	body := `{"secrets": {"env_ref": "ALL_SECRETS"}}`
	inf, err := parse([]byte(body), services, t.TempDir(), env(map[string]string{"ALL_SECRETS": `{"SlackWebhookURL": "https://h/1"}`}))
	if err != nil {
		t.Fatal(err)
	}
	if inf.Secrets["SlackWebhookURL"] != "https://h/1" {
		t.Errorf("secrets = %v", inf.Secrets)
	}
}

func TestBadFilesNameTheField(t *testing.T) {
	db := func(fields string) string {
		return `{"sql_servers": [{"host": "db", "databases": {"site": {` + fields + `}}}]}`
	}
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `{"sql_servers": [`, "not a JSON object"},
		{"not an object", `[1, 2]`, "not a JSON object"},
		{"servers not a list", `{"sql_servers": {"host": "db"}}`, "sql_servers must be a list"},
		{"no host", `{"sql_servers": [{"databases": {}}]}`, "sql_servers[0].host: missing"},
		{"misspelt field", db(`"username": "u", "pasword": "p"`), `sql_servers[0].databases.site: unknown field "pasword"`},
		{"misspelt server field", `{"sql_servers": [{"host": "db", "tls": {}}]}`, `sql_servers[0]: unknown field "tls"`},
		{"unset variable", db(`"username": "u", "password": {"$env": "NOPE"}`), "sql_servers[0].databases.site.password: the environment variable NOPE is not set"},
		{"bad reference", db(`"username": "u", "password": {"env": "X"}`), `password: must be a string or {"$env": "NAME"}`},
		{"no username", db(`"password": "p"`), "sql_servers[0].databases.site.username: missing"},
		{"bad max", db(`"username": "u", "max_connections": 2, "min_connections": 5`), "max_connections"},
		{"max not a number", db(`"username": "u", "max_connections": "ten"`), "max_connections: must be a int"},
		{"bad CA", `{"sql_servers": [{"host": "db", "tls_config": {"ca": "nope"}, "databases": {}}]}`, "sql_servers[0].tls_config.ca: must be a PEM certificate"},
		{"twice", `{"sql_servers": [{"host": "a", "databases": {"site": {"username": "u"}}}, {"host": "b", "databases": {"site": {"username": "u"}}}]}`, "given twice"},
		{"secret unset", `{"secrets": {"SlackWebhookURL": {"$env": "NOPE"}}}`, "secrets.SlackWebhookURL: the environment variable NOPE is not set"},
		{"env_ref unset", `{"secrets": {"env_ref": "NOPE"}}`, "secrets.env_ref: the environment variable NOPE is not set"},
		{"secrets not an object", `{"secrets": [1]}`, "secrets: must be an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse([]byte(tc.body), services, t.TempDir(), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.json"), services, t.TempDir(), env(nil))
	if err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Fatalf("error = %v, want it to name the file", err)
	}
}

func jsonString(s string) string {
	return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
}
