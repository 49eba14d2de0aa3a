package check_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/miekg/dns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"uptime/internal/ping"
	"uptime/monitor/check"
)

// Each kind's check against the bare library call it makes, one after
// another on loopback: what the check adds (its settings, the target
// policy, the reasons, the timing) is the difference. BENCHMARKS.md has
// the figures: go test ./monitor/check -run X -bench Kind -benchtime 2s

func benchChecks(b *testing.B, s *check.Site, checker *check.Checker) {
	ctx := context.Background()
	for b.Loop() {
		if res := checker.Run(ctx, s); !res.Up {
			b.Fatalf("down: %s", res.Reason)
		}
	}
}

func BenchmarkKindHTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	b.Run("check", func(b *testing.B) { benchChecks(b, stream(b, srv.URL, `{}`), check.NewChecker(time.Second, nil, nil)) })
	b.Run("bare", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		for b.Loop() {
			resp, err := client.Get(srv.URL)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	})
}

func BenchmarkKindTCP(b *testing.B) {
	addr := serve(b, listen(b), func(net.Conn) {})
	b.Run("check", func(b *testing.B) {
		benchChecks(b, stream(b, "tcp://"+addr, `{}`), check.NewChecker(time.Second, nil, nil))
	})
	b.Run("bare", func(b *testing.B) {
		d := &net.Dialer{Timeout: time.Second}
		for b.Loop() {
			c, err := d.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}

func BenchmarkKindTLS(b *testing.B) {
	cert, leaf := certificate(b, 30*24*time.Hour, "localhost")
	addr := serve(b, tls.NewListener(listen(b), &tls.Config{Certificates: []tls.Certificate{cert}}), func(c net.Conn) {
		c.(*tls.Conn).Handshake()
	})
	trust := x509.NewCertPool()
	trust.AddCert(leaf)
	b.Run("check", func(b *testing.B) {
		benchChecks(b, stream(b, "tls://"+addr, `{}`), check.NewChecker(time.Second, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trust}}, nil))
	})
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{RootCAs: trust, ServerName: "127.0.0.1"})
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}

func BenchmarkKindDNS(b *testing.B) {
	server := dnsServer(b)
	b.Run("check", func(b *testing.B) {
		benchChecks(b, stream(b, "dns://www.example.test", `{"dns_server": "`+server+`", "expect": "192.0.2.10"}`), check.NewChecker(time.Second, nil, nil))
	})
	b.Run("bare", func(b *testing.B) {
		c := &dns.Client{Net: "udp", Timeout: time.Second}
		q := new(dns.Msg)
		q.SetQuestion("www.example.test.", dns.TypeA)
		for b.Loop() {
			if _, _, err := c.Exchange(q, server); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkKindICMP(b *testing.B) {
	b.Run("check", func(b *testing.B) {
		benchChecks(b, stream(b, "icmp://127.0.0.1", `{"count": 1}`), check.NewChecker(time.Second, nil, nil))
	})
	b.Run("bare", func(b *testing.B) {
		msg, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 7, Seq: 1, Data: []byte("x")}}).Marshal(nil)
		buf := make([]byte, 1500)
		for b.Loop() {
			conn, raw, err := ping.Listen(true)
			if err != nil {
				b.Fatal(err)
			}
			var dst net.Addr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
			if raw {
				dst = &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}
			}
			conn.SetDeadline(time.Now().Add(time.Second))
			if _, err := conn.WriteTo(msg, dst); err != nil {
				b.Fatal(err)
			}
			for {
				n, _, err := conn.ReadFrom(buf)
				if err != nil {
					b.Fatal(err)
				}
				if m, err := icmp.ParseMessage(1, buf[:n]); err == nil && m.Type == ipv4.ICMPTypeEchoReply {
					break
				}
			}
			conn.Close()
		}
	})
}

func BenchmarkKindGRPC(b *testing.B) {
	hs := health.NewServer()
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	ln := listen(b)
	go srv.Serve(ln)
	defer srv.Stop()
	addr := ln.Addr().String()
	b.Run("check", func(b *testing.B) {
		benchChecks(b, stream(b, "grpc://"+addr, `{}`), check.NewChecker(time.Second, nil, nil))
	})
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				b.Fatal(err, resp)
			}
			conn.Close()
		}
	})
}

func BenchmarkKindWebSocket(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := websocket.Accept(w, r, nil); err == nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
	}))
	defer srv.Close()
	ws := "ws" + strings.TrimPrefix(srv.URL, "http")
	b.Run("check", func(b *testing.B) { benchChecks(b, stream(b, ws, `{}`), check.NewChecker(time.Second, nil, nil)) })
	b.Run("bare", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		for b.Loop() {
			c, _, err := websocket.Dial(context.Background(), ws, &websocket.DialOptions{HTTPClient: client})
			if err != nil {
				b.Fatal(err)
			}
			c.Close(websocket.StatusNormalClosure, "")
		}
	})
}
