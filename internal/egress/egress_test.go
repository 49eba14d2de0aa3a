package egress_test

import (
	"net/netip"
	"strings"
	"testing"

	"uptime/internal/config"
	"uptime/internal/egress"
)

func prefixes(t *testing.T, list string) []netip.Prefix {
	t.Helper()
	p, err := config.ParsePrefixes(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTargetsDecideByAddress(t *testing.T) {
	tests := []struct {
		name           string
		deny, allow    string
		denyInternal   bool
		addr           string
		port           uint16
		allowed        bool
		reasonContains string
	}{
		{"public address, default policy", "", "", false, "93.184.216.34", 443, true, ""},
		{"loopback on a loopback server", "", "", false, "127.0.0.1", 8080, true, ""},
		{"cloud metadata always", "", "169.254.0.0/16", false, "169.254.169.254", 80, false, "metadata"},
		{"AWS IPv6 metadata always", "", "", false, "fd00:ec2::254", 80, false, "metadata"},
		{"IPv4-mapped metadata", "", "", false, "::ffff:169.254.169.254", 80, false, "metadata"},
		{"loopback on a public server", "", "", true, "127.0.0.1", 8080, false, "not allowed"},
		{"unspecified reaches this machine", "", "", true, "0.0.0.0", 8080, false, "not allowed"},
		{"private on a public server", "", "", true, "10.1.2.3", 80, false, "not allowed"},
		{"private IPv6 on a public server", "", "", true, "fd12::1", 80, false, "not allowed"},
		{"private allowed on a public server", "", "10.1.0.0/16", true, "10.1.2.3", 80, true, ""},
		{"private outside the allowed range", "", "10.1.0.0/16", true, "10.2.0.1", 80, false, "not allowed"},
		{"public address denied", "93.184.216.0/24", "", false, "93.184.216.34", 443, false, "--deny-targets"},
		{"a single denied address", "203.0.113.7", "", false, "203.0.113.7", 443, false, "not allowed"},
		{"next to a single denied address", "203.0.113.7", "", false, "203.0.113.8", 443, true, ""},
		{"NAT64 to metadata", "", "", false, "64:ff9b::a9fe:a9fe", 80, false, "metadata"},
		{"NAT64 to anything", "", "", false, "64:ff9b::5db8:d822", 443, false, "metadata"},
		{"local-use NAT64", "", "", false, "64:ff9b:1::a9fe:a9fe", 80, false, "metadata"},
		{"IPv4-compatible metadata", "", "", false, "::169.254.169.254", 80, false, "metadata"},
		{"IPv4-compatible loopback on a public server", "", "", true, "::127.0.0.1", 8080, false, "not allowed"},
		{"IPv4-compatible private on a public server", "", "", true, "::10.0.0.1", 80, false, "not allowed"},
		{"IPv4-mapped private on a public server", "", "", true, "::ffff:192.168.1.1", 80, false, "not allowed"},
		{"Azure's host", "", "168.63.0.0/16", false, "168.63.129.16", 80, false, "metadata"},
		{"the IETF protocol range (Oracle's metadata)", "", "", false, "192.0.0.192", 80, false, "metadata"},
		{"site-local IPv6", "", "", false, "fec0::1", 80, false, "metadata"},
		{"this network, on a loopback server", "", "0.0.0.0/8", false, "0.0.0.0", 8080, false, "metadata"},
		{"this network, another address", "", "", false, "0.1.2.3", 80, false, "metadata"},
		{"IPv4-compatible public address", "", "", false, "::93.184.216.34", 443, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := egress.NewTargets(prefixes(t, tt.deny), prefixes(t, tt.allow), tt.denyInternal)
			err := targets.CheckAddr(netip.MustParseAddr(tt.addr), tt.port)
			if (err == nil) != tt.allowed {
				t.Fatalf("CheckAddr(%s) = %v, want allowed %v", tt.addr, err, tt.allowed)
			}
			if err != nil && !strings.Contains(err.Error(), tt.reasonContains) {
				t.Fatalf("CheckAddr(%s) = %q, want it to say %q", tt.addr, err, tt.reasonContains)
			}
		})
	}
}

func TestTargetsRefuseOwnListenAddress(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:4567", "0.0.0.0:4567", "[::]:4567", "localhost:4567", "[::1]:4567"} {
		targets := egress.NewTargets(nil, nil, false)
		targets.ListenOn(listen)
		for _, addr := range []string{"127.0.0.1", "::1", "0.0.0.0", "::", "127.0.0.2", "::ffff:127.0.0.1", "::127.0.0.1"} {
			if err := targets.CheckAddr(netip.MustParseAddr(addr), 4567); err == nil || !strings.Contains(err.Error(), "own API") {
				t.Errorf("listening on %s, a check of %s:4567 = %v, want refused as the instance's own API", listen, addr, err)
			}
			if err := targets.CheckAddr(netip.MustParseAddr(addr), 4568); err != nil && addr != "0.0.0.0" { // 0.0.0.0/8 is never checked
				t.Errorf("listening on %s, a check of %s:4568 = %v, want allowed", listen, addr, err)
			}
		}
	}
}
