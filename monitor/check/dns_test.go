package check_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"uptime/internal/egress"
	"uptime/monitor/check"
)

// dnsServer answers on loopback: A, MX and TXT records of a zone, SERVFAIL
// for one name, NXDOMAIN for the rest.
func dnsServer(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	records := map[string]string{
		"www.example.test. A":   "www.example.test. 60 IN A 192.0.2.10",
		"example.test. MX":      "example.test. 60 IN MX 10 mx1.example.test.",
		"example.test. TXT":     `example.test. 60 IN TXT "v=spf1 include:_spf.example.test ~all"`,
		"alias.example.test. A": "alias.example.test. 60 IN CNAME www.example.test.",
	}
	mux := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		question := q.Question[0]
		switch {
		case question.Name == "broken.example.test.":
			m.Rcode = dns.RcodeServerFailure
		case records[question.Name+" "+dns.TypeToString[question.Qtype]] != "":
			rr, err := dns.NewRR(records[question.Name+" "+dns.TypeToString[question.Qtype]])
			if err != nil {
				panic(err)
			}
			m.Answer = append(m.Answer, rr)
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// A dns:// check is up when the server answers with the code expected
// and, with expect, an answer holding one of the values; each way of
// failing names what came.
func TestDNSChecks(t *testing.T) {
	ctx := context.Background()
	server := dnsServer(t)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	checker := check.NewChecker(time.Second, nil, nil)
	tests := []struct {
		name, url, settings string
		up                  bool
		reason              string
	}{
		{"an A record", "dns://www.example.test", `{"dns_server": "` + server + `"}`, true, ""},
		{"the address expected", "dns://www.example.test", `{"dns_server": "` + server + `", "expect": ["192.0.2.9", "192.0.2.10"]}`, true, ""},
		{"another address", "dns://www.example.test", `{"dns_server": "` + server + `", "expect": "192.0.2.99"}`, false, `no A answer holds "192.0.2.99"; got "192.0.2.10"`},
		{"MX", "dns://example.test", `{"dns_server": "` + server + `", "dns_type": "mx", "expect": "mx1.example.test."}`, true, ""},
		{"TXT holding a value", "dns://example.test", `{"dns_server": "` + server + `", "dns_type": "TXT", "expect": "include:_spf.example.test"}`, true, ""},
		{"a CNAME where an A was asked for", "dns://alias.example.test", `{"dns_server": "` + server + `", "expect": "192.0.2.10"}`, false, `no A answer holds "192.0.2.10"; no answer`},
		{"NXDOMAIN", "dns://nowhere.example.test", `{"dns_server": "` + server + `"}`, false, "NXDOMAIN, expected NOERROR"},
		{"NXDOMAIN expected", "dns://nowhere.example.test", `{"dns_server": "` + server + `", "dns_rcode": "nxdomain"}`, true, ""},
		{"SERVFAIL", "dns://broken.example.test", `{"dns_server": "` + server + `"}`, false, "SERVFAIL, expected NOERROR"},
		{"a server that does not answer", "dns://www.example.test", `{"dns_server": "` + silent.LocalAddr().String() + `", "timeout": "300ms"}`, false, "DNS: timeout after 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checker.Run(ctx, stream(t, tt.url, tt.settings))
			if res.Up != tt.up || !strings.Contains(res.Reason, tt.reason) || tt.up && res.Reason != "" {
				t.Fatalf("check of %s with %s: up %v, reason %q; want up %v, reason with %q", tt.url, tt.settings, res.Up, res.Reason, tt.up, tt.reason)
			}
		})
	}

	t.Run("the target policy holds for the server", func(t *testing.T) {
		denying := check.NewChecker(time.Second, nil, egress.NewTargets(nil, nil, true))
		res := denying.Run(ctx, stream(t, "dns://www.example.test", `{"dns_server": "`+server+`"}`))
		if res.Up || !strings.Contains(res.Reason, "not allowed") {
			t.Fatalf("a dns check of a server on loopback, with loopback denied: %+v", res)
		}
	})
}
