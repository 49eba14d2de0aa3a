package api

import "regexp"

// userinfo matches the password of a URL: the part between "user:" and "@".
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@\s:]*):[^/?#@\s]*@`)

// Redact hides the password of every URL in s, as url.URL.Redacted does, so
// that a site checked with basic auth does not leak its password into a
// log line or a notification.
func Redact(s string) string {
	return userinfo.ReplaceAllString(s, "${1}:xxxxx@")
}
