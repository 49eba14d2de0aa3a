// Package testnet gives tests HTTP on loopback only: a transport for the
// monitor's checks that refuses any other address before it is looked up,
// so no test reaches the internet, certificates to serve TLS with, and
// servers of other protocols on loopback.
package testnet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Transport is the monitor's check transport, dialling loopback only and
// trusting the certificates of the given TLS test servers.
func Transport(trusted ...*httptest.Server) *http.Transport {
	pool := x509.NewCertPool()
	for _, s := range trusted {
		pool.AddCert(s.Certificate())
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: -1}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return nil, fmt.Errorf("test network: %s is not on loopback", host)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		DisableKeepAlives: true,
	}
}

// SelfSignedServer starts a TLS server on loopback whose certificate no
// one trusts, answering 200 to everything.
func SelfSignedServer(t testing.TB) *httptest.Server {
	t.Helper()
	return TLSServer(t, 24*time.Hour)
}

// TLSServer starts a TLS server on loopback, answering 200 to everything,
// with a self-signed certificate that expires after validFor. Pass it to
// Transport to trust it.
func TLSServer(t testing.TB, validFor time.Duration) *httptest.Server {
	t.Helper()
	cert, _ := Certificate(t, validFor, "localhost")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// Certificate makes a self-signed certificate for the names (and for
// 127.0.0.1 when the first is localhost), valid from an hour ago for
// validFor (negative: expired), and returns it with its leaf, to trust.
func Certificate(t testing.TB, validFor time.Duration, names ...string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validFor),
		DNSNames:     names,
	}
	if names[0] == "localhost" {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, leaf
}

// Listen listens on a free port of 127.0.0.1.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// Serve accepts connections on ln until the test ends, hands each to
// handle and closes it after, and returns ln's address.
func Serve(t testing.TB, ln net.Listener, handle func(net.Conn)) string {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				handle(conn)
			}()
		}
	}()
	return ln.Addr().String()
}
