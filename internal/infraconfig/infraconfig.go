// Package infraconfig reads Encore's self-hosting configuration,
// infra-config.json, so that an Encore deployment of the tutorial's app
// moves over unchanged: its sql_servers give each service's database, its
// secrets give SlackWebhookURL. Values are strings or {"$env": "NAME"}.
// Sections this program has no use for are reported, not refused.
package infraconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"uptime/internal/secrets"
)

// Database is one service's database, resolved.
type Database struct {
	// URL reaches the database with its credentials and TLS settings.
	URL string
	// MaxConns bounds the connections to it; zero means the program's own.
	MaxConns int
}

// Infra is what an infra-config file says, with every $env resolved.
type Infra struct {
	// Databases are by the service's database name (site, monitor...).
	Databases map[string]Database
	// Secrets are by name, as SlackWebhookURL.
	Secrets map[string]string
	// Ignored names what the file holds that this program does not use:
	// whole sections, and databases of no service here.
	Ignored []string
}

// Load reads the file at path, resolving $env references through getenv.
// PEM material (a server's CA, a client certificate and key) is written
// into dir, readable only by its owner, since PostgreSQL's drivers take
// them as files. Each error names the field it is about.
func Load(path string, services []string, dir string, getenv func(string) string) (*Infra, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("infra-config: %w", err)
	}
	inf, err := parse(body, services, dir, getenv)
	if err != nil {
		return nil, fmt.Errorf("infra-config %s: %w", path, err)
	}
	return inf, nil
}

// file is the part of Encore's shape this program reads.
type file struct {
	SQLServers []json.RawMessage `json:"sql_servers"`
	Secrets    json.RawMessage   `json:"secrets"`
}

type sqlServer struct {
	Host      string                     `json:"host"`
	TLSConfig *tlsConfig                 `json:"tls_config"`
	Databases map[string]json.RawMessage `json:"databases"`
}

type tlsConfig struct {
	CA                             string      `json:"ca"`
	ClientCert                     *clientCert `json:"client_cert"`
	DisableTLSHostnameVerification bool        `json:"disable_tls_hostname_verification"`
	DisableCAValidation            bool        `json:"disable_ca_validation"`
}

type clientCert struct {
	Cert string    `json:"cert"`
	Key  envString `json:"key"`
}

type sqlDatabase struct {
	Name           string      `json:"name"`
	MaxConnections int         `json:"max_connections"`
	MinConnections int         `json:"min_connections"`
	Username       envString   `json:"username"`
	Password       envString   `json:"password"`
	ClientCert     *clientCert `json:"client_cert"`
}

// envString is a plain string, or {"$env": "NAME"}: the value of an
// environment variable. It is read when resolved, so that its error can
// name the field.
type envString struct {
	raw json.RawMessage
}

func (e *envString) UnmarshalJSON(b []byte) error {
	e.raw = append(e.raw[:0], b...)
	return nil
}

// resolve returns the value; an $env reference to an unset or empty
// variable is an error naming the variable.
func (e envString) resolve(getenv func(string) string) (string, error) {
	if len(e.raw) == 0 || string(e.raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(e.raw, &s); err == nil {
		return s, nil
	}
	var ref map[string]string
	if err := json.Unmarshal(e.raw, &ref); err != nil || len(ref) != 1 || ref["$env"] == "" {
		return "", errors.New(`must be a string or {"$env": "NAME"}`)
	}
	v := getenv(ref["$env"])
	if v == "" {
		return "", fmt.Errorf("the environment variable %s is not set", ref["$env"])
	}
	return v, nil
}

// strict decodes b into v refusing fields v does not have, so that a
// misspelt field is an error rather than a setting silently left out.
func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%s: must be a %s", te.Field, te.Type)
		}
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func parse(body []byte, services []string, dir string, getenv func(string) string) (*Infra, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	var f file
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("sql_servers must be a list and secrets an object: %w", err)
	}
	inf := &Infra{Databases: map[string]Database{}, Secrets: map[string]string{}}
	for k := range top {
		if k != "sql_servers" && k != "secrets" {
			inf.Ignored = append(inf.Ignored, k)
		}
	}
	for i, raw := range f.SQLServers {
		field := fmt.Sprintf("sql_servers[%d]", i)
		var s sqlServer
		if err := strict(raw, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		if err := inf.addServer(field, s, services, dir, getenv); err != nil {
			return nil, err
		}
	}
	secrets, err := parseSecrets(f.Secrets, getenv)
	if err != nil {
		return nil, err
	}
	inf.Secrets = secrets
	slices.Sort(inf.Ignored)
	return inf, nil
}

