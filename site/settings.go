package site

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"uptime/internal/due"
	"uptime/internal/errs"
	"uptime/internal/queue"
	"uptime/internal/text"
)

// Settings are the settings a site was given. A field left out (nil) takes
// its default, so a site added with its URL alone is checked exactly as
// the tutorial's sites are, and follows the defaults when they change.
type Settings struct {
	// Name is a label for people. Defaults to the URL's host.
	Name *string `json:"name,omitempty"`
	// Interval is how often the site is checked, 10s to 24h. Defaults to
	// --check-every.
	Interval *Duration `json:"interval,omitempty"`
	// Timeout bounds one check: at most Interval and 60s. Defaults to
	// --check-timeout, or Interval when that is shorter.
	Timeout *Duration `json:"timeout,omitempty"`
	// Method is GET, HEAD or POST. Defaults to GET.
	Method *string `json:"method,omitempty"`
	// Headers are sent with every check. Defaults to none.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is sent with POST checks, at most 64 KiB. Defaults to none.
	Body *string `json:"body,omitempty"`
	// ExpectStatus lists the statuses that count as up, as
	// "200-299,301,418". Defaults to below 400, the tutorial's rule.
	ExpectStatus *string `json:"expect_status,omitempty"`
	// Keyword is text the first 1 MiB of the body must contain. Defaults
	// to none.
	Keyword *string `json:"keyword,omitempty"`
	// KeywordAbsent turns Keyword around: it must not appear.
	KeywordAbsent *bool `json:"keyword_absent,omitempty"`
	// Assertions are conditions the answer must meet, every one (see
	// Assertion). Defaults to none.
	Assertions []Assertion `json:"assertions,omitempty"`
	// Send is text a tcp or tls check sends once connected, at most 4 KiB;
	// responses show it hidden. Defaults to nothing.
	Send *string `json:"send,omitempty"`
	// Expect is text the first 4 KiB of a tcp or tls check's reply must
	// contain, or values one of which a dns check's answers must hold: a
	// string, or a list for dns. Defaults to none: connecting, or the
	// rcode, is enough.
	Expect Texts `json:"expect,omitempty"`
	// DNSType is the record type a dns check asks for: A, AAAA, CNAME, MX,
	// NS, TXT, SRV, CAA, SOA or PTR. Defaults to A.
	DNSType *string `json:"dns_type,omitempty"`
	// DNSServer is the server a dns check asks, host[:port]. Defaults to
	// the system's resolver.
	DNSServer *string `json:"dns_server,omitempty"`
	// DNSRCode is the code a dns check's answer must have. Defaults to
	// NOERROR.
	DNSRCode *string `json:"dns_rcode,omitempty"`
	// StartTLSProtocol is the protocol a starttls check speaks: smtp, imap
	// or pop3. Defaults to the port's (see StartTLSProtocolOf).
	StartTLSProtocol *string `json:"starttls_protocol,omitempty"`
	// GRPCService is the service a grpc check asks the health of. Defaults
	// to none: the server as a whole.
	GRPCService *string `json:"grpc_service,omitempty"`
	// Count is how many echo requests an icmp check sends, 1 to 10.
	// Defaults to 3.
	Count *int `json:"count,omitempty"`
	// MaxLoss is the share of them, in percent, that may go unanswered,
	// 0 to 100. Defaults to 0: every one must be answered.
	MaxLoss *int `json:"max_loss,omitempty"`
	// MaxLatency is the latency above which an answering site is degraded:
	// up, but alerted. Defaults to none.
	MaxLatency *Duration `json:"max_latency,omitempty"`
	// Confirmations is how many quick re-checks must also fail before the
	// site is down, 0 to 10. Defaults to --confirm-checks.
	Confirmations *int `json:"confirmations,omitempty"`
	// Recoveries is how many checks in a row must pass before a down site
	// is up again, 1 to 10. Defaults to 1.
	Recoveries *int `json:"recoveries,omitempty"`
	// RemindEvery is how often a site still down is alerted again, 1m to
	// 7 days. Defaults to none: one alert when it goes down.
	RemindEvery *Duration `json:"remind_every,omitempty"`
	// Paused sites are not checked and not alerted. Defaults to false.
	Paused *bool `json:"paused,omitempty"`
	// Tags are labels that channels, maintenance and status pages select
	// sites by. Defaults to none.
	Tags []string `json:"tags,omitempty"`
	// Locations are where the site is checked from. Defaults to every
	// location.
	Locations []string `json:"locations,omitempty"`
	// Quorum is how many of the site's locations must see it down, each
	// after its own confirmations, before it is down. Defaults to a strict
	// majority of its live locations.
	Quorum *int `json:"quorum,omitempty"`
	// DependsOn are the ids of the sites this one needs (its database, its
	// gateway): while one of them is down, this one's own down is
	// recorded as "dependency down" and not alerted. Defaults to none.
	DependsOn []int64 `json:"depends_on,omitempty"`
	// Grace is how late a push site's signal may come before the site is
	// down, 1s to 7 days. Defaults to an hour, or the interval when that
	// is shorter.
	Grace *Duration `json:"grace,omitempty"`
	// Cron is when a push site's job runs, a cron expression of five
	// fields in Timezone, given instead of Interval.
	Cron *string `json:"cron,omitempty"`
	// Timezone is where Cron's times are, as Europe/Berlin. Defaults to
	// UTC.
	Timezone *string `json:"timezone,omitempty"`
	// TokenHash is the SHA-256, in hex, of a push site's token, the secret
	// in its ping URL; the token itself is kept nowhere. Responses leave
	// it out; an export carries it, so that a site imported again answers
	// to the same ping URL.
	TokenHash *string `json:"token_hash,omitempty"`
}

