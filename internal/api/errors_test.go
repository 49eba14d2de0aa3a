package api

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestDatabaseErrorsBecomeTheRightCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code ErrCode
	}{
		{"full disk", &pgconn.PgError{Code: "53100", Message: "could not extend file"}, Unavailable},
		{"out of memory", &pgconn.PgError{Code: "53200"}, Unavailable},
		{"too many connections", &pgconn.PgError{Code: "53300"}, Unavailable},
		{"invalid UTF-8", &pgconn.PgError{Code: "22021", Message: "invalid byte sequence for encoding"}, InvalidArgument},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, Unavailable},
		{"connection lost", &pgconn.PgError{Code: "08006"}, Unavailable},
		{"a bug", &pgconn.PgError{Code: "42703", Message: "column does not exist"}, Internal},
		{"wrapped", fmt.Errorf("add site: %w", &pgconn.PgError{Code: "53100"}), Unavailable},
		{"deadline", fmt.Errorf("list: %w", context.DeadlineExceeded), DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, _ := toError(tt.err); e.Code != tt.code {
				t.Fatalf("toError(%v) = %s, want %s", tt.err, e.Code, tt.code)
			}
		})
	}
}
