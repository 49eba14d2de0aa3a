// Package egress is the one policy of where this program may connect:
// checks of every kind, channels' webhooks and services, through a proxy
// or not. It is applied to the addresses a name resolves to, just before
// each connection is made, at every redirect.
package egress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// alwaysDenied are addresses no check may reach, whatever is allowed: the
// link-local range, where cloud metadata services hand out credentials,
// AWS's IPv6 metadata address, Azure's host (its wire server), the IETF's
// protocol range (192.0.0.192 is Oracle Cloud's metadata), the deprecated
// site-local range, "this network", and NAT64, through which an IPv6
// address names any IPv4 one, metadata included. IPv4-mapped and
// IPv4-compatible forms of an IPv4 address are checked as that address.
var alwaysDenied = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
	netip.MustParsePrefix("168.63.129.16/32"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("fec0::/10"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// internal are the ranges denied when the server listens beyond loopback,
// unless allowed: this machine and the private networks around it.
var internal = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// Targets decides which addresses checks may reach. It is applied to the
// address a name resolves to, at every redirect hop, so a name that
// resolves elsewhere the second time (DNS rebinding) gets no further.
type Targets struct {
	deny  []netip.Prefix
	allow []netip.Prefix
	// lookup resolves a name, for CheckResolved: the system's resolver.
	lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// self are the ports where this instance listens (its API, its
	// profiler, its own PostgreSQL): a check never reaches them on this
	// machine, by whatever address.
	self []netip.AddrPort
}

// NewTargets returns the policy. Link-local and cloud metadata addresses
// are always denied, and so is everything in deny. With denyInternal (the
// server listens beyond loopback), loopback and private ranges are denied
// too. allow lifts the denial of what it covers, except the one of the
// addresses that are always denied.
func NewTargets(deny, allow []netip.Prefix, denyInternal bool) *Targets {
	t := &Targets{allow: allow, lookup: net.DefaultResolver.LookupNetIP}
	t.deny = append(t.deny, deny...)
	if denyInternal {
		t.deny = append(t.deny, internal...)
	}
	return t
}

// ListenOn tells the policy where this instance serves (its API, its
// profiler, its own PostgreSQL), so that checks never reach it.
// The address may be a name (localhost:6060): its port on this machine is
// refused all the same.
func (t *Targets) ListenOn(addr string) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ip = netip.IPv4Unspecified()
	}
	t.self = append(t.self, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
}

// own tells whether ip:port is one of this instance's listeners: the port
// of one, on its address or on any address of this machine (loopback, the
// unspecified address, which Linux connects to loopback, or an
// interface's).
func (t *Targets) own(ip netip.Addr, port uint16) bool {
	for _, self := range t.self {
		if self.Port() != port {
			continue
		}
		if self.Addr() == ip || ip.IsLoopback() || ip.IsUnspecified() || isLocal(ip) {
			return true
		}
	}
	return false
}

// ipv4Compatible is the deprecated range of IPv4-compatible addresses.
var ipv4Compatible = netip.MustParsePrefix("::/96")

// plain returns the IPv4 address an IPv4-mapped (::ffff:a.b.c.d) or
// IPv4-compatible (::a.b.c.d) address stands for, and any other as it is.
func plain(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() && !ip.IsUnspecified() && !ip.IsLoopback() && ipv4Compatible.Contains(ip) {
		b := ip.As16()
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return ip
}

// DeniedError is a target the policy refuses.
type DeniedError struct {
	Addr   netip.Addr
	Reason string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("address %s is not allowed: %s", e.Addr, e.Reason)
}

// CheckAddr says whether a check may connect to ip:port; nil if it may.
func (t *Targets) CheckAddr(ip netip.Addr, port uint16) error {
	if t == nil {
		return nil
	}
	ip = plain(ip)
	if t.own(ip, port) {
		return &DeniedError{ip, "it is this Uptime instance's own API or database"}
	}
	for _, p := range alwaysDenied {
		if p.Contains(ip) {
			return &DeniedError{ip, "link-local, cloud metadata, NAT64 and \"this network\" addresses are never checked"}
		}
	}
	for _, p := range t.deny {
		if !p.Contains(ip) {
			continue
		}
		for _, a := range t.allow {
			if a.Contains(ip) {
				return nil
			}
		}
		return &DeniedError{ip, "it is denied by --deny-targets, or private while the server listens beyond loopback (see --allow-targets)"}
	}
	return nil
}

// CheckHost checks a URL's host before anything is sent, without a lookup:
// an address is checked as it is, and localhost as loopback. Any other
// name is left to the dialer, which checks what it resolves to at each
// check.
func (t *Targets) CheckHost(host string, port uint16) error {
	if t == nil {
		return nil
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil
	}
	return t.CheckAddr(ip, port)
}

// CheckURL checks a site's URL before it is added: a denied address is
// refused. A name is not looked up here; a check of a name that resolves
// to a denied address is down, saying so.
func (t *Targets) CheckURL(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	return t.CheckHost(u.Hostname(), urlPort(u))
}

// Control is a net.Dialer Control function that refuses denied addresses
// just before the connection is made, after the name was resolved.
func (t *Targets) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("unexpected address %q", address)
	}
	return t.CheckAddr(ap.Addr(), ap.Port())
}