// Defaults are the settings a site has where it was given none: the
// program's flags.
type Defaults struct {
	// Interval is --check-every. Defaults to 5 minutes.
	Interval time.Duration
	// Timeout is --check-timeout. Defaults to 10 seconds.
	Timeout time.Duration
	// Confirmations is --confirm-checks. Defaults to 0.
	Confirmations int
}

func (d *Defaults) setDefaults() {
	if d.Interval == 0 {
		d.Interval = 5 * time.Minute
	}
	if d.Timeout == 0 {
		d.Timeout = 10 * time.Second
	}
}

// Limits on settings.
const (
	MinInterval      = 10 * time.Second
	MaxInterval      = 24 * time.Hour
	MaxTimeout       = 60 * time.Second
	MaxBody          = 64 << 10
	MaxHeaders       = 50
	maxHeaderValue   = 4 << 10
	maxName          = 200
	maxKeyword       = 1 << 10
	MaxSend          = 4 << 10
	maxExpect        = 1 << 10
	maxDNSExpect     = 10
	maxCount         = 10
	MaxConfirmations = 10
	MaxRecoveries    = 10
	maxTags          = 20
	maxLocations     = 32
	// MaxDependsOn is the most sites one site may depend on.
	MaxDependsOn    = 10
	maxStatusRanges = 50
	MinRemindEvery  = time.Minute
	MaxRemindEvery  = 7 * 24 * time.Hour
	// A push site's interval and grace.
	MinPushInterval = time.Minute
	MaxPushInterval = 365 * 24 * time.Hour
	MinGrace        = time.Second
	MaxGrace        = 7 * 24 * time.Hour
	defaultGrace    = time.Hour
)

