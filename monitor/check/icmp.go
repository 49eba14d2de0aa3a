package check

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"uptime/internal/ping"
)

// ICMP is the check of an icmp:// host: of Count echo requests, at most
// MaxLoss percent go unanswered. Its latency is the answers' mean round
// trip.
type ICMP struct {
	Host    string
	Count   int
	MaxLoss int
}

// Do resolves the host, sends the echo requests one after another, each
// given an equal share of the time, and counts the answers.
func (p *ICMP) Do(ctx context.Context, a *Attempt) {
	ip, err := p.resolve(ctx)
	if err != nil {
		a.Reason = a.reason(ctx, err)
		return
	}
	if err := a.targets.CheckAddr(ip, 0); err != nil {
		a.Reason = err.Error()
		return
	}
	conn, raw, err := ping.Listen(ip.Is4())
	if err != nil {
		a.Reason = err.Error()
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	var dst net.Addr = &net.UDPAddr{IP: ip.AsSlice()}
	if raw {
		dst = &net.IPAddr{IP: ip.AsSlice()}
	}
	id := rand.IntN(1 << 16)
	share := a.Timeout / time.Duration(p.Count)
	var (
		answered int
		total    time.Duration
	)
	for seq := 1; seq <= p.Count && ctx.Err() == nil; seq++ {
		rtt, err := echo(ctx, conn, dst, ip.Is4(), raw, id, seq, share)
		if err == nil {
			answered++
			total += rtt
		}
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
		a.Reason = "check canceled"
		return
	}
	lost := p.Count - answered
	if answered > 0 {
		a.Latency = total / time.Duration(answered)
	}
	if loss := lost * 100 / p.Count; loss > p.MaxLoss || answered == 0 {
		a.Reason = fmt.Sprintf("%d of %d echo requests lost", lost, p.Count)
		if answered > 0 {
			a.Reason += fmt.Sprintf(" (%d%%, above max_loss %d%%)", loss, p.MaxLoss)
		}
		return
	}
	a.Up = true
}

// resolve returns the host's address: itself, or the first its name
// resolves to, IPv4 first.
func (p *ICMP) resolve(ctx context.Context) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(p.Host); err == nil {
		return ip.Unmap(), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", p.Host)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, ip := range addrs {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	if len(addrs) == 0 {
		return netip.Addr{}, &net.DNSError{Err: "no address", Name: p.Host, IsNotFound: true}
	}
	return addrs[0], nil
}

// echo sends one echo request and waits, at most wait, for its answer.
func echo(ctx context.Context, conn *icmp.PacketConn, dst net.Addr, v4, raw bool, id, seq int, wait time.Duration) (time.Duration, error) {
	typ, reply, proto := icmp.Type(ipv4.ICMPTypeEcho), icmp.Type(ipv4.ICMPTypeEchoReply), 1
	if !v4 {
		typ, reply, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("uptime monitor echo")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	sent := time.Now()
	if _, err := conn.WriteTo(b, dst); err != nil {
		return 0, err
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return 0, err
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != reply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		// A datagram socket's kernel sets the id and hands this socket
		// its own answers; a raw one hears every answer to this host.
		if !ok || e.Seq != seq || raw && e.ID != id {
			continue
		}
		return time.Since(sent), nil
	}
}
