package site

import (
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"

	"uptime/internal/api"
)

// MaxURLLength is the longest URL a site may have.
const MaxURLLength = 2048

// NormalizeURL checks a site URL and returns it as it will be stored: with
// https:// in front when it names no scheme, as the tutorial does. It must
// then be an http or https URL with a host. The scheme and host are put in
// one form (lower case, an international name in punycode, no default
// port), so that one site cannot be added twice under two spellings; the
// rest of the URL is kept as it was given.
func NormalizeURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", api.Errorf(api.InvalidArgument, `url is required, for example {"url": "https://example.com"}`)
	}
	if len(raw) > MaxURLLength {
		return "", api.Errorf(api.InvalidArgument, "url is %d characters long; the limit is %d", len(raw), MaxURLLength)
	}
	lower := strings.ToLower(raw)
	if !strings.Contains(lower, "://") && !strings.HasPrefix(lower, "http:") && !strings.HasPrefix(lower, "https:") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", api.Errorf(api.InvalidArgument, "url %s is not a valid URL: %s", api.Quote(raw), api.Clip(unwrapURLError(err).Error()))
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", api.Errorf(api.InvalidArgument, "url %s must use http or https, not %s", api.Quote(raw), api.Quote(u.Scheme))
	}
	if u.Hostname() == "" {
		return "", api.Errorf(api.InvalidArgument, "url %s has no host", api.Quote(raw))
	}
	port := u.Port()
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", api.Errorf(api.InvalidArgument, "url %s has an invalid port %s", api.Quote(raw), api.Quote(port))
		}
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + strings.ToLower(host) + "]"
	} else if host, err = idna.Lookup.ToASCII(host); err != nil {
		return "", api.Errorf(api.InvalidArgument, "url %s has an invalid host name: %s", api.Quote(raw), api.Clip(err.Error()))
	}
	if port != "" && !(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		host += ":" + port
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
