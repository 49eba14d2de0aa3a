package site

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/idna"

	"uptime/internal/errs"
	"uptime/internal/text"
)

// MaxURLLength is the longest URL a site may have.
const MaxURLLength = 2048

// The kinds of check, each named by the scheme of the URLs it checks.
const (
	KindHTTP  = "http"
	KindHTTPS = "https"
	// KindTCP is up when a TCP connection opens (tcp://host:port).
	KindTCP = "tcp"
	// KindTLS is up when a TLS handshake succeeds with a trusted
	// certificate valid for the host (tls://host:port).
	KindTLS = "tls"
	// KindStartTLS is up when an SMTP, IMAP or POP3 server upgrades the
	// connection with STARTTLS, and the handshake succeeds as for KindTLS
	// (starttls://host:port).
	KindStartTLS = "starttls"
	// KindDNS is up when a DNS server answers a question about the name
	// as expected (dns://name).
	KindDNS = "dns"
	// KindWS and KindWSS are up when a WebSocket upgrade succeeds
	// (ws://host/path, wss://host/path).
	KindWS  = "ws"
	KindWSS = "wss"
	// KindGRPC and KindGRPCS are up when the server's gRPC health service
	// answers SERVING (grpc://host:port, grpcs://host:port over TLS).
	KindGRPC  = "grpc"
	KindGRPCS = "grpcs"
	// KindICMP is up when the host answers ICMP echo requests (icmp://host).
	KindICMP = "icmp"
	// KindPush is up while the job it stands for reports in on its ping
	// URL, on time. It is fetched from nowhere: its URL, push://key, is
	// given by the server, the key a name for it and no secret.
	KindPush = "push"
)

// pushKey is the form of a push site's key: 16 hex digits.
var pushKey = regexp.MustCompile(`^[0-9a-f]{16}$`)

// NewPushURL returns the URL of a new push site, with a key of its own.
func NewPushURL() string {
	b := make([]byte, 8)
	rand.Read(b)
	return KindPush + "://" + hex.EncodeToString(b)
}

// Kinds are the kinds of check, as the URLs' schemes name them.
var Kinds = []string{KindHTTP, KindHTTPS, KindTCP, KindTLS, KindStartTLS, KindDNS, KindWS, KindWSS, KindGRPC, KindGRPCS, KindICMP}

// StartTLSProtocols are the protocols a starttls check speaks.
var StartTLSProtocols = []string{"smtp", "imap", "pop3"}

// StartTLSProtocolOf returns the protocol a starttls check speaks on a
// port by default: smtp on 25, 587 and 2525, imap on 143, pop3 on 110;
// empty on any other.
func StartTLSProtocolOf(port string) string {
	switch port {
	case "25", "587", "2525":
		return "smtp"
	case "143":
		return "imap"
	case "110":
		return "pop3"
	}
	return ""
}

// KindOf returns the kind of check of a site's URL, as stored: its scheme.
func KindOf(rawURL string) string {
	scheme, _, _ := strings.Cut(rawURL, "://")
	return strings.ToLower(scheme)
}

// IsHTTP tells whether a kind of check is http's or https's.
func IsHTTP(kind string) bool { return kind == KindHTTP || kind == KindHTTPS }

// hasPath tells whether a kind's URLs are whole URLs, with a path and a
// query: http's and the WebSocket's.
func hasPath(kind string) bool { return IsHTTP(kind) || kind == KindWS || kind == KindWSS }

