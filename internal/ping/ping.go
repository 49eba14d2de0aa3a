// Package ping opens the sockets ICMP echo requests are sent on: for the
// checks of icmp:// sites, and for refusing such a site where this
// process can open none.
package ping

import (
	"fmt"
	"os"
	"sync/atomic"

	"golang.org/x/net/icmp"
)

// Listen opens a socket for echo requests: an unprivileged datagram
// socket where net.ipv4.ping_group_range lets this process's group have
// one, a raw socket otherwise (as root, or with CAP_NET_RAW). raw tells
// which. The error says what to change when neither can be had.
func Listen(v4 bool) (conn *icmp.PacketConn, raw bool, err error) {
	dgram, rawNet, any := "udp4", "ip4:icmp", "0.0.0.0"
	if !v4 {
		dgram, rawNet, any = "udp6", "ip6:ipv6-icmp", "::"
	}
	if conn, err := icmp.ListenPacket(dgram, any); err == nil {
		return conn, false, nil
	}
	conn, err = icmp.ListenPacket(rawNet, any)
	if err != nil {
		return nil, false, fmt.Errorf("icmp:// checks need an ICMP socket, and this process may open none: let its group send pings "+
			"(sysctl -w net.ipv4.ping_group_range=\"0 %d\") or give it CAP_NET_RAW (%v)", os.Getgid(), err)
	}
	return conn, true, nil
}

// available remembers that a socket could be had: an import of many
// icmp:// sites asks once, not once a site.
var available atomic.Bool

// Available tells, with an error saying what to change, whether this
// process can send echo requests.
func Available() error {
	if available.Load() {
		return nil
	}
	conn, _, err := Listen(true)
	if err != nil {
		return err
	}
	available.Store(true)
	return conn.Close()
}