// Config is a site's settings with every default filled in: what a check
// of it follows, and what GET /site/:siteID shows.
type Config struct {
	// Kind is the kind of check, its URL's scheme (see Kinds).
	Kind string `json:"kind"`
	// Name is a label for people.
	Name string `json:"name"`
	// Interval is how often the site is checked; absent for a push site
	// run at the times of a cron expression.
	Interval Duration `json:"interval,omitempty"`
	// Timeout bounds one check; none for a push site, which is not
	// fetched.
	Timeout Duration `json:"timeout,omitzero"`
	// Method is the HTTP method of a check; empty for other kinds.
	Method string `json:"method,omitempty"`
	// Headers are sent with every check; null for other kinds than http's.
	Headers map[string]string `json:"headers,omitzero"`
	// Body is sent with POST checks; responses show it hidden.
	Body string `json:"body"`
	// BodyBytes is the body's length, where a response hides the body.
	BodyBytes int `json:"body_bytes,omitempty"`
	// ExpectStatus lists the statuses that count as up; empty for other
	// kinds than http's.
	ExpectStatus string `json:"expect_status,omitempty"`
	// Keyword is text the body must contain, or must not with
	// KeywordAbsent; empty for none.
	Keyword string `json:"keyword"`
	// KeywordAbsent turns Keyword around.
	KeywordAbsent bool `json:"keyword_absent"`
	// Assertions must all hold of an http or https check's answer.
	Assertions []Assertion `json:"assertions,omitempty"`
	// Send is sent by a tcp or tls check once connected; responses show
	// it hidden.
	Send string `json:"send,omitempty"`
	// Expect must be in the first 4 KiB of a tcp or tls check's reply, or
	// one of them in a dns check's answers.
	Expect Texts `json:"expect,omitempty"`
	// DNSType, DNSServer and DNSRCode are a dns check's question, server
	// and expected code.
	DNSType   string `json:"dns_type,omitempty"`
	DNSServer string `json:"dns_server,omitempty"`
	DNSRCode  string `json:"dns_rcode,omitempty"`
	// StartTLSProtocol is the protocol a starttls check speaks.
	StartTLSProtocol string `json:"starttls_protocol,omitempty"`
	// GRPCService is the service a grpc check asks the health of; empty
	// for the server as a whole.
	GRPCService string `json:"grpc_service,omitempty"`
	// Count and MaxLoss are an icmp check's echo requests and the percent
	// of them that may be lost; null for other kinds.
	Count   *int `json:"count,omitempty"`
	MaxLoss *int `json:"max_loss,omitempty"`
	// MaxLatency is the latency above which the site is degraded; null for
	// none.
	MaxLatency *Duration `json:"max_latency"`
	// Confirmations is how many quick re-checks must fail before down.
	Confirmations int `json:"confirmations"`
	// Recoveries is how many passing checks in a row bring it back up.
	Recoveries int `json:"recoveries"`
	// RemindEvery is how often a site still down is alerted again; null
	// for never.
	RemindEvery *Duration `json:"remind_every"`
	// Paused sites are not checked and not alerted.
	Paused bool `json:"paused"`
	// Tags are the site's labels.
	Tags []string `json:"tags"`
	// Locations are where it is checked from; empty for every location.
	Locations []string `json:"locations"`
	// Quorum is how many locations must see the site down; null for a
	// strict majority of its live locations.
	Quorum *int `json:"quorum"`
	// DependsOn are the sites it needs, by id; empty for none.
	DependsOn []int64 `json:"depends_on"`
	// Grace is how late a push site's signal may be; absent for other
	// kinds.
	Grace *Duration `json:"grace,omitempty"`
	// Cron and Timezone are when a push site's job runs, where it runs at
	// the times of a cron expression.
	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	// Schedule is when a push site's job is expected, in words.
	Schedule string `json:"schedule,omitempty"`
	// PingURL is where a push site's job reports in, its token hidden
	// but where the site is added or its token made anew.
	PingURL string `json:"ping_url,omitempty"`
}

// DefaultExpectStatus is the tutorial's rule, below 400 is up, as a list
// of statuses.
const DefaultExpectStatus = "100-399"

// Config returns the settings with the defaults filled in, for the site
// at rawURL.
func (st Settings) Config(rawURL string, d Defaults) Config {
	d.setDefaults()
	c := Config{
		Kind:          KindOf(rawURL),
		Name:          host(rawURL),
		Interval:      Duration(d.Interval),
		Confirmations: d.Confirmations,
		Recoveries:    1,
		Tags:          []string{},
		Locations:     []string{},
		DependsOn:     []int64{},
	}
	set(&c.Name, st.Name)
	set(&c.Interval, st.Interval)
	if c.Kind == KindPush {
		// Not fetched: no time limit; a job that failed says so itself.
		c.Confirmations = 0
		grace := Duration(min(defaultGrace, time.Duration(c.Interval)))
		if st.Cron != nil {
			c.Interval, c.Cron, c.Timezone, grace = 0, *st.Cron, "UTC", Duration(defaultGrace)
			set(&c.Timezone, st.Timezone)
		}
		set(&grace, st.Grace)
		c.Grace = &grace
		if sched, err := c.Due(); err == nil {
			c.Schedule = sched.String()
		}
	} else {
		c.Timeout = Duration(min(d.Timeout, time.Duration(c.Interval)))
		set(&c.Timeout, st.Timeout)
	}
	if IsHTTP(c.Kind) {
		c.Method, c.Headers, c.ExpectStatus = "GET", map[string]string{}, DefaultExpectStatus
		set(&c.Method, st.Method)
		if st.Headers != nil {
			c.Headers = st.Headers
		}
		set(&c.ExpectStatus, st.ExpectStatus)
	}
	set(&c.Body, st.Body)
	set(&c.Keyword, st.Keyword)
	set(&c.KeywordAbsent, st.KeywordAbsent)
	c.Assertions = st.Assertions
	set(&c.Send, st.Send)
	if len(st.Expect) > 0 {
		c.Expect = st.Expect
	}
	set(&c.GRPCService, st.GRPCService)
	if c.Kind == KindICMP {
		count, maxLoss := 3, 0
		set(&count, st.Count)
		set(&maxLoss, st.MaxLoss)
		c.Count, c.MaxLoss = &count, &maxLoss
	}
	if c.Kind == KindDNS {
		c.DNSType, c.DNSRCode = "A", "NOERROR"
		set(&c.DNSType, st.DNSType)
		set(&c.DNSServer, st.DNSServer)
		set(&c.DNSRCode, st.DNSRCode)
	}
	if c.Kind == KindStartTLS {
		c.StartTLSProtocol = StartTLSProtocolOf(port(rawURL))
		set(&c.StartTLSProtocol, st.StartTLSProtocol)
	}
	c.MaxLatency = st.MaxLatency
	c.RemindEvery = st.RemindEvery
	set(&c.Confirmations, st.Confirmations)
	set(&c.Recoveries, st.Recoveries)
	set(&c.Paused, st.Paused)
	if st.Tags != nil {
		c.Tags = st.Tags
	}
	if st.Locations != nil {
		c.Locations = st.Locations
	}
	c.Quorum = st.Quorum
	if st.DependsOn != nil {
		c.DependsOn = st.DependsOn
	}
	return c
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func port(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Port()
}

// NameOf is a site's name for people, as Config.Name gives it: the one
// it was given, or else its URL's host.
func NameOf(given, rawURL string) string {
	if given != "" {
		return given
	}
	return host(rawURL)
}

func host(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return rawURL
	}
	return u.Hostname()
}

