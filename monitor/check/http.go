package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"uptime/internal/text"
	"uptime/site"
)

// maxRedirects is how many redirects a check follows; one more is a
// failure.
const maxRedirects = 10

// maxBodyRead is how much of a response's body a check reads, and the
// part a keyword is looked for in. What it reads is read with its errors
// checked, so a body cut short, broken chunking or a server that stops
// after its headers is down, not up.
const maxBodyRead = 1 << 20

var errTooManyRedirects = fmt.Errorf("more than %d redirects", maxRedirects)

// HTTP is the check of an http or https URL: what it sends and how it
// judges the answer. The HTTP with a URL alone is the tutorial's check: a
// GET, up below 400.
type HTTP struct {
	URL string
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
	// Assertions must all hold of the answer.
	Assertions []assertion
}

// NewHTTP returns the check of the site at rawURL with its settings.
func NewHTTP(rawURL string, c site.Config) *HTTP {
	h := &HTTP{
		URL:           rawURL,
		Method:        c.Method,
		Body:          c.Body,
		Keyword:       c.Keyword,
		KeywordAbsent: c.KeywordAbsent,
		Assertions:    compile(c.Assertions),
	}
	if c.ExpectStatus != "" && c.ExpectStatus != site.DefaultExpectStatus {
		// Settings are checked when they are stored; a list that no longer
		// parses falls back to the tutorial's rule.
		h.Expect, _ = site.ParseStatuses(c.ExpectStatus)
	}
	if len(c.Headers) > 0 {
		h.Header = make(http.Header, len(c.Headers))
		for name, value := range c.Headers {
			if strings.EqualFold(name, "Host") {
				h.Host = value
				continue
			}
			h.Header.Set(name, value)
		}
	}
	return h
}

// Do fetches the URL once and judges the answer.
func (h *HTTP) Do(ctx context.Context, a *Attempt) {
	req, err := h.request(ctx, a.userAgent)
	if err == nil && req.URL.Host == "" {
		err = errors.New("no host")
	}
	if err != nil {
		a.Reason = "invalid URL: " + shortURLError(err)
		return
	}
	if err := a.targets.CheckLiteral(req.URL); err != nil {
		a.Reason = err.Error()
		return
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.Reason = a.reason(ctx, err)
		return
	}
	a.Status = resp.StatusCode
	body, found, err := h.readBody(resp.Body)
	resp.Body.Close()
	if err != nil && err != io.EOF {
		a.Reason = "reading the response: " + a.bodyReason(ctx, err)
		return
	}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		exp := resp.TLS.PeerCertificates[0].NotAfter
		a.CertExpiry = &exp
	}
	a.Up, a.Reason = h.judge(resp.StatusCode, found)
	if a.Up && len(h.Assertions) > 0 {
		ans := &answer{status: resp.StatusCode, header: resp.Header, body: body, latency: time.Since(a.CheckedAt)}
		if why := failed(h.Assertions, ans); why != "" {
			a.Up, a.Reason = false, why
		}
	}
}

// request makes the check's request.
func (h *HTTP) request(ctx context.Context, userAgent string) (*http.Request, error) {
	method := h.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if h.Body != "" {
		body = strings.NewReader(h.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.URL, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	if h.Body != "" && json.Valid([]byte(h.Body)) {
		req.Header.Set("Content-Type", "application/json")
	}
	for name, values := range h.Header {
		req.Header[name] = values
	}
	req.Header.Set(CheckHeader, "1")
	if h.Host != "" {
		req.Host = h.Host
	}
	return req, nil
}

// readBody reads up to maxBodyRead of the body, and keeps it when the
// keyword or an assertion needs it; found tells whether the keyword, if
// there is one, is in it.
func (h *HTTP) readBody(body io.Reader) (kept []byte, found bool, err error) {
	if h.Keyword == "" && len(h.Assertions) == 0 {
		_, err = io.CopyN(io.Discard, body, maxBodyRead)
		return nil, false, err
	}
	var buf bytes.Buffer
	_, err = io.CopyN(&buf, body, maxBodyRead)
	return buf.Bytes(), h.Keyword != "" && bytes.Contains(buf.Bytes(), []byte(h.Keyword)), err
}

// judge decides from the final status and the keyword whether the site is
// up, and if not, why.
func (h *HTTP) judge(status int, found bool) (up bool, reason string) {
	switch {
	case h.Expect == nil && status >= 400:
		return false, fmt.Sprintf("HTTP %d", status)
	case h.Expect != nil && !h.Expect.Contains(status):
		return false, fmt.Sprintf("HTTP %d, expected %s", status, h.Expect)
	case h.Keyword != "" && !h.KeywordAbsent && !found:
		return false, fmt.Sprintf("keyword %s not found", quoteKeyword(h.Keyword))
	case h.Keyword != "" && h.KeywordAbsent && found:
		return false, fmt.Sprintf("keyword %s found", quoteKeyword(h.Keyword))
	}
	return true, ""
}

func quoteKeyword(k string) string { return strconv.Quote(text.Cut(k, 100)) }
