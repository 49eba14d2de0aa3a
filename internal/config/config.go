// Package config holds the program's settings. Every setting is a flag of
// `uptime run` and an environment variable; the flag wins.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"uptime/internal/mailer"
	"uptime/internal/queue"
)

// Config is every setting of the program.
type Config struct {
	// Addr is where the API listens. Defaults to 127.0.0.1:4000, or to
	// :$PORT when the environment has PORT, as platforms that run
	// containers (and Encore's images) set it.
	Addr string
	// StateDir holds the local PostgreSQL cluster and local secrets.
	// Defaults to .uptime in the working directory.
	StateDir string
	// DatabaseURL is a PostgreSQL server to use instead of a local cluster;
	// the site and monitor databases are created on it. Defaults to none.
	DatabaseURL string
	// InfraConfig is an Encore infra-config.json that gives the databases
	// (sql_servers) and secrets in place of DatabaseURL. Defaults to none.
	InfraConfig string
	// DatabasePrefix is put in front of the database names (site, monitor),
	// so that several deployments can share one server. Defaults to none.
	DatabasePrefix string
	// PGPort is the local cluster's port. Defaults to 0: the last one used
	// if it is free, else any free port.
	PGPort int
	// APIKey, when set, is required for every request that changes something
	// or fetches a URL. Without it the server listens on loopback only.
	APIKey string
	// CheckEvery is how often every site is checked. Defaults to 5 minutes.
	CheckEvery time.Duration
	// CheckTimeout bounds one check of one site. Defaults to 10 seconds.
	CheckTimeout time.Duration
	// CheckConcurrency bounds how many sites are checked at once. Defaults
	// to 100.
	CheckConcurrency int
	// ConfirmChecks is how many quick re-checks must also fail before a site
	// is declared down. Defaults to 2.
	ConfirmChecks int
	// ConfirmInterval is the pause before each re-check. Defaults to 3 seconds.
	ConfirmInterval time.Duration
	// Location names where this instance checks from: a-z, 0-9 and -, up
	// to 32. Defaults to "local".
	Location string
	// Probe makes the instance a probe: it only checks its location's share
	// of the rounds, with nothing but the monitor's database, which it does
	// not migrate, and serves only health and metrics.
	Probe bool
	// FlapChanges and FlapWindow: a site that changes state more than
	// FlapChanges times in FlapWindow is reported once as flapping, and its
	// changes are held back until it is stable for FlapWindow. Default to 4
	// and 30 minutes.
	FlapChanges int
	FlapWindow  time.Duration
	// Retention is how long raw checks are kept when their days are not
	// packed. Defaults to 30 days.
	Retention time.Duration
	// CompactedRetention is how long every check is kept once its day is
	// closed and packed; 0 packs nothing, and raw checks are then kept
	// Retention. Defaults to 400 days.
	CompactedRetention time.Duration
	// RollupRetention is how long the hourly and daily rollups are kept.
	// Defaults to 400 days.
	RollupRetention time.Duration
	// AuditRetention is how long the audit log's rows are kept. Defaults
	// to 400 days.
	AuditRetention time.Duration
	// MetricsPerSite tells whether GET /metrics has a series per site (up,
	// latency, certificate expiry). Defaults to true; very large
	// installations may leave them out.
	MetricsPerSite bool
	// Reads says who may read: "open" (anyone who reaches the server),
	// "private" (a viewer's token or above), or "" for open while the
	// server listens on loopback and has no users, private otherwise.
	Reads string
	// MetricsPublic lets anyone read /metrics while reads are private.
	MetricsPublic bool
	// AdminEmail, when set, is an admin made at start-up if no user has
	// that address, with the password of the secret AdminPasswordSecret:
	// the first admin of a deployment, from its secrets.
	AdminEmail string
	// OIDC* let users sign in through an identity provider: its issuer
	// URL, this server's client id and secret with it, the email domains
	// let in (comma separated; empty: any), the claim holding a user's
	// groups, how groups map to roles ("ops=admin,dev=editor"), and the
	// provider's name on the dashboard's button.
	OIDCIssuer, OIDCClientID, OIDCClientSecret   string
	OIDCAllowedDomains, OIDCRoleClaim, OIDCRoles string
	OIDCName                                     string
	// TrustedProxies are the proxies (address ranges, comma separated)
	// whose X-Forwarded-For names the client: for rate limits, lockouts
	// and the audit log.
	TrustedProxies string
	// LogRequests logs every request at INFO; otherwise only those that
	// fail or are slow are, the others at DEBUG. Defaults to false.
	LogRequests bool
	// LogFormat is "text" or "json". Defaults to text.
	LogFormat string
	// HeartbeatURL is fetched after each healthy round of checks, for an
	// outside dead man's switch (Healthchecks.io, Cronitor...). Defaults
	// to none.
	HeartbeatURL string
	// WatchItself keeps a push site, "Uptime itself", that each instance
	// reports to while its checking is healthy. Defaults to false.
	WatchItself bool
	// PublicURL is where people reach the server, like
	// https://uptime.example.com; its host is answered to. Defaults to none.
	PublicURL string
	// AllowedHosts are more host names the server answers to, comma
	// separated; *.example.com names every host under example.com. Beside
	// them, the server answers to addresses and loopback names only, so a
	// page that rebinds its own name to this server gets nothing.
	AllowedHosts string
	// CORSOrigins are origins, comma separated, whose pages may make
	// changes without the API key, beside loopback ones.
	CORSOrigins string
	// SMTPURL is the mail server status pages send their subscribers'
	// email through, as smtp://user:password@host:587/?from=status@example.com.
	// Defaults to none: no page may take subscribers.
	SMTPURL string
	// DenyTargets are address ranges checks never reach, beside the
	// link-local and cloud metadata ones, which are always denied.
	DenyTargets string
	// AllowTargets are address ranges checks may reach although denied
	// by default: loopback and private ranges while the server listens
	// beyond loopback.
	AllowTargets string
	// ShutdownDelay is how long, after SIGTERM, the server goes on serving
	// with /readyz answering 503, so that a load balancer stops sending
	// requests before the listener closes. Defaults to none; the image
	// sets 5s.
	ShutdownDelay time.Duration
	// DebugAddr, when set, serves Go's profiler (net/http/pprof) on this
	// loopback address, for measuring where the time goes. Defaults to
	// none.
	DebugAddr string
}

