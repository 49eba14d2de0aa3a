package check

import (
	"context"
	"errors"
	"net"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"uptime/internal/text"
)

// GRPC is the check of a grpc:// or grpcs:// target: its health service
// (grpc.health.v1.Health/Check) answers SERVING for Service, or for the
// server as a whole when Service is empty.
type GRPC struct {
	// Addr is the target's host and port.
	Addr    string
	TLS     bool
	Service string
}

// Do asks the health service, over a connection of the checker's dialer.
func (g *GRPC) Do(ctx context.Context, a *Attempt) {
	host, ok := a.allowed(g.Addr)
	if !ok {
		return
	}
	creds := insecure.NewCredentials()
	if g.TLS {
		creds = credentials.NewTLS(a.tlsFor(host))
	}
	var dialErr error
	conn, err := grpc.NewClient("passthrough:///"+g.Addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent(a.userAgent),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := a.dial(ctx, "tcp", addr)
			if err != nil {
				dialErr = err
			}
			return c, err
		}))
	if err != nil {
		a.Reason = "gRPC: " + err.Error()
		return
	}
	defer conn.Close()
	var p peer.Peer
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: g.Service},
		grpc.WaitForReady(false), grpc.Peer(&p))
	if tls, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(tls.State.PeerCertificates) > 0 {
		exp := tls.State.PeerCertificates[0].NotAfter
		a.CertExpiry = &exp
	}
	switch {
	case err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING:
		a.Up = true
	case err == nil:
		a.Reason = "gRPC health: " + resp.GetStatus().String()
	case dialErr != nil:
		a.Reason = a.reason(ctx, dialErr)
	case status.Code(err) == codes.DeadlineExceeded || errors.Is(ctx.Err(), context.DeadlineExceeded):
		a.Reason = "timeout after " + a.Timeout.String()
	case status.Code(err) == codes.NotFound:
		a.Reason = "gRPC health: no service " + strconv.Quote(g.Service)
	case status.Code(err) == codes.Unimplemented:
		a.Reason = "gRPC health: the server has no health service"
	default:
		a.Reason = "gRPC: " + text.Cut(status.Convert(err).Message(), 200)
	}
}
