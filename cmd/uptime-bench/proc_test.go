package main

import (
	"math"
	"testing"
)

// A process running at both readings is counted by what it spent between
// them; one started since, by all it spent; one that ended, by what the
// postmaster reaped less what it had spent before.
func TestPostgresCPUByKind(t *testing.T) {
	then := pgProcesses{reaped: 10, running: map[int]pgProcess{
		1: {kind: "postmaster", cpu: 1},
		2: {kind: "connections", cpu: 5},
		3: {kind: "autovacuum worker", cpu: 0.5},
		4: {kind: "walwriter", cpu: 2},
	}}
	now := pgProcesses{reaped: 12, running: map[int]pgProcess{
		1: {kind: "postmaster", cpu: 1.25},
		2: {kind: "connections", cpu: 8},
		4: {kind: "walwriter", cpu: 3},
		5: {kind: "connections", cpu: 0.75},
		6: {kind: "autovacuum worker", cpu: 0.25},
	}}
	got := now.since(then)
	want := map[string]float64{"postmaster": 0.25, "connections": 3.75, "walwriter": 1, "autovacuum worker": 0.25, "ended": 1.5}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if math.Abs(got[k]-v) > 1e-9 {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
}
