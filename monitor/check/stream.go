package check

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"uptime/internal/text"
)

// maxReplyRead is how much of a reply a tcp or tls check reads for its
// expected text.
const maxReplyRead = 4 << 10

// Stream is the check of a tcp://, tls:// or starttls:// target: a
// connection opens within the timeout (with TLS, then a handshake whose
// certificate is trusted and valid for the host; with StartTLS, after the
// protocol's STARTTLS); Send, if any, is sent; and, with Expect, the first
// 4 KiB of the reply must contain it.
type Stream struct {
	// Addr is the target's host and port.
	Addr string
	TLS  bool
	// StartTLS is the protocol that upgrades the connection to TLS first:
	// smtp, imap or pop3; empty for none.
	StartTLS string
	Send     string
	Expect   string
}

// Do connects, and talks as the check says.
func (s *Stream) Do(ctx context.Context, a *Attempt) {
	host, ok := a.allowed(s.Addr)
	if !ok {
		return
	}
	conn, err := a.dial(ctx, "tcp", s.Addr)
	if err != nil {
		a.Reason = a.reason(ctx, err)
		return
	}
	defer conn.Close()
	// The connection keeps to the check's time, and stops when it is
	// canceled.
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if s.StartTLS != "" {
		if err := startTLS(bufio.NewReader(conn), conn, s.StartTLS); err != nil {
			var refused *refusal
			if errors.As(err, &refused) {
				a.Reason = refused.Error()
			} else {
				a.Reason = "STARTTLS: " + a.streamReason(ctx, err)
			}
			return
		}
	}
	if s.TLS || s.StartTLS != "" {
		tc := tls.Client(conn, a.tlsFor(host))
		if err := tc.HandshakeContext(ctx); err != nil {
			a.Reason = a.reason(ctx, err)
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			exp := certs[0].NotAfter
			a.CertExpiry = &exp
		}
		conn = tc
	}
	if s.Send != "" {
		if _, err := io.WriteString(conn, s.Send); err != nil {
			a.Reason = "sending: " + a.streamReason(ctx, err)
			return
		}
	}
	if s.Expect != "" {
		if reason := s.expect(ctx, a, conn); reason != "" {
			a.Reason = reason
			return
		}
	}
	a.Up = true
}

// expect reads the reply until it holds the expected text, or 4 KiB of it
// have come, or it ends; it returns why it is down, or "" when the text
// came.
func (s *Stream) expect(ctx context.Context, a *Attempt, conn net.Conn) string {
	var (
		reply = make([]byte, 0, 512)
		want  = []byte(s.Expect)
		buf   = make([]byte, 512)
	)
	for len(reply) < maxReplyRead {
		n, err := conn.Read(buf[:min(len(buf), maxReplyRead-len(reply))])
		reply = append(reply, buf[:n]...)
		if bytes.Contains(reply, want) {
			return ""
		}
		if err != nil {
			got := ""
			if len(reply) > 0 {
				got = "; got " + quoteReply(reply)
			}
			switch {
			case errors.Is(err, io.EOF):
				return fmt.Sprintf("the connection closed before %s came%s", strconv.Quote(text.Cut(s.Expect, 100)), got)
			default:
				return fmt.Sprintf("%s, waiting for %s%s", a.streamReason(ctx, err), strconv.Quote(text.Cut(s.Expect, 100)), got)
			}
		}
	}
	return fmt.Sprintf("%s not in the first %d bytes of the reply; got %s", strconv.Quote(text.Cut(s.Expect, 100)), maxReplyRead, quoteReply(reply))
}

// allowed splits a target's host:port and holds it to the target policy
// before anything is looked up or sent; where it may not be reached, or
// is no address, the attempt says why and ok is false.
func (a *Attempt) allowed(addr string) (host string, ok bool) {
	host, portText, err := net.SplitHostPort(addr)
	port, perr := strconv.ParseUint(portText, 10, 16)
	if err != nil || perr != nil || host == "" {
		a.Reason = fmt.Sprintf("invalid address %q: a host and a port", addr)
		return "", false
	}
	if err := a.targets.CheckHost(host, uint16(port)); err != nil {
		a.Reason = err.Error()
		return "", false
	}
	return host, true
}

