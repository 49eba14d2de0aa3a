// Package mailer sends the email status pages send their subscribers,
// through the SMTP server --smtp-url names, with go-mail.
package mailer

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Mailer sends messages through one SMTP server.
type Mailer struct {
	host     string
	port     int
	implicit bool // TLS from the first byte (smtps://)
	tls      gomail.TLSPolicy
	user     string
	password string
	from     *mail.Address
}

// Message is one email to one address.
type Message struct {
	To      string
	Subject string
	// Text is the plain-text body; HTML, when given, its alternative.
	Text, HTML string
	// Header holds more header fields, as List-Unsubscribe.
	Header map[string]string
}

// Parse reads an SMTP URL: smtp://user:password@host:587/?from=...
// (STARTTLS required; tls=none for a server on this machine or a private
// network that offers no TLS), or smtps://...:465 (TLS from the start).
// from, the sender's address, is required.
func Parse(raw string) (*Mailer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	m := &Mailer{host: u.Hostname(), tls: gomail.TLSMandatory}
	switch u.Scheme {
	case "smtp":
		m.port = 587
	case "smtps":
		m.port, m.implicit = 465, true
	default:
		return nil, fmt.Errorf("scheme %q: want smtp:// or smtps://", u.Scheme)
	}
	if m.host == "" {
		return nil, errors.New("no host")
	}
	if p := u.Port(); p != "" {
		if m.port, err = strconv.Atoi(p); err != nil || m.port < 1 || m.port > 65535 {
			return nil, fmt.Errorf("port %q is not a port", p)
		}
	}
	if u.User != nil {
		m.user = u.User.Username()
		m.password, _ = u.User.Password()
	}
	q := u.Query()
	for k := range q {
		if k != "from" && k != "tls" {
			return nil, fmt.Errorf("unknown parameter %q: from and tls are known", k)
		}
	}
	switch q.Get("tls") {
	case "", "starttls":
	case "none":
		if m.implicit {
			return nil, errors.New("tls=none with smtps://: use smtp://")
		}
		m.tls = gomail.NoTLS
	default:
		return nil, fmt.Errorf("tls=%q: want starttls (the default) or none", q.Get("tls"))
	}
	if q.Get("from") == "" {
		return nil, errors.New("from is required: the sender's address, as ?from=status@example.com")
	}
	if m.from, err = mail.ParseAddress(q.Get("from")); err != nil {
		return nil, fmt.Errorf("from %q is not an address", q.Get("from"))
	}
	return m, nil
}

// NeedsPassword tells whether the URL names a user but no password: the
// password is then kept apart from it (see SetPassword).
func (m *Mailer) NeedsPassword() bool { return m.user != "" && m.password == "" }

// SetPassword sets the password the user signs in with.
func (m *Mailer) SetPassword(p string) { m.password = p }

// From is the sender's address.
func (m *Mailer) From() *mail.Address { return m.from }

// sendTimeout bounds one message's delivery to the server.
const sendTimeout = 30 * time.Second

// Send delivers msg to the server.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	opts := []gomail.Option{gomail.WithPort(m.port), gomail.WithTimeout(sendTimeout)}
	if m.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(m.tls))
	}
	if m.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(m.user), gomail.WithPassword(m.password))
	}
	c, err := gomail.NewClient(m.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	out := gomail.NewMsg()
	out.FromMailAddress(m.from)
	if err := out.To(msg.To); err != nil {
		return fmt.Errorf("to %s: %w", msg.To, err)
	}
	out.Subject(msg.Subject)
	out.SetDate()
	out.SetMessageID()
	for k, v := range msg.Header {
		out.SetGenHeader(gomail.Header(k), v)
	}
	out.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		out.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, out); err != nil {
		return fmt.Errorf("send through %s:%d: %w", m.host, m.port, err)
	}
	return nil
}
