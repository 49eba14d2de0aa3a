// Package check reaches a site once and judges what comes back: a check of
// one kind (http and https today), behind the Check interface, run by a
// Checker that holds what every kind shares (the time limit, the target
// policy every connection goes through, the User-Agent) and does what
// every kind does (the time of the check, its latency, degraded above the
// site's max_latency, a reason with no password in it). It touches no
// database: the monitor records and decides what it returns.
package check

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/miekg/dns"

	"uptime/internal/egress"
	"uptime/internal/text"
	"uptime/internal/version"
	"uptime/monitor/decide"
	"uptime/site"
)

// UserAgent is sent with every request the program makes (see
// version.UserAgent); checks add their location (LocationAgent).
const UserAgent = version.UserAgent

// LocationAgent is the User-Agent of checks made from a location, so that
// site owners can tell the probes apart.
func LocationAgent(location string) string {
	return strings.TrimSuffix(UserAgent, ")") + "; location " + location + ")"
}

// CheckHeader marks every request a check sends, so that this program
// never serves /ping or /check to its own checks: a site that redirects a
// check back to /ping/<itself> gets a refusal, not a loop.
const CheckHeader = "Uptime-Check"

// Result is the outcome of one check of one site.
type Result = decide.Result

// A Check is one kind of check of one target, with its settings: a new
// kind of check is a new implementation.
type Check interface {
	// Do reaches the target once, within ctx's deadline, through the
	// attempt's checker, and says in the attempt's result whether it is up
	// (Up), and if not why (Reason); with the status, for kinds that have
	// one, and the expiry of a certificate seen. Run times it.
	Do(ctx context.Context, a *Attempt)
}

// Attempt is one check under way: the checker's means, the time it has,
// and its result, which the check fills in.
type Attempt struct {
	*Checker
	Timeout time.Duration
	Result
}

// Site is a site's check: the check of its kind and what every kind
// shares.
type Site struct {
	Check
	// Timeout bounds the check; zero means the checker's.
	Timeout time.Duration
	// MaxLatency is the latency above which an up result is degraded;
	// zero means none.
	MaxLatency time.Duration
}

// New returns the check of a site at rawURL with its settings, of the kind
// its URL's scheme names.
func New(rawURL string, c site.Config) *Site {
	s := &Site{Timeout: time.Duration(c.Timeout)}
	switch kind := site.KindOf(rawURL); kind {
	case site.KindTCP, site.KindTLS, site.KindStartTLS:
		_, addr, _ := strings.Cut(rawURL, "://")
		s.Check = &Stream{Addr: addr, TLS: kind == site.KindTLS, StartTLS: c.StartTLSProtocol, Send: c.Send, Expect: c.Expect.First()}
	case site.KindWS, site.KindWSS:
		s.Check = &WebSocket{URL: rawURL, Send: c.Send, Expect: c.Expect.First()}
	case site.KindGRPC, site.KindGRPCS:
		_, addr, _ := strings.Cut(rawURL, "://")
		s.Check = &GRPC{Addr: addr, TLS: kind == site.KindGRPCS, Service: c.GRPCService}
	case site.KindICMP:
		_, host, _ := strings.Cut(rawURL, "://")
		p := &ICMP{Host: strings.Trim(strings.TrimSuffix(host, "/"), "[]"), Count: 3}
		if c.Count != nil {
			p.Count = *c.Count
		}
		if c.MaxLoss != nil {
			p.MaxLoss = *c.MaxLoss
		}
		s.Check = p
	case site.KindDNS:
		_, name, _ := strings.Cut(rawURL, "://")
		s.Check = &DNS{Name: strings.TrimSuffix(name, "/"), Type: dns.StringToType[c.DNSType], Server: c.DNSServer,
			RCode: dns.StringToRcode[c.DNSRCode], Expect: c.Expect}
	default:
		s.Check = NewHTTP(rawURL, c)
	}
	if c.MaxLatency != nil {
		s.MaxLatency = time.Duration(*c.MaxLatency)
	}
	return s
}