// normalize checks every setting given and puts it in its one form:
// trimmed, methods in capitals, statuses sorted. The error names the
// field, as a 400 invalid_argument.
func (st *Settings) normalize(rawURL string, d Defaults) error {
	if st.Name != nil {
		name := strings.TrimSpace(*st.Name)
		if err := checkText("name", name, maxName); err != nil {
			return err
		}
		if name == "" {
			st.Name = nil
		} else {
			st.Name = &name
		}
	}
	if st.Interval != nil {
		lo, hi := MinInterval, MaxInterval
		if KindOf(rawURL) == KindPush {
			lo, hi = MinPushInterval, MaxPushInterval
		}
		if v := time.Duration(*st.Interval); v < lo || v > hi {
			return errs.Errorf(errs.InvalidArgument, "interval must be from %s to %s, got %s", Duration(lo), Duration(hi), *st.Interval)
		}
	}
	if err := st.checkPush(rawURL); err != nil {
		return err
	}
	if st.Method != nil {
		m := strings.ToUpper(strings.TrimSpace(*st.Method))
		if m != "GET" && m != "HEAD" && m != "POST" {
			return errs.Errorf(errs.InvalidArgument, "method must be GET, HEAD or POST, got %s", text.Quote(*st.Method))
		}
		st.Method = &m
	}
	if err := checkHeaders(st.Headers); err != nil {
		return err
	}
	if st.Body != nil && len(*st.Body) > MaxBody {
		return errs.Errorf(errs.InvalidArgument, "body must be at most %d bytes, got %d", MaxBody, len(*st.Body))
	}
	if st.ExpectStatus != nil {
		ranges, err := ParseStatuses(*st.ExpectStatus)
		if err != nil {
			return errs.Errorf(errs.InvalidArgument, "expect_status %s: %v", text.Quote(*st.ExpectStatus), err)
		}
		s := ranges.String()
		st.ExpectStatus = &s
	}
	if st.Keyword != nil {
		if err := checkText("keyword", *st.Keyword, maxKeyword); err != nil {
			return err
		}
		if *st.Keyword == "" {
			st.Keyword = nil
		}
	}
	// false is every flag's default: given or not, it is the same.
	if st.KeywordAbsent != nil && !*st.KeywordAbsent {
		st.KeywordAbsent = nil
	}
	if st.Paused != nil && !*st.Paused {
		st.Paused = nil
	}
	if st.RemindEvery != nil {
		if v := time.Duration(*st.RemindEvery); v < MinRemindEvery || v > MaxRemindEvery {
			return errs.Errorf(errs.InvalidArgument, "remind_every must be from %s to %s, got %s",
				Duration(MinRemindEvery), Duration(MaxRemindEvery), *st.RemindEvery)
		}
	}
	if st.Confirmations != nil && (*st.Confirmations < 0 || *st.Confirmations > MaxConfirmations) {
		return errs.Errorf(errs.InvalidArgument, "confirmations must be from 0 to %d, got %d", MaxConfirmations, *st.Confirmations)
	}
	if st.Recoveries != nil && (*st.Recoveries < 1 || *st.Recoveries > MaxRecoveries) {
		return errs.Errorf(errs.InvalidArgument, "recoveries must be from 1 to %d, got %d", MaxRecoveries, *st.Recoveries)
	}
	var err error
	if st.Tags, err = checkLabels("tags", st.Tags, maxTags, tagPattern.MatchString, "must match "+tagPattern.String()); err != nil {
		return err
	}
	if st.Locations, err = checkLabels("locations", st.Locations, maxLocations, queue.LocationPattern.MatchString, "must be "+queue.LocationRule); err != nil {
		return err
	}
	for _, l := range st.Locations {
		if len(l) > queue.MaxLocationName {
			return errs.Errorf(errs.InvalidArgument, "locations: %s is longer than %d", text.Quote(l), queue.MaxLocationName)
		}
	}
	if st.Quorum != nil {
		switch q := *st.Quorum; {
		case q < 1 || q > maxLocations:
			return errs.Errorf(errs.InvalidArgument, "quorum must be from 1 to %d, got %d", maxLocations, q)
		case len(st.Locations) > 0 && q > len(st.Locations):
			return errs.Errorf(errs.InvalidArgument, "quorum %d is more than the site's %d locations", q, len(st.Locations))
		}
	}
	if st.DependsOn, err = checkDependsOn(st.DependsOn); err != nil {
		return err
	}
	if err := checkAssertions(st.Assertions); err != nil {
		return err
	}
	if len(st.Assertions) == 0 {
		st.Assertions = nil
	}
	if st.Count != nil && (*st.Count < 1 || *st.Count > maxCount) {
		return errs.Errorf(errs.InvalidArgument, "count must be from 1 to %d, got %d", maxCount, *st.Count)
	}
	if st.MaxLoss != nil && (*st.MaxLoss < 0 || *st.MaxLoss > 100) {
		return errs.Errorf(errs.InvalidArgument, "max_loss must be a percent from 0 to 100, got %d", *st.MaxLoss)
	}
	if st.GRPCService != nil {
		if err := checkText("grpc_service", *st.GRPCService, maxName); err != nil {
			return err
		}
		if *st.GRPCService == "" {
			st.GRPCService = nil
		}
	}
	if st.Send != nil {
		if err := checkLines("send", *st.Send, MaxSend); err != nil {
			return err
		}
		if *st.Send == "" {
			st.Send = nil
		}
	}
	if st.Expect != nil {
		var kept Texts
		for _, e := range st.Expect {
			if err := checkLines("expect", e, maxExpect); err != nil {
				return err
			}
			if e != "" && !slices.Contains(kept, e) {
				kept = append(kept, e)
			}
		}
		switch max := map[bool]int{true: maxDNSExpect, false: 1}[KindOf(rawURL) == KindDNS]; {
		case len(kept) > max:
			return errs.Errorf(errs.InvalidArgument, "expect must be at most %d texts for a %s:// site, got %d", max, KindOf(rawURL), len(kept))
		}
		st.Expect = kept
	}
	if err := st.normalizeDNS(); err != nil {
		return err
	}
	if err := st.checkKind(rawURL); err != nil {
		return err
	}

	// What depends on more than one field is checked on the whole.
	c := st.Config(rawURL, d)
	if st.Timeout != nil {
		if v := time.Duration(*st.Timeout); v <= 0 || v > MaxTimeout || v > time.Duration(c.Interval) {
			limit, why := Duration(MaxTimeout), "the longest a check may take"
			if time.Duration(c.Interval) < MaxTimeout {
				limit, why = c.Interval, "the site's interval"
			}
			return errs.Errorf(errs.InvalidArgument, "timeout must be above 0 and at most %s (%s), got %s", limit, why, *st.Timeout)
		}
	}
	if c.Body != "" && c.Method != "POST" {
		return errs.Errorf(errs.InvalidArgument, "body is sent only with method POST, and the method is %s", c.Method)
	}
	if c.KeywordAbsent && c.Keyword == "" {
		return errs.Errorf(errs.InvalidArgument, "keyword_absent needs a keyword")
	}
	if st.MaxLatency != nil {
		if v := time.Duration(*st.MaxLatency); v <= 0 || v >= time.Duration(c.Timeout) {
			return errs.Errorf(errs.InvalidArgument, "max_latency must be above 0 and below the timeout (%s), got %s", c.Timeout, *st.MaxLatency)
		}
	}
	return nil
}

