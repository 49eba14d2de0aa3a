package monitor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"uptime/internal/api"
	"uptime/internal/egress"
	"uptime/internal/version"
	"uptime/monitor/decide"
)

// UserAgent is sent with every request the program makes (see
// version.UserAgent); checks add their location (LocationAgent).
const UserAgent = version.UserAgent

// LocationAgent is the User-Agent of checks made from a location, so that
// site owners can tell the probes apart.
func LocationAgent(location string) string {
	return strings.TrimSuffix(UserAgent, ")") + "; location " + location + ")"
}

// maxRedirects is how many redirects a check follows; one more is a
// failure.
const maxRedirects = 10

// maxBodyRead is how much of a response's body a check reads, and the
// part a keyword is looked for in. What it reads is read with its errors
// checked, so a body cut short, broken chunking or a server that stops
// after its headers is down, not up.
const maxBodyRead = 1 << 20

// CheckHeader marks every request a check sends, so that this program
// never serves /ping or /check to its own checks: a site that redirects a
// check back to /ping/<itself> gets a refusal, not a loop.
const CheckHeader = "Uptime-Check"

// Result is the outcome of one check of one URL.
type Result = decide.Result

// Checker checks URLs with its own HTTP client: a time limit per check, at
// most ten redirects, a clear User-Agent, only the addresses its Targets
// allow, and no more of the body than a check needs.
type Checker struct {
	client    *http.Client
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
	return &Checker{
		timeout:   timeout,
		targets:   targets,
		userAgent: UserAgent,
		client: &http.Client{
			Transport: transport, // each check bounds itself with its context
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

var errTooManyRedirects = fmt.Errorf("more than %d redirects", maxRedirects)

// Check fetches the URL once with GET, the tutorial's check. Failing to
// reach it is a down result, never an error: a bad URL, a refused
// connection, a timeout or a bad certificate each says so in Reason.
func (c *Checker) Check(ctx context.Context, rawURL string) Result {
	return c.CheckProbe(ctx, rawURL, nil)
}

// CheckProbe fetches the URL once as p says (nil is the tutorial's check)
// and judges the answer by p's rules.
func (c *Checker) CheckProbe(ctx context.Context, rawURL string, p *Probe) (res Result) {
	res.CheckedAt = time.Now()
	// A reason may quote the URL; it is stored and shown, so without its
	// password.
	defer func() { res.Reason = api.Redact(res.Reason) }()
	if p == nil {
		p = &Probe{}
	}
	timeout := c.timeout
	if p.Timeout > 0 {
		timeout = p.Timeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := p.request(ctx, rawURL, c.userAgent)
	if err == nil && req.URL.Host == "" {
		err = errors.New("no host")
	}
	if err != nil {
		res.Reason = "invalid URL: " + shortURLError(err)
		return res
	}
	if err := c.targets.CheckLiteral(req.URL); err != nil {
		res.Reason = err.Error()
		return res
	}
	resp, err := c.client.Do(req)
	if err != nil {
		res.Latency = time.Since(res.CheckedAt)
		res.Reason = c.reason(parent, err, timeout)
		return res
	}
	res.Status = resp.StatusCode
	found, err := p.readBody(resp.Body)
	resp.Body.Close()
	res.Latency = time.Since(res.CheckedAt)
	if err != nil && err != io.EOF {
		res.Reason = "reading the response: " + c.bodyReason(parent, err, timeout)
		return res
	}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		exp := resp.TLS.PeerCertificates[0].NotAfter
		res.CertExpiry = &exp
	}
	res.Up, res.Reason = p.judge(resp.StatusCode, found)
	if res.Up && p.MaxLatency > 0 && res.Latency > p.MaxLatency {
		res.Degraded = true
		res.Reason = fmt.Sprintf("slow: %s, above max_latency %s", res.Latency.Round(time.Millisecond), p.MaxLatency)
	}
	return res
}

// bodyReason explains why reading a response's body failed.
func (c *Checker) bodyReason(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the body ended before its announced length"
	}
	return c.reason(ctx, err, timeout)
}

// reason turns a transport error into a short explanation. ctx is the
// caller's: when it is done, the check was canceled, not timed out.
func (c *Checker) reason(ctx context.Context, err error, timeout time.Duration) string {
	var (
		dnsErr      *net.DNSError
		unknownCA   x509.UnknownAuthorityError
		invalidCert x509.CertificateInvalidError
		hostErr     x509.HostnameError
		tlsRecord   tls.RecordHeaderError
		tlsAlert    tls.AlertError
		certErr     *tls.CertificateVerificationError
		netErr      net.Error
		denied      *egress.DeniedError
	)
	switch {
	case errors.As(err, &denied):
		return denied.Error()
	case errors.Is(err, errTooManyRedirects):
		return fmt.Sprintf("too many redirects (more than %d)", maxRedirects)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return "check canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout after " + timeout.String()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "DNS: no such host " + dnsErr.Name
		}
		return "DNS lookup failed for " + dnsErr.Name
	case errors.As(err, &invalidCert) && invalidCert.Reason == x509.Expired:
		return "certificate expired"
	case errors.As(err, &invalidCert):
		return "invalid certificate: " + invalidCert.Error()
	case errors.As(err, &unknownCA):
		return "certificate signed by an unknown authority"
	case errors.As(err, &hostErr):
		return "certificate is not valid for " + hostErr.Host
	case errors.As(err, &certErr):
		return "certificate not trusted: " + certErr.Err.Error()
	case errors.As(err, &tlsRecord), errors.As(err, &tlsAlert):
		return "TLS handshake failed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without a response"
	}
	return truncate(shortURLError(err), 200)
}

// shortURLError drops the "Get \"url\": " that net/http puts in front.
func shortURLError(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// withScheme puts https:// in front of a URL that does not start with
// http: or https:, as the tutorial's ping does.
func withScheme(u string) string {
	lower := strings.ToLower(u)
	if !strings.HasPrefix(lower, "http:") && !strings.HasPrefix(lower, "https:") {
		return "https://" + u
	}
	return u
}
