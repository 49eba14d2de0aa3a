package site

import (
	"net/url"
	"strconv"
	"strings"

	"uptime/internal/api"
)

// MaxURLLength is the longest URL a site may have.
const MaxURLLength = 2048

// NormalizeURL checks a site URL and returns it as it will be stored: with
// https:// in front when it names no scheme, as the tutorial does. It must
// then be an http or https URL with a host.
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
		return "", api.Errorf(api.InvalidArgument, "url %q is not a valid URL: %v", raw, unwrapURLError(err))
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return "", api.Errorf(api.InvalidArgument, "url %q must use http or https, not %q", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return "", api.Errorf(api.InvalidArgument, "url %q has no host", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", api.Errorf(api.InvalidArgument, "url %q has an invalid port %q", raw, p)
		}
	}
	return raw, nil
}

// unwrapURLError drops url.Parse's repetition of the whole URL.
func unwrapURLError(err error) error {
	if uerr, ok := err.(*url.Error); ok {
		return uerr.Err
	}
	return err
}