// kindSettings are the settings that belong to some kinds of check alone.
var kindSettings = []struct {
	name  string
	kinds []string
	given func(*Settings) bool
}{
	{"method", []string{KindHTTP, KindHTTPS}, func(st *Settings) bool { return st.Method != nil }},
	{"headers", []string{KindHTTP, KindHTTPS}, func(st *Settings) bool { return len(st.Headers) > 0 }},
	{"body", []string{KindHTTP, KindHTTPS}, func(st *Settings) bool { return st.Body != nil }},
	{"expect_status", []string{KindHTTP, KindHTTPS}, func(st *Settings) bool { return st.ExpectStatus != nil }},
	{"keyword", []string{KindHTTP, KindHTTPS}, func(st *Settings) bool { return st.Keyword != nil }},
	{"keyword_absent", []string{KindHTTP, KindHTTPS}, func(st *Settings) bool { return st.KeywordAbsent != nil }},
	{"assertions", []string{KindHTTP, KindHTTPS}, func(st *Settings) bool { return len(st.Assertions) > 0 }},
	{"send", []string{KindTCP, KindTLS, KindWS, KindWSS}, func(st *Settings) bool { return st.Send != nil }},
	{"expect", []string{KindTCP, KindTLS, KindDNS, KindWS, KindWSS}, func(st *Settings) bool { return st.Expect != nil }},
	{"dns_type", []string{KindDNS}, func(st *Settings) bool { return st.DNSType != nil }},
	{"dns_server", []string{KindDNS}, func(st *Settings) bool { return st.DNSServer != nil }},
	{"dns_rcode", []string{KindDNS}, func(st *Settings) bool { return st.DNSRCode != nil }},
	{"starttls_protocol", []string{KindStartTLS}, func(st *Settings) bool { return st.StartTLSProtocol != nil }},
	{"grpc_service", []string{KindGRPC, KindGRPCS}, func(st *Settings) bool { return st.GRPCService != nil }},
	{"count", []string{KindICMP}, func(st *Settings) bool { return st.Count != nil }},
	{"max_loss", []string{KindICMP}, func(st *Settings) bool { return st.MaxLoss != nil }},
	{"grace", []string{KindPush}, func(st *Settings) bool { return st.Grace != nil }},
	{"cron", []string{KindPush}, func(st *Settings) bool { return st.Cron != nil }},
	{"timezone", []string{KindPush}, func(st *Settings) bool { return st.Timezone != nil }},
	{"token_hash", []string{KindPush}, func(st *Settings) bool { return st.TokenHash != nil }},
}

