package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// The kinds of check the farm serves besides HTTP. Every site of a kind
// has an address of its own on loopback (127.1.0.1, 127.1.0.2, ...), since
// a site's URL is what tells it from another: a TCP or TLS site is a port
// that accepts connections on its address, a DNS site a name the farm's
// DNS server answers with an A record, an ICMP site its address itself,
// which the kernel answers.
var benchKinds = []string{"http", "tcp", "tls", "dns", "icmp"}

// spec is one site as it is imported: its URL and the settings of its
// kind.
type spec struct {
	URL       string `json:"url"`
	DNSServer string `json:"dns_server,omitempty"`
}

func (s spec) json() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// siteAddr is the loopback address of site i of a kind other than HTTP.
func siteAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(1 + i>>16), byte(i >> 8), byte(i)})
}

// kindFarm serves the kinds other than HTTP: one TCP and one TLS listener
// on every address (answering only connections from loopback), and a DNS
// server on 127.0.0.1.
type kindFarm struct {
	tcpPort, tlsPort int
	dnsAddr          string
	closers          []func() error
}

// startKinds starts what the kinds need; tls needs the farm's CA (see
// farmCA), whose key signs a certificate for each address as it is asked
// for.
func (f *farm) startKinds(ca *farmCA) error {
	k := &kindFarm{}
	accept := func(ln net.Listener, handle func(net.Conn)) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err != nil || !ap.Addr().Unmap().IsLoopback() {
				c.Close() // the listener is on every address; the farm serves loopback alone
				continue
			}
			go handle(c)
		}
	}
	tcp, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		return err
	}
	k.tcpPort = tcp.Addr().(*net.TCPAddr).Port
	k.closers = append(k.closers, tcp.Close)
	go accept(tcp, func(c net.Conn) { c.Close() })

	if ca != nil {
		ln, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			return err
		}
		k.tlsPort = ln.Addr().(*net.TCPAddr).Port
		k.closers = append(k.closers, ln.Close)
		conf := &tls.Config{GetCertificate: ca.certificateFor}
		go accept(ln, func(c net.Conn) {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			tls.Server(c, conf).Handshake()
		})
	}

	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	k.dnsAddr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	k.closers = append(k.closers, srv.Shutdown)
	f.kinds = k
	return nil
}

// site is site i of a kind.
func (f *farm) site(kind string, i int) spec {
	switch kind {
	case "tcp":
		return spec{URL: fmt.Sprintf("tcp://%s:%d", siteAddr(i), f.kinds.tcpPort)}
	case "tls":
		return spec{URL: fmt.Sprintf("tls://%s:%d", siteAddr(i), f.kinds.tlsPort)}
	case "dns":
		return spec{URL: fmt.Sprintf("dns://s%d.farm.test", i), DNSServer: f.kinds.dnsAddr}
	case "icmp":
		return spec{URL: fmt.Sprintf("icmp://%s", siteAddr(i))}
	}
	return spec{URL: f.url(i)}
}

// sites are sites 0 to n-1 of each kind, the kinds one after another.
func (f *farm) sites(kinds []string, n int) []spec {
	var s []spec
	for _, k := range kinds {
		for i := range n {
			s = append(s, f.site(k, i))
		}
	}
	return s
}

// parseKinds reads a list of kinds, separated by commas.
func parseKinds(list string) ([]string, error) {
	var kinds []string
	for k := range strings.SplitSeq(list, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(benchKinds, k) {
			return nil, fmt.Errorf("-kinds: %q is not one of %s", k, strings.Join(benchKinds, ", "))
		}
		if slices.Contains(kinds, k) {
			return nil, fmt.Errorf("-kinds: %q is named twice", k)
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}

// farmCA is the CA of the farm's certificates, trusted by the processes
// measured through SSL_CERT_FILE and nowhere else.
type farmCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte

	mu    sync.Mutex
	certs map[netip.Addr]*tls.Certificate
}

// certificateFor signs, once, a certificate for the address the client
// connected to.
func (ca *farmCA) certificateFor(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	ap, err := netip.ParseAddrPort(hello.Conn.LocalAddr().String())
	if err != nil {
		return nil, err
	}
	ip := ap.Addr().Unmap()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c, ok := ca.certs[ip]; ok {
		return c, nil
	}
	c, err := ca.sign(ip)
	if err != nil {
		return nil, err
	}
	ca.certs[ip] = c
	return c, nil
}

func (ca *farmCA) sign(ip netip.Addr) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: ip.String()},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		IPAddresses:  []net.IP{ip.AsSlice()},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, ca.der}, PrivateKey: key}, nil
}
