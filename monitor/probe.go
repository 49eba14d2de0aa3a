package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"uptime/site"
)

// Probe is what a check sends and how it judges the answer: a site's
// settings, ready for checking. The zero Probe is the tutorial's check: a
// GET, up below 400.
type Probe struct {
	// Method is the request's method; empty means GET.
	Method string
	// Header is sent on top of the check's own headers.
	Header http.Header
	// Host, when set, is sent as the Host header.
	Host string
	// Body is sent with the request.
	Body string
	// Expect are the statuses that count as up; nil means below 400.
	Expect site.Statuses
	// Keyword must appear in the first 1 MiB of the body, or, with
	// KeywordAbsent, must not.
	Keyword       string
	KeywordAbsent bool
	// MaxLatency is the latency above which an up result is degraded;
	// zero means none.
	MaxLatency time.Duration
	// Timeout bounds the check; zero means the checker's.
	Timeout time.Duration
}

// NewProbe returns the probe of a site's settings.
func NewProbe(c site.Config) *Probe {
	p := &Probe{
		Method:        c.Method,
		Body:          c.Body,
		Keyword:       c.Keyword,
		KeywordAbsent: c.KeywordAbsent,
		Timeout:       time.Duration(c.Timeout),
	}
	if c.MaxLatency != nil {
		p.MaxLatency = time.Duration(*c.MaxLatency)
	}
	if c.ExpectStatus != "" && c.ExpectStatus != site.DefaultExpectStatus {
		// Settings are checked when they are stored; a list that no longer
		// parses falls back to the tutorial's rule.
		p.Expect, _ = site.ParseStatuses(c.ExpectStatus)
	}
	if len(c.Headers) > 0 {
		p.Header = make(http.Header, len(c.Headers))
		for name, value := range c.Headers {
			if strings.EqualFold(name, "Host") {
				p.Host = value
				continue
			}
			p.Header.Set(name, value)
		}
	}
	return p
}

// request makes the probe's request for the URL.
func (p *Probe) request(ctx context.Context, rawURL, userAgent string) (*http.Request, error) {
	method := p.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if p.Body != "" {
		body = strings.NewReader(p.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	if p.Body != "" && json.Valid([]byte(p.Body)) {
		req.Header.Set("Content-Type", "application/json")
	}
	for name, values := range p.Header {
		req.Header[name] = values
	}
	req.Header.Set(CheckHeader, "1")
	if p.Host != "" {
		req.Host = p.Host
	}
	return req, nil
}

// readBody reads up to maxBodyRead of the body and reports whether the
// keyword, if there is one, is in it.
func (p *Probe) readBody(body io.Reader) (found bool, err error) {
	if p.Keyword == "" {
		_, err = io.CopyN(io.Discard, body, maxBodyRead)
		return false, err
	}
	var buf bytes.Buffer
	_, err = io.CopyN(&buf, body, maxBodyRead)
	return bytes.Contains(buf.Bytes(), []byte(p.Keyword)), err
}

// judge decides from the final status and the keyword whether the site is
// up, and if not, why.
func (p *Probe) judge(status int, found bool) (up bool, reason string) {
	switch {
	case p.Expect == nil && status >= 400:
		return false, fmt.Sprintf("HTTP %d", status)
	case p.Expect != nil && !p.Expect.Contains(status):
		return false, fmt.Sprintf("HTTP %d, expected %s", status, p.Expect)
	case p.Keyword != "" && !p.KeywordAbsent && !found:
		return false, fmt.Sprintf("keyword %s not found", quoteKeyword(p.Keyword))
	case p.Keyword != "" && p.KeywordAbsent && found:
		return false, fmt.Sprintf("keyword %s found", quoteKeyword(p.Keyword))
	}
	return true, ""
}

func quoteKeyword(k string) string { return strconv.Quote(truncate(k, 100)) }
