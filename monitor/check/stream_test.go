package check_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"uptime/internal/egress"
	"uptime/internal/testnet"
	"uptime/monitor/check"
	"uptime/site"
)

var (
	serve       = testnet.Serve
	listen      = testnet.Listen
	certificate = testnet.Certificate
)

func stream(t testing.TB, rawURL, settings string) *check.Site {
	t.Helper()
	c, err := site.ConfigOf(settings, rawURL, site.Defaults{Interval: time.Minute, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return check.New(rawURL, c)
}

// A tcp:// check is up when a connection opens, and with send and expect
// when the reply holds the expected text; each way of failing says why,
// and a hanging server costs the timeout.
func TestTCPChecks(t *testing.T) {
	ctx := context.Background()
	checker := check.NewChecker(time.Second, nil, nil)
	answers := serve(t, listen(t), func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("+" + strings.TrimSpace(line) + "\r\n"))
	})
	greets := serve(t, listen(t), func(c net.Conn) { c.Write([]byte("220 mail.test ESMTP\r\n")); time.Sleep(2 * time.Second) })
	closes := serve(t, listen(t), func(c net.Conn) {})
	hangs := serve(t, listen(t), func(c net.Conn) { time.Sleep(5 * time.Second) })
	ln := listen(t)
	refused := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name, url, settings string
		up                  bool
		reason              string
	}{
		{"a connection opens", "tcp://" + answers, `{}`, true, ""},
		{"sent, and the reply expected", "tcp://" + answers, `{"send": "PING\r\n", "expect": "+PING"}`, true, ""},
		{"a greeting expected", "tcp://" + greets, `{"expect": "ESMTP"}`, true, ""},
		{"another reply", "tcp://" + answers, `{"send": "PING\r\n", "expect": "+PONG"}`, false, `the connection closed before "+PONG" came; got "+PING\r\n"`},
		{"closed at once", "tcp://" + closes, `{"expect": "hello"}`, false, `the connection closed before "hello" came`},
		{"closed at once, nothing expected", "tcp://" + closes, `{}`, true, ""},
		{"no reply in time", "tcp://" + hangs, `{"expect": "hello", "timeout": "300ms"}`, false, `timeout after 300ms, waiting for "hello"`},
		{"the greeting is not the one expected", "tcp://" + greets, `{"expect": "IMAP", "timeout": "300ms"}`, false, `timeout after 300ms, waiting for "IMAP"; got "220 mail.test ESMTP\r\n"`},
		{"refused", "tcp://" + refused, `{}`, false, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res := checker.Run(ctx, stream(t, tt.url, tt.settings))
			if res.Up != tt.up || !strings.Contains(res.Reason, tt.reason) || tt.up && res.Reason != "" {
				t.Fatalf("check of %s with %s: up %v, reason %q; want up %v, reason with %q", tt.url, tt.settings, res.Up, res.Reason, tt.up, tt.reason)
			}
			if took := time.Since(start); took > 2*time.Second || res.Latency <= 0 {
				t.Fatalf("the check took %s, latency %s", took, res.Latency)
			}
		})
	}

	t.Run("the target policy holds", func(t *testing.T) {
		denying := check.NewChecker(time.Second, nil, egress.NewTargets(nil, nil, true))
		for _, u := range []string{"tcp://" + answers, "tcp://localhost:" + answers[strings.LastIndex(answers, ":")+1:]} {
			res := denying.Run(ctx, stream(t, u, `{}`))
			if res.Up || !strings.Contains(res.Reason, "not allowed") {
				t.Errorf("check of %s with loopback denied: %+v", u, res)
			}
		}
	})
}

// A tls:// check is up when the handshake succeeds with a trusted
// certificate valid for the host, and records when it expires; an
// expired, a self-signed and a wrong-host certificate are each down with
// their reason.
func TestTLSChecks(t *testing.T) {
	ctx := context.Background()
	tlsServer := func(cert tls.Certificate, handle func(net.Conn)) string {
		return serve(t, tls.NewListener(listen(t), &tls.Config{Certificates: []tls.Certificate{cert}}), handle)
	}
	echo := func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Write([]byte(line))
	}
	good, goodLeaf := certificate(t, 30*24*time.Hour, "localhost")
	expired, expiredLeaf := certificate(t, -time.Minute, "localhost")
	otherHost, otherLeaf := certificate(t, 30*24*time.Hour, "other.test")
	untrusted, _ := certificate(t, 30*24*time.Hour, "localhost")
	trust := x509.NewCertPool()
	for _, c := range []*x509.Certificate{goodLeaf, expiredLeaf, otherLeaf} {
		trust.AddCert(c)
	}
	checker := check.NewChecker(time.Second, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trust}}, nil)

	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	goodAddr := tlsServer(good, echo)
	tests := []struct {
		name, url, settings string
		up                  bool
		reason              string
	}{
		{"trusted and valid", "tls://localhost:" + port(goodAddr), `{}`, true, ""},
		{"by address", "tls://" + goodAddr, `{"send": "hello\n", "expect": "hello"}`, true, ""},
		{"expired", "tls://localhost:" + port(tlsServer(expired, echo)), `{}`, false, "certificate expired"},
		{"for another host", "tls://localhost:" + port(tlsServer(otherHost, echo)), `{}`, false, "not valid for localhost"},
		{"self-signed, trusted by no one", "tls://localhost:" + port(tlsServer(untrusted, echo)), `{}`, false, "unknown authority"},
		{"not TLS at all", "tls://" + serve(t, listen(t), func(c net.Conn) { c.Write([]byte("220 plain\r\n")) }), `{}`, false, "TLS handshake failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checker.Run(ctx, stream(t, tt.url, tt.settings))
			if res.Up != tt.up || !strings.Contains(res.Reason, tt.reason) || tt.up && res.Reason != "" {
				t.Fatalf("check of %s: up %v, reason %q; want up %v, reason with %q", tt.url, res.Up, res.Reason, tt.up, tt.reason)
			}
			if tt.up && (res.CertExpiry == nil || !res.CertExpiry.Equal(goodLeaf.NotAfter)) {
				t.Fatalf("certificate expiry %v, want %v", res.CertExpiry, goodLeaf.NotAfter)
			}
		})
	}
}

