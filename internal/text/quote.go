package text

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxEcho is the most of a request's own text an error message repeats.
const MaxEcho = 200

// Clip shortens text from a request to MaxEcho characters for an error
// message, marking the cut, and makes it valid UTF-8.
func Clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxEcho {
		return s
	}
	cut := MaxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Quote quotes text from a request for an error message, clipped to
// MaxEcho characters and with any password in a URL hidden.
func Quote(s string) string {
	return strconv.Quote(Clip(Redact(s)))
}