// tokenHash is the form of a push site's token's hash: SHA-256 in hex.
var tokenHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkPush checks what is a push site's alone: it is told how often its
// job reports in, and how late it may; it is not fetched, so it has no
// time limit, and reports come to every instance, so it has no locations.
func (st *Settings) checkPush(rawURL string) error {
	if KindOf(rawURL) != KindPush {
		return nil
	}
	switch {
	case st.Interval == nil && st.Cron == nil:
		return errs.Errorf(errs.InvalidArgument, `interval or cron is required for a push site: how often its job reports in, as "1d" or "15m", or when it runs, as "0 2 * * *" with its timezone`)
	case st.Interval != nil && st.Cron != nil:
		return errs.Errorf(errs.InvalidArgument, "a push site has interval (a period) or cron (the times its job runs), not both")
	case st.Timezone != nil && st.Cron == nil:
		return errs.Errorf(errs.InvalidArgument, "timezone is where cron's times are: give it with cron")
	case st.TokenHash == nil:
		return errs.Errorf(errs.InvalidArgument, `token_hash is required for a push site given by its url: add it with "kind": "push" to be given a ping URL, or import the token_hash its export carries`)
	case st.Timeout != nil:
		return errs.Errorf(errs.InvalidArgument, "timeout is not a setting of push sites, which are not fetched: grace says how late a signal may be")
	case len(st.Locations) > 0 || st.Quorum != nil:
		return errs.Errorf(errs.InvalidArgument, "locations and quorum are not settings of push sites: their signals come to every location alike")
	case st.MaxLatency != nil:
		return errs.Errorf(errs.InvalidArgument, "max_latency is not a setting of push sites")
	}
	if st.Grace != nil {
		if v := time.Duration(*st.Grace); v < MinGrace || v > MaxGrace {
			return errs.Errorf(errs.InvalidArgument, "grace must be from %s to %s, got %s", Duration(MinGrace), Duration(MaxGrace), *st.Grace)
		}
	}
	if st.Cron != nil {
		tz := "UTC"
		set(&tz, st.Timezone)
		if _, err := due.Cron(*st.Cron, tz); err != nil {
			return errs.Errorf(errs.InvalidArgument, "%s", err)
		}
		expr := strings.Join(strings.Fields(*st.Cron), " ")
		st.Cron = &expr
	}
	if st.TokenHash != nil {
		h := strings.ToLower(*st.TokenHash)
		if !tokenHash.MatchString(h) {
			return errs.Errorf(errs.InvalidArgument, "token_hash must be a SHA-256 in hex, 64 digits")
		}
		st.TokenHash = &h
	}
	return nil
}