// streamReason is reason for an error on an open connection, whose
// deadline is the check's.
func (a *Attempt) streamReason(ctx context.Context, err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) && errors.Is(ctx.Err(), context.Canceled) {
		return "check canceled"
	}
	return a.reason(ctx, err)
}

// quoteReply quotes the start of a reply for a reason.
func quoteReply(b []byte) string { return strconv.Quote(text.Cut(string(b), 100)) }

// tlsFor is the TLS configuration of a connection to host: the checker's
// trust, the host's name.
func (c *Checker) tlsFor(host string) *tls.Config {
	cfg := &tls.Config{}
	if c.tls != nil {
		cfg = c.tls.Clone()
	}
	cfg.ServerName = host
	return cfg
}

// refusal is a server's answer that is not the one a protocol expects.
type refusal struct {
	protocol, line string
}

func (r *refusal) Error() string {
	return fmt.Sprintf("STARTTLS: the %s server said %s", r.protocol, quoteReply([]byte(r.line)))
}

// startTLS asks the server to upgrade the connection as the protocol does:
// SMTP's EHLO and STARTTLS (RFC 3207), IMAP's STARTTLS (RFC 3501), POP3's
// STLS (RFC 2595). The handshake follows on the same connection; nothing
// the server sent before it is left unread, since it sends nothing more.
func startTLS(r *bufio.Reader, w io.Writer, protocol string) error {
	line := func() (string, error) {
		l, err := r.ReadString('\n')
		if len(l) > maxReplyRead {
			l = l[:maxReplyRead]
		}
		return strings.TrimRight(l, "\r\n"), err
	}
	send := func(cmd string) error {
		_, err := io.WriteString(w, cmd+"\r\n")
		return err
	}
	// reply reads an SMTP reply, its lines "CODE-..." up to "CODE ...",
	// and says whether it has the code; it returns its lines.
	reply := func(code string) ([]string, error) {
		var lines []string
		for {
			l, err := line()
			if err != nil {
				return lines, err
			}
			lines = append(lines, l)
			if !strings.HasPrefix(l, code) {
				return lines, &refusal{"SMTP", l}
			}
			if len(l) < 4 || l[3] != '-' {
				return lines, nil
			}
		}
	}
	switch protocol {
	case "smtp":
		if _, err := reply("220"); err != nil {
			return err
		}
		if err := send("EHLO uptime.monitor"); err != nil {
			return err
		}
		lines, err := reply("250")
		if err != nil {
			return err
		}
		offered := false
		for _, l := range lines[1:] {
			offered = offered || len(l) >= 12 && strings.EqualFold(strings.TrimSpace(l[4:]), "STARTTLS")
		}
		if !offered {
			return &refusal{"SMTP", "no STARTTLS among its extensions"}
		}
		if err := send("STARTTLS"); err != nil {
			return err
		}
		_, err = reply("220")
		return err
	case "imap":
		l, err := line()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(l, "* OK") {
			return &refusal{"IMAP", l}
		}
		if err := send("u1 STARTTLS"); err != nil {
			return err
		}
		for {
			l, err := line()
			if err != nil {
				return err
			}
			if strings.HasPrefix(l, "u1 ") {
				if !strings.HasPrefix(l, "u1 OK") {
					return &refusal{"IMAP", l}
				}
				return nil
			}
		}
	case "pop3":
		for _, cmd := range []string{"", "STLS"} {
			if cmd != "" {
				if err := send(cmd); err != nil {
					return err
				}
			}
			l, err := line()
			if err != nil {
				return err
			}
			if !strings.HasPrefix(l, "+OK") {
				return &refusal{"POP3", l}
			}
		}
		return nil
	}
	return fmt.Errorf("no STARTTLS for protocol %q", protocol)
}
