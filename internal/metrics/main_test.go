package metrics_test

import (
	"testing"

	"uptime/internal/pgtest"
)

// TestMain stops the test cluster the apps share when the tests end.
func TestMain(m *testing.M) { pgtest.Main(m) }