// Due is when a push site's job is expected: every interval, or at the
// times of its cron expression.
func (c Config) Due() (due.Schedule, error) {
	if c.Cron == "" {
		return due.Every(time.Duration(c.Interval)), nil
	}
	return due.Cron(c.Cron, c.Timezone)
}

// checkKind refuses the settings given that are not the kind's: a setting
// is never silently ignored. A starttls site on a port of no protocol
// needs its protocol named.
func (st *Settings) checkKind(rawURL string) error {
	kind := KindOf(rawURL)
	for _, s := range kindSettings {
		if s.given(st) && !slices.Contains(s.kinds, kind) {
			schemes := make([]string, len(s.kinds))
			for i, k := range s.kinds {
				schemes[i] = k + "://"
			}
			list := schemes[0]
			if n := len(schemes); n > 1 {
				list = strings.Join(schemes[:n-1], ", ") + " and " + schemes[n-1]
			}
			return errs.Errorf(errs.InvalidArgument, "%s is a setting of %s sites, not of %s:// ones", s.name, list, kind)
		}
	}
	if st.StartTLSProtocol != nil {
		p := strings.ToLower(strings.TrimSpace(*st.StartTLSProtocol))
		if !slices.Contains(StartTLSProtocols, p) {
			return errs.Errorf(errs.InvalidArgument, "starttls_protocol must be one of %s, got %s", strings.Join(StartTLSProtocols, ", "), text.Quote(*st.StartTLSProtocol))
		}
		st.StartTLSProtocol = &p
	}
	if kind == KindStartTLS && st.StartTLSProtocol == nil && StartTLSProtocolOf(port(rawURL)) == "" {
		return errs.Errorf(errs.InvalidArgument, "starttls_protocol is needed on port %s: one of %s (smtp is the default on 25, 587 and 2525, imap on 143, pop3 on 110)",
			port(rawURL), strings.Join(StartTLSProtocols, ", "))
	}
	return nil
}

// DNSTypes are the record types a dns check may ask for, and DNSRCodes
// the codes its answer may be expected to have.
var (
	DNSTypes  = []string{"A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "CAA", "SOA", "PTR"}
	DNSRCodes = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}
)

// normalizeDNS checks a dns check's settings and puts them in their one
// form: type and code in capitals, the server as host:port.
func (st *Settings) normalizeDNS() error {
	upper := func(field string, v **string, allowed []string) error {
		if *v == nil {
			return nil
		}
		u := strings.ToUpper(strings.TrimSpace(**v))
		if !slices.Contains(allowed, u) {
			return errs.Errorf(errs.InvalidArgument, "%s must be one of %s, got %s", field, strings.Join(allowed, ", "), text.Quote(**v))
		}
		*v = &u
		return nil
	}
	if err := upper("dns_type", &st.DNSType, DNSTypes); err != nil {
		return err
	}
	if err := upper("dns_rcode", &st.DNSRCode, DNSRCodes); err != nil {
		return err
	}
	if st.DNSServer != nil {
		server, err := NormalizeServer(*st.DNSServer)
		if err != nil {
			return err
		}
		st.DNSServer = &server
	}
	return nil
}

// NormalizeServer checks a dns_server, host[:port], and returns it as
// host:port, port 53 by default.
func NormalizeServer(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), "53"
	}
	n, perr := strconv.Atoi(port)
	if host == "" || strings.ContainsAny(host, "/?#@ ") || perr != nil || n < 1 || n > 65535 {
		return "", errs.Errorf(errs.InvalidArgument, "dns_server must be a host and an optional port, like 9.9.9.9 or ns1.example.com:53, got %s", text.Quote(raw))
	}
	return net.JoinHostPort(strings.ToLower(host), port), nil
}

// Texts is one text or a list of them: a JSON string or an array of
// strings, written back as a string when there is one.
type Texts []string

func (t *Texts) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Texts{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*t = l
	return nil
}

// First is the first text; empty for none. Kinds that expect one text
// have at most one.
func (t Texts) First() string {
	if len(t) == 0 {
		return ""
	}
	return t[0]
}

func (t Texts) MarshalJSON() ([]byte, error) {
	if len(t) == 1 {
		return json.Marshal(t[0])
	}
	return json.Marshal([]string(t))
}

// checkLines refuses text that is not valid UTF-8, holds control
// characters other than line ends and tabs, or is longer than max bytes.
func checkLines(field, s string, max int) error {
	switch {
	case len(s) > max:
		return errs.Errorf(errs.InvalidArgument, "%s must be at most %d bytes, got %d", field, max, len(s))
	case !utf8.ValidString(s):
		return errs.Errorf(errs.InvalidArgument, "%s is not valid UTF-8", field)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\r' && r != '\n' && r != '\t' }) >= 0:
		return errs.Errorf(errs.InvalidArgument, "%s must not contain control characters other than \\r, \\n and \\t", field)
	}
	return nil
}

