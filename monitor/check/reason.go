package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"

	"uptime/internal/egress"
	"uptime/internal/text"
)

// bodyReason explains why reading a response's body failed.
func (a *Attempt) bodyReason(ctx context.Context, err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the body ended before its announced length"
	}
	return a.reason(ctx, err)
}

// reason turns an error of reaching the target into a short explanation.
// ctx is the check's: canceled, the check was, by its caller; past its
// deadline, it timed out.
func (a *Attempt) reason(ctx context.Context, err error) string {
	var (
		dnsErr      *net.DNSError
		unknownCA   x509.UnknownAuthorityError
		invalidCert x509.CertificateInvalidError
		hostErr     x509.HostnameError
		tlsRecord   tls.RecordHeaderError
		tlsAlert    tls.AlertError
		certErr     *tls.CertificateVerificationError
		netErr      net.Error
		denied      *egress.DeniedError
	)
	switch {
	case errors.As(err, &denied):
		return denied.Error()
	case errors.Is(err, errTooManyRedirects):
		return fmt.Sprintf("too many redirects (more than %d)", maxRedirects)
	case errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled):
		return "check canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout after " + a.Timeout.String()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "DNS: no such host " + dnsErr.Name
		}
		return "DNS lookup failed for " + dnsErr.Name
	case errors.As(err, &invalidCert) && invalidCert.Reason == x509.Expired:
		return "certificate expired"
	case errors.As(err, &invalidCert):
		return "invalid certificate: " + invalidCert.Error()
	case errors.As(err, &unknownCA):
		return "certificate signed by an unknown authority"
	case errors.As(err, &hostErr):
		return "certificate is not valid for " + hostErr.Host
	case errors.As(err, &certErr):
		return "certificate not trusted: " + certErr.Err.Error()
	case errors.As(err, &tlsRecord), errors.As(err, &tlsAlert):
		return "TLS handshake failed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without a response"
	}
	return text.Cut(shortURLError(err), 200)
}

// shortURLError drops the "Get \"url\": " that net/http puts in front.
func shortURLError(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}