// NormalizeURL checks a site URL and returns it as it will be stored: with
// https:// in front when it names no scheme, as the tutorial does. Its
// scheme names its kind (see Kinds); an http or https URL needs a host, a
// tcp, tls or starttls one a host and a port and nothing else, a dns one a
// name alone. The scheme and host
// are put in one form (lower case, an international name in punycode, no
// default port), so that one site cannot be added twice under two
// spellings; the rest of the URL is kept as it was given.
func NormalizeURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errs.Errorf(errs.InvalidArgument, `url is required, for example {"url": "https://example.com"}`)
	}
	if len(raw) > MaxURLLength {
		return "", errs.Errorf(errs.InvalidArgument, "url is %d characters long; the limit is %d", len(raw), MaxURLLength)
	}
	lower := strings.ToLower(raw)
	if key, ok := strings.CutPrefix(lower, KindPush+"://"); ok {
		if !pushKey.MatchString(key) {
			return "", errs.Errorf(errs.InvalidArgument, "url %s: a push site's URL is given by the server, as push:// and 16 hex digits", text.Quote(raw))
		}
		return KindPush + "://" + key, nil
	}
	if !strings.Contains(lower, "://") && !strings.HasPrefix(lower, "http:") && !strings.HasPrefix(lower, "https:") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errs.Errorf(errs.InvalidArgument, "url %s is not a valid URL: %s", text.Quote(raw), text.Clip(unwrapURLError(err).Error()))
	}
	scheme := strings.ToLower(u.Scheme)
	if !slices.Contains(Kinds, scheme) {
		return "", errs.Errorf(errs.InvalidArgument, "url %s must use one of %s, not %s", text.Quote(raw),
			strings.Join(Kinds, ", "), text.Quote(u.Scheme))
	}
	if u.Hostname() == "" {
		return "", errs.Errorf(errs.InvalidArgument, "url %s has no host", text.Quote(raw))
	}
	port := u.Port()
	if scheme == KindDNS || scheme == KindICMP {
		switch {
		case port != "" && scheme == KindDNS:
			return "", errs.Errorf(errs.InvalidArgument, "url %s: a dns:// URL is the name asked about, with no port; dns_server names the server", text.Quote(raw))
		case port != "":
			return "", errs.Errorf(errs.InvalidArgument, "url %s: an icmp:// URL is a host, with no port", text.Quote(raw))
		case u.User != nil:
			return "", errs.Errorf(errs.InvalidArgument, "url %s: a %s:// URL has no user information", text.Quote(text.Redact(raw)), scheme)
		case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
			return "", errs.Errorf(errs.InvalidArgument, "url %s: a %s:// URL is a name, with no path or query", text.Quote(raw), scheme)
		}
	} else if !hasPath(scheme) {
		switch {
		case port == "":
			return "", errs.Errorf(errs.InvalidArgument, "url %s needs a port, as in %s://%s:5432", text.Quote(raw), scheme, u.Hostname())
		case u.User != nil:
			return "", errs.Errorf(errs.InvalidArgument, "url %s: a %s:// URL has no user information", text.Quote(text.Redact(raw)), scheme)
		case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
			return "", errs.Errorf(errs.InvalidArgument, "url %s: a %s:// URL is a host and a port, with no path or query", text.Quote(raw), scheme)
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", errs.Errorf(errs.InvalidArgument, "url %s has an invalid port %s", text.Quote(raw), text.Quote(port))
		}
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + strings.ToLower(host) + "]"
	} else if host, err = idna.Lookup.ToASCII(host); err != nil {
		return "", errs.Errorf(errs.InvalidArgument, "url %s has an invalid host name: %s", text.Quote(raw), text.Clip(err.Error()))
	}
	if port != "" && !((scheme == "http" || scheme == "ws") && port == "80" || (scheme == "https" || scheme == "wss") && port == "443") {
		host += ":" + port
	}
	if !hasPath(scheme) {
		return scheme + "://" + host, nil
	}
	// Rebuild scheme://[userinfo@]host and keep the rest byte for byte.
	rest := raw[strings.Index(raw, ":")+1:]
	authority, path := strings.TrimPrefix(rest, "//"), ""
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority, path = authority[:i], authority[i:]
	}
	userinfo := ""
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo = authority[:i+1]
	}
	return scheme + "://" + userinfo + host + path, nil
}

// unwrapURLError drops url.Parse's repetition of the whole URL.
func unwrapURLError(err error) error {
	if uerr, ok := err.(*url.Error); ok {
		return uerr.Err
	}
	return err
}
