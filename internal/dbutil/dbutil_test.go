package dbutil

import (
	"context"
	"sync"
	"testing"

	"uptime/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestEnsureDatabaseConcurrently creates one database from several
// connections at once, as instances started together do: each must
// succeed.
func TestEnsureDatabaseConcurrently(t *testing.T) {
	server := pgtest.ServerURL(t)
	for round := range 5 {
		name := pgtest.Prefix(t) + "db"
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = EnsureDatabase(context.Background(), server, name) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: creation %d of %d run together: %v", round, i+1, n, err)
			}
		}
	}
}