func (inf *Infra) addServer(field string, s sqlServer, services []string, dir string, getenv func(string) string) error {
	if s.Host == "" {
		return fmt.Errorf("%s.host: missing; give host or host:port", field)
	}
	host := s.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "5432")
	}
	tlsQuery, err := tlsParams(field, s.TLSConfig, dir, getenv)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(s.Databases))
	for name := range s.Databases {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		dbField := field + ".databases." + name
		if !slices.Contains(services, name) {
			inf.Ignored = append(inf.Ignored, dbField)
			continue
		}
		if _, dup := inf.Databases[name]; dup {
			return fmt.Errorf("%s: the %s database is given twice", dbField, name)
		}
		var d sqlDatabase
		if err := strict(s.Databases[name], &d); err != nil {
			return fmt.Errorf("%s: %w", dbField, err)
		}
		user, err := d.Username.resolve(getenv)
		if err != nil {
			return fmt.Errorf("%s.username: %w", dbField, err)
		}
		if user == "" {
			return fmt.Errorf("%s.username: missing", dbField)
		}
		password, err := d.Password.resolve(getenv)
		if err != nil {
			return fmt.Errorf("%s.password: %w", dbField, err)
		}
		if d.MaxConnections < 0 || d.MinConnections < 0 || d.MaxConnections > 0 && d.MaxConnections < d.MinConnections {
			return fmt.Errorf("%s.max_connections: %d must be at least min_connections (%d) and not negative",
				dbField, d.MaxConnections, d.MinConnections)
		}
		q := url.Values{}
		for k, v := range tlsQuery {
			q[k] = v
		}
		if d.ClientCert != nil {
			if err := writeClientCert(q, dbField+".client_cert", *d.ClientCert, dir, name, getenv); err != nil {
				return err
			}
		}
		dbName := d.Name
		if dbName == "" {
			dbName = name
		}
		u := url.URL{Scheme: "postgres", Host: host, Path: "/" + dbName, RawQuery: q.Encode()}
		if password != "" {
			u.User = url.UserPassword(user, password)
		} else {
			u.User = url.User(user)
		}
		inf.Databases[name] = Database{URL: u.String(), MaxConns: d.MaxConnections}
	}
	return nil
}

// tlsParams turns a server's tls_config into connection parameters as
// Encore reads it: no tls_config, TLS when the server offers it; a
// tls_config, TLS required and the server's certificate verified against
// ca (or the system's roots), its host name too unless that is disabled.
func tlsParams(field string, t *tlsConfig, dir string, getenv func(string) string) (url.Values, error) {
	q := url.Values{}
	if t == nil {
		q.Set("sslmode", "prefer")
		return q, nil
	}
	switch {
	case t.DisableCAValidation:
		q.Set("sslmode", "require")
	case t.DisableTLSHostnameVerification:
		q.Set("sslmode", "verify-ca")
	default:
		q.Set("sslmode", "verify-full")
	}
	if t.CA != "" && !t.DisableCAValidation {
		if !strings.Contains(t.CA, "-----BEGIN CERTIFICATE-----") {
			return nil, fmt.Errorf("%s.tls_config.ca: must be a PEM certificate", field)
		}
		p, err := writePEM(dir, strings.NewReplacer("[", "-", "]", "").Replace(field)+"-ca.pem", t.CA)
		if err != nil {
			return nil, fmt.Errorf("%s.tls_config.ca: %w", field, err)
		}
		q.Set("sslrootcert", p)
	}
	if t.ClientCert != nil {
		if err := writeClientCert(q, field+".tls_config.client_cert", *t.ClientCert, dir, "server", getenv); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func writeClientCert(q url.Values, field string, c clientCert, dir, name string, getenv func(string) string) error {
	key, err := c.Key.resolve(getenv)
	if err != nil {
		return fmt.Errorf("%s.key: %w", field, err)
	}
	if !strings.Contains(c.Cert, "-----BEGIN") {
		return fmt.Errorf("%s.cert: must be a PEM certificate", field)
	}
	if !strings.Contains(key, "-----BEGIN") {
		return fmt.Errorf("%s.key: must be a PEM private key", field)
	}
	base := strings.NewReplacer("[", "-", "]", "", ".", "-").Replace(field)
	certPath, err := writePEM(dir, base+".crt", c.Cert)
	if err != nil {
		return fmt.Errorf("%s.cert: %w", field, err)
	}
	keyPath, err := writePEM(dir, base+".key", key)
	if err != nil {
		return fmt.Errorf("%s.key: %w", field, err)
	}
	q.Set("sslcert", certPath)
	q.Set("sslkey", keyPath)
	return nil
}

// writePEM writes PEM text to dir/name, readable by its owner only, and
// returns its absolute path.
func writePEM(dir, name, pem string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(pem), 0o600); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

// parseSecrets reads Encore's two shapes of secrets: a map of names to
// values (each a string or an $env reference), or {"env_ref": "NAME"}, an
// environment variable holding a JSON object of them.
func parseSecrets(raw json.RawMessage, getenv func(string) string) (map[string]string, error) {
	out := map[string]string{}
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	var ref struct {
		EnvRef string `json:"env_ref"`
	}
	if err := json.Unmarshal(raw, &ref); err == nil && ref.EnvRef != "" {
		v := getenv(ref.EnvRef)
		if v == "" {
			return nil, fmt.Errorf("secrets.env_ref: the environment variable %s is not set", ref.EnvRef)
		}
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			return nil, fmt.Errorf("secrets.env_ref: %s must hold a JSON object of strings", ref.EnvRef)
		}
		return out, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New(`secrets: must be an object of names to values, or {"env_ref": "NAME"}`)
	}
	for name, b := range m {
		v, err := envString{raw: b}.resolve(getenv)
		if err != nil {
			return nil, fmt.Errorf("secrets.%s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

// Getenv returns getenv with the file's secrets beneath it, each under its
// environment name (SlackWebhookURL as SLACK_WEBHOOK_URL): the environment
// still overrides a secret, as it does the secrets file. Without a file it
// is getenv itself.
func (inf *Infra) Getenv(getenv func(string) string) func(string) string {
	if inf == nil || len(inf.Secrets) == 0 {
		return getenv
	}
	byEnv := make(map[string]string, len(inf.Secrets))
	for name, v := range inf.Secrets {
		byEnv[secrets.EnvName(name)] = v
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return byEnv[name]
	}
}