// MinKeyLength is the shortest API key accepted on an address beyond
// loopback: long enough that it cannot be guessed over the network.
const MinKeyLength = 16

// Default returns the settings used when nothing is configured.
func Default() Config {
	return Config{
		Addr:               "127.0.0.1:4000",
		StateDir:           ".uptime",
		CheckEvery:         5 * time.Minute,
		CheckTimeout:       10 * time.Second,
		CheckConcurrency:   100,
		ConfirmChecks:      2,
		ConfirmInterval:    3 * time.Second,
		Location:           "local",
		FlapChanges:        4,
		FlapWindow:         30 * time.Minute,
		Retention:          30 * 24 * time.Hour,
		RollupRetention:    400 * 24 * time.Hour,
		CompactedRetention: 400 * 24 * time.Hour,
		AuditRetention:     400 * 24 * time.Hour,
		MetricsPerSite:     true,
		LogFormat:          "text",
	}
}

// Flags registers every setting on fs, with defaults taken from the
// environment through getenv, and returns the config the flags fill in and
// a function that reports the environment's bad values after fs.Parse.
func Flags(fs *flag.FlagSet, getenv func(string) string) (*Config, func() error) {
	c := Default()
	var errs []error
	str := func(p *string, name, env, usage string) {
		if v := getenv(env); v != "" {
			*p = v
		}
		fs.StringVar(p, name, *p, usage+" (env "+env+")")
	}
	dur := func(p *time.Duration, name, env, usage string) {
		if v := getenv(env); v != "" {
			d, err := ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
			*p = d
		}
		fs.Var((*durationFlag)(p), name, usage+", a `duration` (env "+env+")")
	}
	num := func(p *int, name, env, usage string) {
		if v := getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q is not a whole number", env, v))
			}
			*p = n
		}
		fs.IntVar(p, name, *p, usage+" (env "+env+")")
	}
	boolean := func(p *bool, name, env, usage string) {
		if v := getenv(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q is not true or false", env, v))
			}
			*p = b
		}
		fs.BoolVar(p, name, *p, usage+" (env "+env+")")
	}
	if p := getenv("PORT"); p != "" {
		c.Addr = ":" + p
	}
	str(&c.Addr, "addr", "UPTIME_ADDR", "address the API listens on; PORT=N in the environment means :N")
	str(&c.StateDir, "state-dir", "UPTIME_STATE_DIR", "directory for the local database cluster and local secrets")
	str(&c.DatabaseURL, "database-url", "DATABASE_URL", "PostgreSQL server URL; unset: provision a local cluster")
	str(&c.InfraConfig, "infra-config", "ENCORE_INFRA_CONFIG_PATH", "Encore infra-config.json giving the databases and secrets, in place of --database-url")
	str(&c.DatabasePrefix, "database-prefix", "UPTIME_DATABASE_PREFIX", "prefix for the database names site and monitor")
	num(&c.PGPort, "pg-port", "UPTIME_PG_PORT", "port of the local cluster; 0: the last one if free, else any")
	str(&c.APIKey, "api-key", "UPTIME_API_KEY", "admin key required for changes; unset: listen on loopback only, unless a user exists")
	str(&c.Reads, "reads", "UPTIME_READS", "who may read: open, or private (a token); unset: open on loopback with no users, else private")
	str(&c.AdminEmail, "admin-email", "UPTIME_ADMIN_EMAIL", "an admin made at start-up unless a user has this address, with the password UPTIME_ADMIN_PASSWORD")
	str(&c.OIDCIssuer, "oidc-issuer", "UPTIME_OIDC_ISSUER", "an OpenID Connect provider's issuer URL: users may sign in through it")
	str(&c.OIDCClientID, "oidc-client-id", "UPTIME_OIDC_CLIENT_ID", "this server's client id with the provider")
	str(&c.OIDCClientSecret, "oidc-client-secret", "UPTIME_OIDC_CLIENT_SECRET", "this server's client secret with the provider (or: uptime secret set UptimeOIDCClientSecret)")
	str(&c.OIDCAllowedDomains, "oidc-allowed-domains", "UPTIME_OIDC_ALLOWED_DOMAINS", "email domains that may sign in through the provider, comma separated; empty: any")
	str(&c.OIDCRoleClaim, "oidc-role-claim", "UPTIME_OIDC_ROLE_CLAIM", "the ID token's claim holding a user's groups (also asked for as a scope)")
	str(&c.OIDCRoles, "oidc-roles", "UPTIME_OIDC_ROLES", "groups' roles for users made at their first sign-in, like ops=admin,dev=editor; others: viewer")
	str(&c.OIDCName, "oidc-name", "UPTIME_OIDC_NAME", "the provider's name on the dashboard's button; default: the issuer's host")
	str(&c.TrustedProxies, "trusted-proxies", "UPTIME_TRUSTED_PROXIES", "address ranges of the proxies in front whose X-Forwarded-For names the client, comma separated")
	boolean(&c.MetricsPublic, "metrics-public", "UPTIME_METRICS_PUBLIC", "serve /metrics without a token while reads are private")
	dur(&c.CheckEvery, "check-every", "UPTIME_CHECK_EVERY", "how often every site is checked")
	dur(&c.CheckTimeout, "check-timeout", "UPTIME_CHECK_TIMEOUT", "time limit of one check")
	num(&c.CheckConcurrency, "check-concurrency", "UPTIME_CHECK_CONCURRENCY", "how many sites are checked at once")
	num(&c.ConfirmChecks, "confirm-checks", "UPTIME_CONFIRM_CHECKS", "re-checks that must also fail before a site is down")
	dur(&c.ConfirmInterval, "confirm-interval", "UPTIME_CONFIRM_INTERVAL", "pause before each re-check")
	str(&c.Location, "location", "UPTIME_LOCATION", "where this instance checks from, named by a-z, 0-9 and -")
	boolean(&c.Probe, "probe", "UPTIME_PROBE", "only check this location's rounds, with the monitor's database alone (see docs/locations.md)")
	num(&c.FlapChanges, "flap-changes", "UPTIME_FLAP_CHANGES", "changes of state in --flap-window above which a site is reported flapping")
	dur(&c.FlapWindow, "flap-window", "UPTIME_FLAP_WINDOW", "the window flapping is counted in, and how long a flapping site must be stable")
	dur(&c.Retention, "retention", "UPTIME_RETENTION", "how long raw checks are kept when their days are not packed, like 30d")
	dur(&c.CompactedRetention, "compacted-retention", "UPTIME_COMPACTED_RETENTION", "how long every check is kept, packed, once its day is closed, like 400d; 0 packs nothing")
	dur(&c.RollupRetention, "rollup-retention", "UPTIME_ROLLUP_RETENTION", "how long the hourly and daily rollups are kept, like 400d")
	dur(&c.AuditRetention, "audit-retention", "UPTIME_AUDIT_RETENTION", "how long the audit log's rows are kept, like 400d")
	boolean(&c.MetricsPerSite, "metrics-per-site", "UPTIME_METRICS_PER_SITE", "serve a series per site at /metrics; false for very many sites")
	boolean(&c.LogRequests, "log-requests", "UPTIME_LOG_REQUESTS", "log every request at INFO, not only those that fail or are slow")
	str(&c.LogFormat, "log-format", "UPTIME_LOG_FORMAT", "log format: text or json")
	str(&c.PublicURL, "public-url", "UPTIME_PUBLIC_URL", "URL people reach the server at; its host is answered to")
	str(&c.AllowedHosts, "allowed-hosts", "UPTIME_ALLOWED_HOSTS", "more host names answered to, comma separated (*.example.com for all under it)")
	str(&c.SMTPURL, "smtp-url", "UPTIME_SMTP_URL", "mail server for status pages' subscribers, as smtp://user:password@host:587/?from=status@example.com")
	str(&c.CORSOrigins, "cors-origins", "UPTIME_CORS_ORIGINS", "origins whose pages may make changes without the key, comma separated")
	str(&c.DenyTargets, "deny-targets", "UPTIME_DENY_TARGETS", "address ranges checks never reach, like 10.0.0.0/8,fd00::/8")
	str(&c.AllowTargets, "allow-targets", "UPTIME_ALLOW_TARGETS", "address ranges checks may reach although private, like 10.1.0.0/16")
	dur(&c.ShutdownDelay, "shutdown-delay", "UPTIME_SHUTDOWN_DELAY", "after SIGTERM, how long to go on serving with /readyz unready, for load balancers")
	str(&c.DebugAddr, "debug-addr", "UPTIME_DEBUG_ADDR", "loopback address for Go's profiler (/debug/pprof/); unset: none")
	str(&c.HeartbeatURL, "heartbeat-url", "UPTIME_HEARTBEAT_URL", "URL fetched after each healthy round of checks, for a dead man's switch")
	boolean(&c.WatchItself, "watch-itself", "UPTIME_WATCH_ITSELF", "keep a push site, \"Uptime itself\", that each instance reports to while its checking is healthy, alerted as any")
	return &c, func() error { return errors.Join(errs...) }
}

