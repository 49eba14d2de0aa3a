//go:build historybench || metricsbench

package monitor_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// envInt reads a benchmark's size from the environment; def without it.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
	if err != nil {
		t.Fatalf("%s=%q is not a number", name, v)
	}
	return n
}
