// Package api is the HTTP layer every service shares: Encore's error shape and
// codes, JSON decoding with clear messages, and the middleware that wraps the
// whole server (logging, CORS, access control, body limits).
package api

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrCode is one of Encore's error codes. Its HTTP status comes from the
// table in Status.
type ErrCode string

// Encore's error codes.
const (
	Canceled           ErrCode = "canceled"
	Unknown            ErrCode = "unknown"
	InvalidArgument    ErrCode = "invalid_argument"
	DeadlineExceeded   ErrCode = "deadline_exceeded"
	NotFound           ErrCode = "not_found"
	AlreadyExists      ErrCode = "already_exists"
	PermissionDenied   ErrCode = "permission_denied"
	ResourceExhausted  ErrCode = "resource_exhausted"
	FailedPrecondition ErrCode = "failed_precondition"
	Aborted            ErrCode = "aborted"
	OutOfRange         ErrCode = "out_of_range"
	Unimplemented      ErrCode = "unimplemented"
	Internal           ErrCode = "internal"
	Unavailable        ErrCode = "unavailable"
	DataLoss           ErrCode = "data_loss"
	Unauthenticated    ErrCode = "unauthenticated"
)

// Status is the HTTP status Encore uses for the code. An unrecognised code is
// treated as unknown.
func (c ErrCode) Status() int {
	switch c {
	case Canceled:
		return 499
	case InvalidArgument, FailedPrecondition, OutOfRange:
		return http.StatusBadRequest
	case DeadlineExceeded:
		return http.StatusGatewayTimeout
	case NotFound:
		return http.StatusNotFound
	case AlreadyExists, Aborted:
		return http.StatusConflict
	case PermissionDenied:
		return http.StatusForbidden
	case ResourceExhausted:
		return http.StatusTooManyRequests
	case Unimplemented:
		return http.StatusNotImplemented
	case Unavailable:
		return http.StatusServiceUnavailable
	case Unauthenticated:
		return http.StatusUnauthorized
	default:
		return http.StatusInternalServerError
	}
}

// Error is an error a client is meant to see, in Encore's JSON shape.
// Services return it for anything that is the caller's doing (bad input, a
// missing site); every other error becomes an opaque "internal".
type Error struct {
	// Code is the machine-readable error code.
	Code ErrCode `json:"code"`
	// Message says what went wrong, for a person.
	Message string `json:"message"`
	// Details is always null here; Encore uses it for structured extras.
	Details any `json:"details"`

	// header is sent with the response (Retry-After, Allow).
	header http.Header
	// status overrides the code's status, for what Encore's table lacks
	// (405 Method Not Allowed).
	status int
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code ErrCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// IsCode reports whether err is, or wraps, an *Error with the code.
func IsCode(err error, code ErrCode) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// toError turns any error into the one a client sees. Errors that are not an
// *Error keep their detail out of the response: it is logged instead.
func toError(err error) (e *Error, expected bool) {
	if errors.As(err, &e) {
		return e, true
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Errorf(DeadlineExceeded, "the request took too long"), false
	case errors.Is(err, context.Canceled):
		return Errorf(Canceled, "the request was canceled"), true
	case Unreachable(err):
		return Errorf(Unavailable, "the database is unavailable; try again shortly"), false
	case pgClass(err) == "53":
		// Insufficient resources: a full disk, out of memory, too many
		// connections. The server is at fault, and it may pass.
		return Errorf(Unavailable, "the database is out of resources (a full disk?); try again later"), false
	case pgCode(err) == "22021" || pgCode(err) == "22P05":
		// Bytes that are not valid text: the request's doing.
		return Errorf(InvalidArgument, "the request holds text that is not valid UTF-8"), true
	}
	return Errorf(Internal, "internal error"), false
}

// databaseUnreachable reports whether err is the database being out of
// reach, rather than the caller's doing, a timeout or a bug.
func databaseUnreachable(err error) bool {
	var e *Error
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