// Parse parses the arguments of `uptime run` (or `uptime db ...`) against
// the environment. Help goes to out.
func Parse(name string, args []string, getenv func(string) string, out io.Writer) (Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	c, envErr := Flags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	if err := envErr(); err != nil {
		return Config{}, nil, err
	}
	return *c, fs.Args(), c.Validate()
}

// Validate reports settings that cannot work, each with what to do instead.
func (c Config) Validate() error {
	var errs []error
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("--addr %q must be host:port, like 127.0.0.1:4000", c.Addr))
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q has an invalid port", c.Addr))
	} else if c.APIKey == "" && c.Reads != "private" && c.AdminEmail == "" && !IsLoopback(host) {
		errs = append(errs, fmt.Errorf("refusing to listen on %q without an API key or private reads: anyone who can reach it "+
			"could change the monitored sites; set --api-key (or UPTIME_API_KEY), or --reads private (UPTIME_READS) and add "+
			"an admin with \"uptime user add EMAIL --role admin\" (or --admin-email), or listen on 127.0.0.1", c.Addr))
	} else if c.APIKey != "" && len(c.APIKey) < MinKeyLength && !IsLoopback(host) {
		errs = append(errs, fmt.Errorf("the API key is %d characters long; on an address beyond loopback it must have "+
			"at least %d (try: openssl rand -hex 16)", len(c.APIKey), MinKeyLength))
	}
	if c.OIDCIssuer != "" {
		if !isHTTPURL(c.OIDCIssuer) {
			errs = append(errs, fmt.Errorf("--oidc-issuer %q must be an http or https URL", c.OIDCIssuer))
		}
		if c.OIDCClientID == "" {
			errs = append(errs, errors.New("--oidc-issuer needs --oidc-client-id"))
		}
	}
	if c.SMTPURL != "" {
		if _, err := mailer.Parse(c.SMTPURL); err != nil {
			errs = append(errs, fmt.Errorf("--smtp-url: %w", err))
		}
	}
	if _, err := ParsePrefixes(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxies: %w", err))
	}
	if _, err := ParseRoleMap(c.OIDCRoles); err != nil {
		errs = append(errs, err)
	}
	if c.Reads != "" && c.Reads != "open" && c.Reads != "private" {
		errs = append(errs, fmt.Errorf("--reads %q: use open or private", c.Reads))
	}
	if c.PublicURL != "" && !isHTTPURL(c.PublicURL) {
		errs = append(errs, errors.New("--public-url must be an http or https URL with a host, like https://uptime.example.com"))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("--state-dir must not be empty"))
	}
	if c.DebugAddr != "" {
		// The profiler shows the program's memory: it never leaves this machine.
		if h, _, err := net.SplitHostPort(c.DebugAddr); err != nil || !IsLoopback(h) {
			errs = append(errs, fmt.Errorf("--debug-addr %q must be a loopback host:port, like 127.0.0.1:6060", c.DebugAddr))
		}
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("--database-url must be a URL starting with postgres://"))
	}
	if c.DatabaseURL != "" && c.InfraConfig != "" {
		errs = append(errs, errors.New("give the databases by --database-url or by --infra-config, not both"))
	}
	for _, r := range c.DatabasePrefix {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			errs = append(errs, fmt.Errorf("--database-prefix %q may hold only a-z, 0-9 and _", c.DatabasePrefix))
			break
		}
	}
	if c.PGPort < 0 || c.PGPort > 65535 {
		errs = append(errs, fmt.Errorf("--pg-port %d is not a port", c.PGPort))
	}
	if c.CheckEvery < time.Second {
		errs = append(errs, fmt.Errorf("--check-every %s is too short; use 1s or more", c.CheckEvery))
	}
	if c.CheckTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--check-timeout %s must be positive", c.CheckTimeout))
	}
	if c.CheckConcurrency < 1 || c.CheckConcurrency > 10000 {
		errs = append(errs, fmt.Errorf("--check-concurrency %d must be from 1 to 10000", c.CheckConcurrency))
	}
	if c.ConfirmChecks < 0 || c.ConfirmChecks > 10 {
		errs = append(errs, fmt.Errorf("--confirm-checks %d must be from 0 to 10", c.ConfirmChecks))
	}
	if c.ConfirmInterval < 0 {
		errs = append(errs, fmt.Errorf("--confirm-interval %s must not be negative", c.ConfirmInterval))
	}
	if c.Probe && c.DatabaseURL == "" && c.InfraConfig == "" {
		errs = append(errs, errors.New("--probe needs --database-url or --infra-config: a probe checks for instances that share a database"))
	}
	if !queue.ValidLocation(c.Location) {
		errs = append(errs, fmt.Errorf("--location %q must be %s", c.Location, queue.LocationRule))
	}
	if c.FlapChanges < 1 || c.FlapChanges > 100 {
		errs = append(errs, fmt.Errorf("--flap-changes %d must be from 1 to 100", c.FlapChanges))
	}
	if c.FlapWindow < time.Minute || c.FlapWindow > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--flap-window %s must be from 1m to 24h", c.FlapWindow))
	}
	if c.AuditRetention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("--audit-retention %s is too short: use 1d or more", c.AuditRetention))
	}
	if c.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("--retention %s is too short: checks are kept by the day; use 1d or more", c.Retention))
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--shutdown-delay %s must be from 0 to 10m", c.ShutdownDelay))
	}
	if c.CompactedRetention != 0 && c.CompactedRetention < 3*24*time.Hour {
		errs = append(errs, fmt.Errorf("--compacted-retention %s is too short: today's and yesterday's checks stay raw; use 3d or more, or 0 to pack nothing", c.CompactedRetention))
	}
	if c.RollupRetention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("--rollup-retention %s is too short; use 1d or more", c.RollupRetention))
	}
	if _, err := ParsePrefixes(c.DenyTargets); err != nil {
		errs = append(errs, fmt.Errorf("--deny-targets: %w", err))
	}
	if _, err := ParsePrefixes(c.AllowTargets); err != nil {
		errs = append(errs, fmt.Errorf("--allow-targets: %w", err))
	}
	if c.HeartbeatURL != "" && !isHTTPURL(c.HeartbeatURL) {
		errs = append(errs, errors.New("--heartbeat-url must be an http or https URL with a host"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q must be text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// ParsePrefixes reads a comma-separated list of CIDR ranges; a bare
// address stands for itself alone.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range List(list) {
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or a CIDR range like 10.0.0.0/8", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR range like 10.0.0.0/8", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// List splits a comma-separated setting into its items.
func List(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// isHTTPURL reports whether s is an http or https URL with a host.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// ListensBeyondLoopback reports whether the API is reachable from other
// machines.
func (c Config) ListensBeyondLoopback() bool {
	host, _, err := net.SplitHostPort(c.Addr)
	return err != nil || !IsLoopback(host)
}

// IsLoopback reports whether host (a name or an address, without a port)
// only reaches this machine. An empty host means every interface.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseDuration is time.ParseDuration that also takes days, as in "90d".
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a duration like 30s, 5m or 90d", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 30s, 5m or 90d", s)
	}
	return d, nil
}

// durationFlag is a flag.Value over ParseDuration.
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }

func (d *durationFlag) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
}

// ParseRoleMap reads --oidc-roles: group=role pairs, comma separated, each
// role admin, editor or viewer.
func ParseRoleMap(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, pair := range List(s) {
		group, role, ok := strings.Cut(pair, "=")
		group, role = strings.TrimSpace(group), strings.TrimSpace(role)
		if !ok || group == "" || (role != "admin" && role != "editor" && role != "viewer") {
			return nil, fmt.Errorf("--oidc-roles: %q must be group=role, the role admin, editor or viewer", pair)
		}
		m[group] = role
	}
	return m, nil
}