// A starttls:// check speaks SMTP, IMAP or POP3 until the server upgrades
// the connection, then judges the certificate as a tls:// check does; a
// server that offers no STARTTLS, or refuses it, is down saying so.
func TestStartTLSChecks(t *testing.T) {
	ctx := context.Background()
	good, goodLeaf := certificate(t, 30*24*time.Hour, "localhost")
	expired, expiredLeaf := certificate(t, -time.Minute, "localhost")
	trust := x509.NewCertPool()
	trust.AddCert(goodLeaf)
	trust.AddCert(expiredLeaf)
	checker := check.NewChecker(time.Second, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trust}}, nil)

	smtpServer := func(cert *tls.Certificate) string {
		srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return noMail{}, nil }))
		srv.Domain = "mail.test"
		if cert != nil {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		}
		ln := listen(t)
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	// talk serves a line protocol: the greeting, then for the command the
	// answer, then TLS.
	talk := func(cert tls.Certificate, greeting, command, answer string) string {
		return serve(t, listen(t), func(c net.Conn) {
			r := bufio.NewReader(c)
			c.Write([]byte(greeting + "\r\n"))
			if l, _ := r.ReadString('\n'); strings.TrimSpace(l) != command {
				c.Write([]byte("BAD what?\r\n"))
				return
			}
			c.Write([]byte(answer + "\r\n"))
			if strings.Contains(answer, "OK") {
				tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
			}
		})
	}
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	tests := []struct {
		name, url, settings string
		up                  bool
		reason              string
	}{
		{"SMTP", "starttls://localhost:" + port(smtpServer(&good)), `{"starttls_protocol": "smtp"}`, true, ""},
		{"SMTP, expired", "starttls://localhost:" + port(smtpServer(&expired)), `{"starttls_protocol": "smtp"}`, false, "certificate expired"},
		{"SMTP without STARTTLS", "starttls://localhost:" + port(smtpServer(nil)), `{"starttls_protocol": "smtp"}`, false, "no STARTTLS among its extensions"},
		{"IMAP", "starttls://localhost:" + port(talk(good, "* OK IMAP ready", "u1 STARTTLS", "u1 OK begin TLS")), `{"starttls_protocol": "imap"}`, true, ""},
		{"IMAP refusing", "starttls://localhost:" + port(talk(good, "* OK IMAP ready", "u1 STARTTLS", "u1 NO not now")), `{"starttls_protocol": "imap"}`, false, `the IMAP server said "u1 NO not now"`},
		{"POP3", "starttls://localhost:" + port(talk(good, "+OK POP3 ready", "STLS", "+OK begin TLS")), `{"starttls_protocol": "pop3"}`, true, ""},
		{"POP3 spoken to an IMAP server", "starttls://localhost:" + port(talk(good, "* OK IMAP ready", "u1 STARTTLS", "u1 OK")), `{"starttls_protocol": "pop3"}`, false, `the POP3 server said "* OK IMAP ready"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checker.Run(ctx, stream(t, tt.url, tt.settings))
			if res.Up != tt.up || !strings.Contains(res.Reason, tt.reason) || tt.up && res.Reason != "" {
				t.Fatalf("check of %s: up %v, reason %q; want up %v, reason with %q", tt.url, res.Up, res.Reason, tt.up, tt.reason)
			}
			if tt.up && (res.CertExpiry == nil || !res.CertExpiry.Equal(goodLeaf.NotAfter)) {
				t.Fatalf("certificate expiry %v, want %v", res.CertExpiry, goodLeaf.NotAfter)
			}
		})
	}
}

// noMail is an SMTP session that takes no mail.
type noMail struct{}

func (noMail) Reset()                               {}
func (noMail) Logout() error                        { return nil }
func (noMail) Mail(string, *smtp.MailOptions) error { return errors.New("no mail here") }
func (noMail) Rcpt(string, *smtp.RcptOptions) error { return errors.New("no mail here") }
func (noMail) Data(io.Reader) error                 { return errors.New("no mail here") }
