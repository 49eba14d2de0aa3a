package api

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"uptime/internal/errs"
)

func TestDatabaseErrorsBecomeTheRightCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code errs.Code
	}{
		{"full disk", &pgconn.PgError{Code: "53100", Message: "could not extend file"}, errs.Unavailable},
		{"out of memory", &pgconn.PgError{Code: "53200"}, errs.Unavailable},
		{"too many connections", &pgconn.PgError{Code: "53300"}, errs.Unavailable},
		{"invalid UTF-8", &pgconn.PgError{Code: "22021", Message: "invalid byte sequence for encoding"}, errs.InvalidArgument},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, errs.Unavailable},
		{"connection lost", &pgconn.PgError{Code: "08006"}, errs.Unavailable},
		{"a bug", &pgconn.PgError{Code: "42703", Message: "column does not exist"}, errs.Internal},
		{"wrapped", fmt.Errorf("add site: %w", &pgconn.PgError{Code: "53100"}), errs.Unavailable},
		{"deadline", fmt.Errorf("list: %w", context.DeadlineExceeded), errs.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, _ := toError(tt.err); e.Code != tt.code {
				t.Fatalf("toError(%v) = %s, want %s", tt.err, e.Code, tt.code)
			}
		})
	}
}