// Checker runs checks with what they share: a time limit per check, an
// HTTP client (at most ten redirects, no more of the body than a check
// needs) and a dialer that reach only the addresses its Targets allow,
// and a clear User-Agent.
type Checker struct {
	client    *http.Client
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	tls       *tls.Config // the trust of checks that handshake themselves: the transport's
	timeout   time.Duration
	targets   *egress.Targets
	userAgent string
}

// NewChecker returns a checker whose checks take at most timeout and reach
// only what targets allows (nil allows everything). A nil transport gets
// one of the checker's own, which applies targets to every address it
// connects to; any transport, every URL and redirect that names an
// address is checked against targets before it is fetched.
func NewChecker(timeout time.Duration, transport http.RoundTripper, targets *egress.Targets) *Checker {
	if transport == nil {
		transport = NewTransport(targets)
	}
	// Checks that connect themselves dial as the transport does, and trust
	// what it trusts.
	dial := egress.Dialer(targets, 0).DialContext // each check bounds itself with its context
	var trust *tls.Config
	if t, ok := transport.(*http.Transport); ok {
		trust = t.TLSClientConfig
		if t.DialContext != nil {
			dial = t.DialContext
		}
	}
	return &Checker{
		tls:       trust,
		dial:      dial,
		timeout:   timeout,
		targets:   targets,
		userAgent: UserAgent,
		client: &http.Client{
			Transport: transport,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) > maxRedirects {
					return errTooManyRedirects
				}
				return targets.CheckLiteral(req.URL)
			},
		},
	}
}

// SetLocation makes the checks name the location they are made from in
// their User-Agent.
func (c *Checker) SetLocation(location string) { c.userAgent = LocationAgent(location) }

// NewTransport returns the transport checks use, which connects only to
// the addresses targets allows (nil allows everything). Connections are
// not kept: checks of one site are minutes apart, and a reused connection
// would hide a server that no longer accepts new ones.
func NewTransport(targets *egress.Targets) *http.Transport {
	t := egress.Transport(targets)
	t.DisableKeepAlives = true
	return t
}

// Check fetches the URL once with GET, the tutorial's check. Failing to
// reach it is a down result, never an error: a bad URL, a refused
// connection, a timeout or a bad certificate each says so in Reason.
func (c *Checker) Check(ctx context.Context, rawURL string) Result {
	return c.Run(ctx, &Site{Check: &HTTP{URL: rawURL}})
}

// Run checks the site once. Failing to reach it is a down result, never an
// error.
func (c *Checker) Run(ctx context.Context, s *Site) Result {
	a := &Attempt{Checker: c, Timeout: c.timeout, Result: Result{CheckedAt: time.Now()}}
	if s.Timeout > 0 {
		a.Timeout = s.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	s.Do(ctx, a)
	res := a.Result
	if res.Latency == 0 { // the kind's own measure, or the whole check
		res.Latency = time.Since(res.CheckedAt)
	}
	res.Reason = Reason(res.Reason)
	if res.Up && s.MaxLatency > 0 && res.Latency > s.MaxLatency {
		res.Degraded = true
		res.Reason = fmt.Sprintf("slow: %s, above max_latency %s", res.Latency.Round(time.Millisecond), s.MaxLatency)
	}
	return res
}

// MaxReason is the longest reason a check gives.
const MaxReason = 300

// Reason is a check's reason as it is stored, shown and sent: whatever a
// server or a library put in it, one line (control characters as spaces),
// at most MaxReason bytes, and without a password the URL it may quote
// holds.
func Reason(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return text.Cut(text.Redact(strings.ToValidUTF8(s, "")), MaxReason)
}

// WithScheme puts https:// in front of a URL that does not start with
// http: or https:, as the tutorial's ping does.
func WithScheme(u string) string {
	lower := strings.ToLower(u)
	if !strings.HasPrefix(lower, "http:") && !strings.HasPrefix(lower, "https:") {
		return "https://" + u
	}
	return u
}