// isLocal reports whether ip is one of this machine's own addresses.
func isLocal(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if own, ok := netip.AddrFromSlice(n.IP); ok && own.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// CheckLiteral checks a URL's host without a lookup, as CheckHost does.
func (t *Targets) CheckLiteral(u *url.URL) error {
	return t.CheckHost(u.Hostname(), urlPort(u))
}

// CheckResolved checks every address the host resolves to now. It is for
// connections the dialer's Control cannot see: through a proxy, which
// resolves the name itself, or made by a library with its own dialer.
func (t *Targets) CheckResolved(ctx context.Context, host string, port uint16) error {
	if t == nil {
		return nil
	}
	if err := t.CheckHost(host, port); err != nil {
		return err
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // an address, checked above
	}
	if reserved(host) {
		return &net.DNSError{Err: "no such host (a name reserved by RFC 6761)", Name: host, IsNotFound: true}
	}
	addrs, err := t.lookup(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("look up %s: %w", host, err)
	}
	for _, a := range addrs {
		if err := t.CheckAddr(a, port); err != nil {
			return err
		}
	}
	return nil
}

// reserved tells whether a name is under a top-level domain that never
// resolves (RFC 6761: .example, .invalid, .test): no resolver is asked.
func reserved(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, tld := range []string{"example", "invalid", "test"} {
		if host == tld || strings.HasSuffix(host, "."+tld) {
			return true
		}
	}
	return false
}

// Dialer returns a dialer that connects only where the policy allows
// (nil allows everything).
func Dialer(t *Targets, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout, KeepAlive: -1}
	if t != nil {
		d.Control = t.Control
	}
	return d
}

// Transport returns an HTTP transport that connects only where the policy
// allows, directly or through the environment's proxy; its users tune
// the rest.
func Transport(t *Targets) *http.Transport {
	return &http.Transport{
		Proxy:               Proxy(t),
		DialContext:         Dialer(t, 10*time.Second).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
}

// Proxy is http.ProxyFromEnvironment under the policy: the dialer sees only
// the proxy's address, so with a proxy the request's own host is resolved
// and checked first, and a denied one is refused before the proxy hears
// of it.
func Proxy(t *Targets) func(*http.Request) (*url.URL, error) {
	return func(req *http.Request) (*url.URL, error) {
		proxy, err := http.ProxyFromEnvironment(req)
		if err != nil || proxy == nil || t == nil {
			return proxy, err
		}
		if err := t.CheckResolved(req.Context(), req.URL.Hostname(), urlPort(req.URL)); err != nil {
			return nil, err
		}
		return proxy, nil
	}
}

// urlPort is the port a URL connects to.
func urlPort(u *url.URL) uint16 {
	if p, err := strconv.ParseUint(u.Port(), 10, 16); err == nil {
		return uint16(p)
	}
	if strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "ws") {
		return 80
	}
	return 443
}