// checkText refuses text that is not valid UTF-8, holds control
// characters or is longer than max bytes.
func checkText(field, s string, max int) error {
	switch {
	case len(s) > max:
		return errs.Errorf(errs.InvalidArgument, "%s must be at most %d bytes, got %d", field, max, len(s))
	case !utf8.ValidString(s):
		return errs.Errorf(errs.InvalidArgument, "%s is not valid UTF-8", field)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return errs.Errorf(errs.InvalidArgument, "%s must not contain control characters", field)
	}
	return nil
}

// forbiddenHeaders are set by the check itself.
var forbiddenHeaders = []string{"Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Te", "Trailer", "Keep-Alive", "Proxy-Connection", "Uptime-Check"}

func checkHeaders(h map[string]string) error {
	if len(h) > MaxHeaders {
		return errs.Errorf(errs.InvalidArgument, "headers must be at most %d, got %d", MaxHeaders, len(h))
	}
	for name, value := range h {
		if !httpguts.ValidHeaderFieldName(name) {
			return errs.Errorf(errs.InvalidArgument, "headers: %s is not a valid header name", text.Quote(name))
		}
		if slices.Contains(forbiddenHeaders, http.CanonicalHeaderKey(name)) {
			return errs.Errorf(errs.InvalidArgument, "headers: %s is set by the check itself and cannot be given", text.Quote(name))
		}
		if len(value) > maxHeaderValue || !httpguts.ValidHeaderFieldValue(value) {
			return errs.Errorf(errs.InvalidArgument, "headers: the value of %s must be at most %d bytes without control characters", text.Quote(name), maxHeaderValue)
		}
	}
	return nil
}

var (
	tagPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$`)
)

// checkLabels checks a list of tags or locations with valid, which rule
// says in words, and drops repeats.
func checkLabels(field string, labels []string, max int, valid func(string) bool, rule string) ([]string, error) {
	if labels == nil {
		return nil, nil
	}
	if len(labels) > max {
		return nil, errs.Errorf(errs.InvalidArgument, "%s must be at most %d, got %d", field, max, len(labels))
	}
	out := make([]string, 0, len(labels))
	for _, l := range labels {
		if !valid(l) {
			return nil, errs.Errorf(errs.InvalidArgument, "%s: %s %s", field, text.Quote(l), rule)
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// Duration is a time.Duration that is a Go duration string in JSON: "30s",
// "5m".
type Duration time.Duration

// String formats the duration without trailing zero units: "5m", not
// "5m0s".
func (d Duration) String() string {
	const day = 24 * time.Hour
	if v := time.Duration(d); v > day && v%day == 0 { // 24h stays 24h: the longest interval of a fetched site
		return strconv.FormatInt(int64(v/day), 10) + "d"
	}
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf(`must be a duration string such as "30s" or "5m"`)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return fmt.Errorf(`must be a duration such as "30s", "5m" or "7d", got %s`, text.Quote(s))
	}
	*d = Duration(v)
	return nil
}

// ParseDuration is time.ParseDuration that also takes whole days, as in
// "7d".
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// ConfigOf reads settings written as a JSON object, checks them as
// POST /site does, and returns them with the defaults filled in, for the
// site at rawURL.
func ConfigOf(settings, rawURL string, d Defaults) (Config, error) {
	f, err := readFields([]byte(settings))
	if err != nil {
		return Config{}, err
	}
	st, err := f.settings()
	if err != nil {
		return Config{}, err
	}
	if err := st.normalize(rawURL, d); err != nil {
		return Config{}, err
	}
	return st.Config(rawURL, d), nil
}

// checkDependsOn checks the ids of the sites a site depends on, and sorts
// them; none is nil. That they are sites, and make no cycle, is checked
// against the others (see Service.checkDependencies).
func checkDependsOn(ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > MaxDependsOn {
		return nil, errs.Errorf(errs.InvalidArgument, "depends_on: a site depends on at most %d sites, got %d", MaxDependsOn, len(ids))
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	for i, id := range out {
		if id < 1 {
			return nil, errs.Errorf(errs.InvalidArgument, "depends_on: %d is not a site id", id)
		}
		if i > 0 && out[i-1] == id {
			return nil, errs.Errorf(errs.InvalidArgument, "depends_on: site %d is listed twice", id)
		}
	}
	return out, nil
}
