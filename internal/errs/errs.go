// Package errs is the errors a caller is meant to see, in Encore's shape:
// a code and a message for a person. Services return them for what is the
// caller's doing (bad input, a missing site); the HTTP server
// (internal/api) gives each code its status, and turns every other error
// into an opaque "internal".
package errs

import (
	"errors"
	"fmt"
)

// Code is one of Encore's error codes.
type Code string

// Encore's error codes.
const (
	Canceled           Code = "canceled"
	Unknown            Code = "unknown"
	InvalidArgument    Code = "invalid_argument"
	DeadlineExceeded   Code = "deadline_exceeded"
	NotFound           Code = "not_found"
	AlreadyExists      Code = "already_exists"
	PermissionDenied   Code = "permission_denied"
	ResourceExhausted  Code = "resource_exhausted"
	FailedPrecondition Code = "failed_precondition"
	Aborted            Code = "aborted"
	OutOfRange         Code = "out_of_range"
	Unimplemented      Code = "unimplemented"
	Internal           Code = "internal"
	Unavailable        Code = "unavailable"
	DataLoss           Code = "data_loss"
	Unauthenticated    Code = "unauthenticated"
)

// Error is an error a caller is meant to see, in Encore's JSON shape.
type Error struct {
	// Code is the machine-readable error code.
	Code Code `json:"code"`
	// Message says what went wrong, for a person.
	Message string `json:"message"`
	// Details is always null here; Encore uses it for structured extras.
	Details any `json:"details"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Is reports whether err is, or wraps, an *Error with the code.
func Is(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
