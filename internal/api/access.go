package api

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// AllowOrigins adds origins (like https://status.example.com) from which
// requests that change something are accepted without the API key. It is
// meant for start-up wiring.
func (s *Server) AllowOrigins(origins ...string) {
	for _, o := range origins {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			s.origins = append(s.origins, strings.ToLower(o))
		}
	}
}

// AllowHosts adds host names (like uptime.example.com, or *.example.com
// for every name under it) that the server answers to, beside addresses
// and loopback names. It is meant for start-up wiring.
func (s *Server) AllowHosts(hosts ...string) {
	for _, h := range hosts {
		if h = strings.TrimSpace(h); h != "" {
			s.hosts = append(s.hosts, strings.ToLower(h))
		}
	}
}

// ServePageHosts has requests for the host names that f knows served as
// status pages: f returns the path to serve a request's method and path
// from, empty for none, and whether the host is a page's at all. Such a
// host is answered to (only for its page's paths), whatever
// --allowed-hosts says. It is meant for start-up wiring.
func (s *Server) ServePageHosts(f func(host, method, path string) (to string, isPage bool)) {
	s.pageHost = f
}

// pageHostPath asks the page hosts about the request's Host, unless it
// is an address or a loopback name, which no page has.
func (s *Server) pageHostPath(r *http.Request) (string, bool) {
	if s.pageHost == nil || r.Host == "" {
		return "", false
	}
	host := hostName(r.Host)
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "", false
	}
	return s.pageHost(host, r.Method, r.URL.Path)
}

// hostName is a Host header's name: no port, no brackets, no final dot,
// in lower case.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
}

// knownHost reports whether the server answers to the request's Host. An
// address is always known, and so is a loopback name: a page on another
// site that rebinds its own name to this server's address sends its own
// name, which is neither, unless it was allowed.
func (s *Server) knownHost(r *http.Request) bool {
	if r.Host == "" {
		return true
	}
	host := hostName(r.Host)
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, h := range s.hosts {
		if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return true
		}
	}
	return false
}

// originAllowed reports whether a request that changes something without
// a credential (on a server with no API key and no user) may come from
// where it comes from: a browser's request is accepted from loopback
// origins (a dashboard served from another local port) and the configured
// ones; a request without an Origin is accepted unless the browser says
// it crosses sites. With a credential, the credential decides alone (a
// page elsewhere cannot know it).
func (s *Server) originAllowed(r *http.Request) bool {
	origin := strings.ToLower(r.Header.Get("Origin"))
	if origin == "" {
		return r.Header.Get("Sec-Fetch-Site") != "cross-site"
	}
	for _, o := range s.origins {
		if o == origin {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" and the like
	}
	host := u.Hostname()
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
