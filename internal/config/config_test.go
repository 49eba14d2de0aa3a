package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(Config) bool
		wantErr string
	}{
		{"defaults", nil, nil, func(c Config) bool {
			return c.Addr == "127.0.0.1:4000" && c.StateDir == ".uptime" && c.CheckEvery == 5*time.Minute && c.CheckTimeout == 10*time.Second
		}, ""},
		{"environment", nil, map[string]string{"UPTIME_ADDR": "localhost:5000", "UPTIME_CHECK_EVERY": "1m", "DATABASE_URL": "postgres://u@db/x"},
			func(c Config) bool {
				return c.Addr == "localhost:5000" && c.CheckEvery == time.Minute && c.DatabaseURL == "postgres://u@db/x"
			}, ""},
		{"flag beats environment", []string{"--check-timeout", "3s", "--addr", "127.0.0.1:7000"},
			map[string]string{"UPTIME_CHECK_TIMEOUT": "20s", "UPTIME_ADDR": "127.0.0.1:6000"},
			func(c Config) bool { return c.CheckTimeout == 3*time.Second && c.Addr == "127.0.0.1:7000" }, ""},
		{"any address with a key", []string{"--addr", ":4000", "--api-key", "0123456789abcdef"}, nil,
			func(c Config) bool { return c.APIKey == "0123456789abcdef" }, ""},
		{"any address with a short key", []string{"--addr", ":4000", "--api-key", "k"}, nil, nil, "at least 16"},
		{"loopback with a short key", []string{"--api-key", "k"}, nil, func(c Config) bool { return c.APIKey == "k" }, ""},
		{"heartbeat URL", []string{"--heartbeat-url", "https://hc-ping.example/abc"}, nil,
			func(c Config) bool { return c.HeartbeatURL == "https://hc-ping.example/abc" }, ""},
		{"heartbeat URL from env", nil, map[string]string{"UPTIME_HEARTBEAT_URL": "ftp://x"}, nil, "--heartbeat-url"},
		{"targets", []string{"--deny-targets", "10.0.0.0/8, 203.0.113.7", "--allow-targets", "fd00::/8"}, nil,
			func(c Config) bool { return c.DenyTargets == "10.0.0.0/8, 203.0.113.7" && c.AllowTargets == "fd00::/8" }, ""},
		{"bad target range", []string{"--deny-targets", "10.0.0.0/33"}, nil, nil, "--deny-targets"},
		{"bad allowed target", nil, map[string]string{"UPTIME_ALLOW_TARGETS": "intranet"}, nil, "--allow-targets"},
		{"bad public URL", []string{"--public-url", "uptime.example.com"}, nil, nil, "--public-url"},
		{"any address without a key", []string{"--addr", ":4000"}, nil, nil, "refusing to listen"},
		{"any address with private reads", []string{"--addr", ":4000", "--reads", "private"}, nil, func(c Config) bool { return c.Reads == "private" }, ""},
		{"any address with a first admin", nil, map[string]string{"UPTIME_ADDR": ":4000", "UPTIME_ADMIN_EMAIL": "ops@example.com"},
			func(c Config) bool { return c.AdminEmail == "ops@example.com" }, ""},
		{"bad reads", []string{"--reads", "closed"}, nil, nil, "--reads"},
		{"PORT", nil, map[string]string{"PORT": "8080", "UPTIME_API_KEY": "0123456789abcdef"},
			func(c Config) bool { return c.Addr == ":8080" }, ""},
		{"UPTIME_ADDR beats PORT", nil, map[string]string{"PORT": "8080", "UPTIME_ADDR": "127.0.0.1:9000"},
			func(c Config) bool { return c.Addr == "127.0.0.1:9000" }, ""},
		{"location", nil, map[string]string{"UPTIME_LOCATION": "eu-west-1"}, func(c Config) bool { return c.Location == "eu-west-1" }, ""},
		{"bad location", []string{"--location", "EU West"}, nil, nil, "--location"},
		{"location ending in a dash", []string{"--location", "eu-"}, nil, nil, "--location"},
		{"location with two dashes", []string{"--location", "eu--west"}, nil, nil, "--location"},
		{"location too long", []string{"--location", strings.Repeat("a", 33)}, nil, nil, "--location"},
		{"bad flap window", []string{"--flap-window", "10s"}, nil, nil, "--flap-window"},
		{"bad shutdown delay", []string{"--shutdown-delay", "1h"}, nil, nil, "--shutdown-delay"},
		{"database URL and infra-config", []string{"--database-url", "postgres://db/x", "--infra-config", "x.json"}, nil, nil, "not both"},
		{"public address without a key", nil, map[string]string{"UPTIME_ADDR": "0.0.0.0:4000"}, nil, "refusing to listen"},
		{"ipv6 loopback", []string{"--addr", "[::1]:4000"}, nil, func(c Config) bool { return c.Addr == "[::1]:4000" }, ""},
		{"bad duration in env", nil, map[string]string{"UPTIME_CHECK_EVERY": "often"}, nil, "UPTIME_CHECK_EVERY"},
		{"bad duration flag", []string{"--check-every", "often"}, nil, nil, "not a duration"},
		{"too frequent", []string{"--check-every", "10ms"}, nil, nil, "too short"},
		{"address without port", []string{"--addr", "localhost"}, nil, nil, "host:port"},
		{"not a postgres URL", []string{"--database-url", "mysql://x"}, nil, nil, "postgres://"},
		{"bad prefix", []string{"--database-prefix", "A-b"}, nil, nil, "database-prefix"},
		{"retention in days", []string{"--retention", "30d"}, nil, func(c Config) bool { return c.Retention == 30*24*time.Hour }, ""},
		{"retention from env", nil, map[string]string{"UPTIME_RETENTION": "7d"}, func(c Config) bool { return c.Retention == 7*24*time.Hour }, ""},
		{"bad retention", []string{"--retention", "forever"}, nil, nil, "not a duration"},
		{"retention under a day", []string{"--retention", "12h"}, nil, nil, "kept by the day"},
		{"default retentions", nil, nil, func(c Config) bool {
			return c.Retention == 30*24*time.Hour && c.RollupRetention == 400*24*time.Hour
		}, ""},
		{"rollup retention from env", nil, map[string]string{"UPTIME_ROLLUP_RETENTION": "730d"}, func(c Config) bool {
			return c.RollupRetention == 730*24*time.Hour
		}, ""},
		{"rollup retention under a day", []string{"--rollup-retention", "1h"}, nil, nil, "rollup-retention"},
		{"compacted retention by default", nil, nil, func(c Config) bool { return c.CompactedRetention == 400*24*time.Hour }, ""},
		{"compacted retention from env", nil, map[string]string{"UPTIME_COMPACTED_RETENTION": "730d"}, func(c Config) bool {
			return c.CompactedRetention == 730*24*time.Hour
		}, ""},
		{"no packing", []string{"--compacted-retention", "0"}, nil, func(c Config) bool { return c.CompactedRetention == 0 }, ""},
		{"compacted retention of two days", []string{"--compacted-retention", "2d"}, nil, nil, "--compacted-retention 48h0m0s is too short"},
		{"bad compacted retention", nil, map[string]string{"UPTIME_COMPACTED_RETENTION": "a year"}, nil, "UPTIME_COMPACTED_RETENTION"},
		{"no concurrency", []string{"--check-concurrency", "0"}, nil, nil, "check-concurrency"},
		{"bad number in env", nil, map[string]string{"UPTIME_CONFIRM_CHECKS": "two"}, nil, "UPTIME_CONFIRM_CHECKS"},
		{"bad log format", []string{"--log-format", "xml"}, nil, nil, "text or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse("run", tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one that says %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("config %+v is not what was asked for", c)
			}
		})
	}
}
