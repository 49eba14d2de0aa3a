package check_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"uptime/monitor/check"
)

// A grpc:// check is up while the health service answers SERVING, for the
// server or a service named, and down saying what it answered; grpcs://
// does the same over TLS and records the certificate's expiry.
func TestGRPCChecks(t *testing.T) {
	ctx := context.Background()
	start := func(opts ...grpc.ServerOption) (string, *health.Server) {
		hs := health.NewServer()
		srv := grpc.NewServer(opts...)
		healthpb.RegisterHealthServer(srv, hs)
		ln := listen(t)
		go srv.Serve(ln)
		t.Cleanup(srv.Stop)
		return ln.Addr().String(), hs
	}
	plain, hs := start()
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("billing", healthpb.HealthCheckResponse_NOT_SERVING)
	noHealth := listen(t)
	bare := grpc.NewServer()
	go bare.Serve(noHealth)
	defer bare.Stop()
	cert, leaf := certificate(t, 30*24*time.Hour, "localhost")
	secure, _ := start(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	trust := x509.NewCertPool()
	trust.AddCert(leaf)
	checker := check.NewChecker(time.Second, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trust}}, nil)
	ln := listen(t)
	refused := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name, url, settings string
		up                  bool
		reason              string
	}{
		{"the server serving", "grpc://" + plain, `{}`, true, ""},
		{"a service serving", "grpc://" + plain, `{"grpc_service": "orders"}`, true, ""},
		{"a service not serving", "grpc://" + plain, `{"grpc_service": "billing"}`, false, "gRPC health: NOT_SERVING"},
		{"an unknown service", "grpc://" + plain, `{"grpc_service": "nope"}`, false, `gRPC health: no service "nope"`},
		{"no health service", "grpc://" + noHealth.Addr().String(), `{}`, false, "the server has no health service"},
		{"refused", "grpc://" + refused, `{}`, false, "connection refused"},
		{"over TLS", "grpcs://localhost:" + secure[strings.LastIndex(secure, ":")+1:], `{}`, true, ""},
		{"TLS spoken to a plain server", "grpcs://" + plain, `{}`, false, "gRPC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checker.Run(ctx, stream(t, tt.url, tt.settings))
			if res.Up != tt.up || !strings.Contains(res.Reason, tt.reason) || tt.up && res.Reason != "" {
				t.Fatalf("check of %s with %s: up %v, reason %q; want up %v, reason with %q", tt.url, tt.settings, res.Up, res.Reason, tt.up, tt.reason)
			}
			if strings.HasPrefix(tt.url, "grpcs") && tt.up && (res.CertExpiry == nil || !res.CertExpiry.Equal(leaf.NotAfter)) {
				t.Fatalf("certificate expiry %v, want %v", res.CertExpiry, leaf.NotAfter)
			}
		})
	}

	// The server goes from serving to not: the next check says so.
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if res := checker.Run(ctx, stream(t, "grpc://"+plain, `{}`)); res.Up || res.Reason != "gRPC health: NOT_SERVING" {
		t.Fatalf("after the switch: %+v", res)
	}
}

// whatever answers with its own error message.
type whatever struct {
	healthpb.UnimplementedHealthServer
	message string
}

func (w whatever) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return nil, status.Error(codes.Internal, w.message)
}

// A reason is one line of at most check.MaxReason bytes, whatever the
// server said: it is stored, shown, sent to Slack, and reported by probes
// (which must not lose a round to a server's long or broken message).
func TestReasonsAreOneShortLine(t *testing.T) {
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, whatever{message: "the database\nis down\r\n\x00" + strings.Repeat("and more ", 200)})
	ln := listen(t)
	go srv.Serve(ln)
	defer srv.Stop()
	res := check.NewChecker(time.Second, nil, nil).Run(context.Background(), stream(t, "grpc://"+ln.Addr().String(), `{}`))
	if res.Up || !strings.HasPrefix(res.Reason, "gRPC: the database is down") || strings.ContainsFunc(res.Reason, unicode.IsControl) ||
		len(res.Reason) > check.MaxReason+len("…") {
		t.Fatalf("reason %q (%d bytes), want one line of at most %d", res.Reason, len(res.Reason), check.MaxReason)
	}
	if got := check.Reason("http://bob:s3cret@a.example/ said\tno"); got != "http://bob:xxxxx@a.example/ said no" {
		t.Fatalf("check.Reason = %q", got)
	}
}
