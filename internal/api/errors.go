// Package api is the HTTP layer every service shares: the status of each
// of Encore's error codes (package errs), JSON decoding with clear
// messages, and the middleware that wraps the whole server (logging, CORS,
// access control, body limits).
package api

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"net/http"

	"github.com/jackc/pgx/v5/pgconn"

	"uptime/internal/errs"
)

// status is the HTTP status Encore uses for the code. An unrecognised
// code is treated as unknown.
func status(c errs.Code) int {
	switch c {
	case errs.Canceled:
		return 499
	case errs.InvalidArgument, errs.FailedPrecondition, errs.OutOfRange:
		return http.StatusBadRequest
	case errs.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case errs.NotFound:
		return http.StatusNotFound
	case errs.AlreadyExists, errs.Aborted:
		return http.StatusConflict
	case errs.PermissionDenied:
		return http.StatusForbidden
	case errs.ResourceExhausted:
		return http.StatusTooManyRequests
	case errs.Unimplemented:
		return http.StatusNotImplemented
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	case errs.Unauthenticated:
		return http.StatusUnauthorized
	default:
		return http.StatusInternalServerError
	}
}

// httpError is an error a client sees with headers (Retry-After, Allow)
// or a status Encore's table lacks (405 Method Not Allowed).
type httpError struct {
	err    *errs.Error
	header http.Header
	status int
}

func (h *httpError) Error() string { return h.err.Error() }
func (h *httpError) Unwrap() error { return h.err }

// toError turns any error into the one a client sees. Errors that are not an
// *Error keep their detail out of the response: it is logged instead.
func toError(err error) (e *errs.Error, expected bool) {
	if errors.As(err, &e) {
		return e, true
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return errs.Errorf(errs.DeadlineExceeded, "the request took too long"), false
	case errors.Is(err, context.Canceled):
		return errs.Errorf(errs.Canceled, "the request was canceled"), true
	case Unreachable(err):
		return errs.Errorf(errs.Unavailable, "the database is unavailable; try again shortly"), false
	case pgClass(err) == "53":
		// Insufficient resources: a full disk, out of memory, too many
		// connections. The server is at fault, and it may pass.
		return errs.Errorf(errs.Unavailable, "the database is out of resources (a full disk?); try again later"), false
	case pgCode(err) == "22021" || pgCode(err) == "22P05":
		// Bytes that are not valid text: the request's doing.
		return errs.Errorf(errs.InvalidArgument, "the request holds text that is not valid UTF-8"), true
	}
	return errs.Errorf(errs.Internal, "internal error"), false
}

// databaseUnreachable reports whether err is the database being out of
// reach, rather than the caller's doing, a timeout or a bug.
func databaseUnreachable(err error) bool {
	var e *errs.Error
	if errors.As(err, &e) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	return Unreachable(err)
}

// pgCode is the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// pgClass is the class (first two characters) of a PostgreSQL error's
// SQLSTATE, or "".
func pgClass(err error) string {
	if c := pgCode(err); len(c) == 5 {
		return c[:2]
	}
	return ""
}

// Unreachable reports whether err means the database cannot be reached
// right now, as opposed to a bug: a refused or dropped connection, or a
// server that is shutting down or starting up.
func Unreachable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 is "connection exception"; 57P01-57P03 are admin
		// shutdown, crash shutdown and "cannot connect now".
		code := pgErr.Code
		return len(code) == 5 && (code[:2] == "08" || code[:4] == "57P0")
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return pgconn.SafeToRetry(err)
}

// Status is the HTTP status an error is answered with.
func Status(err error) int {
	var h *httpError
	if errors.As(err, &h) {
		if h.status != 0 {
			return h.status
		}
		return status(h.err.Code)
	}
	e, _ := toError(err)
	return status(e.Code)
}
