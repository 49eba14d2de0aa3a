package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The farm's mix of sites, by index: one in 2,000 hangs until the check
// times out, one in 200 refuses connections, one in 100 answers 503, one
// in 50 answers after 100 to 300 ms, and the rest answer at once.
const (
	hang   = "hanging"
	refuse = "refusing"
	fail   = "failing"
	slow   = "slow"
	fast   = "fast"
)

func kind(i int) string {
	switch {
	case i%2000 == 7:
		return hang
	case i%200 == 3:
		return refuse
	case i%100 == 5:
		return fail
	case i%50 == 1:
		return slow
	}
	return fast
}

// refusedAddr is where nothing listens: a privileged port on loopback, so
// that no test server can take it.
const refusedAddr = "127.0.0.1:1"

// farm serves n fake sites on loopback, one per path. It closes every
// connection after its response, so each check opens a new one, and any
// site can be made to fail with 503 while a run goes on.
//
// A farm "like the internet" also serves one site in four over HTTPS, with
// a certificate from a CA of its own (trusted through SSL_CERT_FILE by the
// processes measured, and nowhere else), and makes every site wait 20 to
// 300 ms before it answers, as a distant server does.
type farm struct {
	n        int
	internet bool
	addr     string // plain HTTP
	tlsAddr  string // HTTPS, on a farm like the internet
	caFile   string // the CA's certificate, PEM, on a farm like the internet
	down     []atomic.Bool
	srvs     []*http.Server
	kinds    *kindFarm // the kinds other than HTTP, when asked for
}

// startFarm starts a farm of n sites of each kind; internet makes it like
// the internet. Its CA's certificate, where HTTPS or TLS needs one, is
// written to dir.
func startFarm(n int, internet bool, kinds []string, dir string) (*farm, error) {
	f := &farm{n: n, internet: internet, down: make([]atomic.Bool, n)}
	serve := func(tlsConf *tls.Config) (string, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		srv := &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConf,
			ErrorLog: log.New(io.Discard, "", 0)}
		srv.SetKeepAlivesEnabled(false)
		f.srvs = append(f.srvs, srv)
		if tlsConf != nil {
			go srv.ServeTLS(ln, "", "")
		} else {
			go srv.Serve(ln)
		}
		return ln.Addr().String(), nil
	}
	var err error
	if f.addr, err = serve(nil); err != nil {
		return nil, err
	}
	var ca *farmCA
	if internet || slices.Contains(kinds, "tls") {
		if ca, f.caFile, err = newFarmCA(dir); err != nil {
			return nil, err
		}
	}
	if internet {
		cert, err := ca.sign(netip.AddrFrom4([4]byte{127, 0, 0, 1}))
		if err != nil {
			return nil, err
		}
		if f.tlsAddr, err = serve(&tls.Config{Certificates: []tls.Certificate{*cert}}); err != nil {
			return nil, err
		}
	}
	if slices.ContainsFunc(kinds, func(k string) bool { return k != "http" }) {
		if err := f.startKinds(ca); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *farm) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, srv := range f.srvs {
		srv.Shutdown(ctx)
		srv.Close()
	}
	if f.kinds != nil {
		for _, c := range f.kinds.closers {
			c()
		}
	}
}

// env is what a checker's environment needs to check the farm: the trust
// of its CA, for this process alone.
func (f *farm) env() []string {
	if f.caFile == "" {
		return nil
	}
	return []string{"SSL_CERT_FILE=" + f.caFile}
}

// overTLS reports whether site i is served over HTTPS.
func (f *farm) overTLS(i int) bool { return f.internet && i%4 == 2 && kind(i) != refuse }

// url is the address of site i.
func (f *farm) url(i int) string {
	switch {
	case kind(i) == refuse:
		return fmt.Sprintf("http://%s/s/%d", refusedAddr, i)
	case f.overTLS(i):
		return fmt.Sprintf("https://%s/s/%d", f.tlsAddr, i)
	}
	return fmt.Sprintf("http://%s/s/%d", f.addr, i)
}

// distance is how long site i of a farm like the internet waits before it
// answers: 20 to 300 ms, spread evenly over the sites.
func distance(i int) time.Duration {
	return time.Duration(20+(i*53)%281) * time.Millisecond
}

// setDown makes the sites fail, or answer again as their kind does.
func (f *farm) setDown(down bool, sites ...int) {
	for _, i := range sites {
		f.down[i].Store(down)
	}
}

func (f *farm) serve(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/s/"))
	if err != nil || i < 0 || i >= f.n {
		http.NotFound(w, r)
		return
	}
	if f.internet && kind(i) != hang {
		time.Sleep(distance(i))
	}
	if f.down[i].Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	switch kind(i) {
	case hang:
		<-r.Context().Done()
		return
	case fail:
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case slow:
		time.Sleep(time.Duration(100+(i*37)%201) * time.Millisecond)
	}
	w.Write([]byte("ok\n"))
}

// mix counts the kinds of the first n sites.
func mix(n int) map[string]int {
	m := map[string]int{}
	for i := range n {
		m[kind(i)]++
	}
	return m
}

// newFarmCA makes a CA and writes its certificate to dir/farm-ca.pem for
// the checkers to trust.
func newFarmCA(dir string) (*farmCA, string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "uptime-bench farm CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, "", err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return nil, "", err
	}
	caFile := filepath.Join(dir, "farm-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return nil, "", err
	}
	return &farmCA{cert: ca, key: caKey, der: caDER, certs: map[netip.Addr]*tls.Certificate{}}, caFile, nil
}
