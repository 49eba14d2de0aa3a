package check

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"uptime/internal/text"
)

// DNS is the check of a dns:// name: the server answers the question with
// the rcode expected and, with Expect, an answer of the question's type
// holding one of the expected values.
type DNS struct {
	// Name is the name asked about.
	Name string
	// Type is the record type asked for, as dns.StringToType has it.
	Type uint16
	// Server is the server asked, as host:port; empty for the system's
	// resolver, which is not held to the target policy: it is not a target
	// but the machine's own.
	Server string
	// RCode is the answer's expected code, as dns.StringToRcode has it.
	RCode int
	// Expect are values one of which an answer must hold; none for any.
	Expect []string
}

// resolvConf is where the system's resolver is named.
const resolvConf = "/etc/resolv.conf"

// Do asks the question, over UDP and again over TCP when the answer is
// truncated, and judges the answer.
func (d *DNS) Do(ctx context.Context, a *Attempt) {
	server, dial := d.Server, a.dial
	if server == "" {
		cfg, err := dns.ClientConfigFromFile(resolvConf)
		if err != nil || len(cfg.Servers) == 0 {
			a.Reason = "no DNS server to ask: " + resolvConf + " names none"
			return
		}
		server, dial = net.JoinHostPort(cfg.Servers[0], cfg.Port), (&net.Dialer{}).DialContext
	} else {
		host, portText, _ := net.SplitHostPort(server)
		port, _ := strconv.ParseUint(portText, 10, 16)
		if err := a.targets.CheckHost(host, uint16(port)); err != nil {
			a.Reason = "DNS server " + err.Error()
			return
		}
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(d.Name), d.Type)
	q.RecursionDesired = true
	in, err := exchange(ctx, dial, "udp", server, q)
	if err == nil && in.Truncated {
		in, err = exchange(ctx, dial, "tcp", server, q)
	}
	if err != nil {
		a.Reason = "DNS: " + a.streamReason(ctx, err)
		return
	}
	if in.Rcode != d.RCode {
		a.Reason = fmt.Sprintf("%s, expected %s", rcodeName(in.Rcode), rcodeName(d.RCode))
		return
	}
	if len(d.Expect) == 0 {
		a.Up = true
		return
	}
	var got []string
	for _, rr := range in.Answer {
		if rr.Header().Rrtype != d.Type {
			continue
		}
		v := answerValue(rr)
		got = append(got, v)
		for _, want := range d.Expect {
			if strings.Contains(strings.ToLower(v), strings.ToLower(strings.TrimSuffix(want, "."))) {
				a.Up = true
				return
			}
		}
	}
	what := "no answer"
	if len(got) > 0 {
		what = "got " + quoteList(got)
	}
	a.Reason = fmt.Sprintf("no %s answer holds %s; %s", dns.TypeToString[d.Type], quoteList(d.Expect), what)
}

// exchange asks q of server over the network, on a connection of dial's,
// within ctx.
func exchange(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), network, server string, q *dns.Msg) (*dns.Msg, error) {
	conn, err := dial(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	c := &dns.Client{Net: network}
	in, _, err := c.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: conn})
	return in, err
}

// answerValue is what of a record an expected value is looked for in:
// an address, a name, a text.
func answerValue(rr dns.RR) string {
	switch r := rr.(type) {
	case *dns.A:
		return r.A.String()
	case *dns.AAAA:
		return r.AAAA.String()
	case *dns.CNAME:
		return strings.TrimSuffix(r.Target, ".")
	case *dns.MX:
		return strings.TrimSuffix(r.Mx, ".")
	case *dns.NS:
		return strings.TrimSuffix(r.Ns, ".")
	case *dns.PTR:
		return strings.TrimSuffix(r.Ptr, ".")
	case *dns.SRV:
		return strings.TrimSuffix(r.Target, ".")
	case *dns.TXT:
		return strings.Join(r.Txt, "")
	case *dns.CAA:
		return r.Value
	case *dns.SOA:
		return strings.TrimSuffix(r.Ns, ".")
	}
	h := rr.Header().String()
	return strings.TrimSpace(strings.TrimPrefix(rr.String(), h))
}

func rcodeName(code int) string {
	if name, ok := dns.RcodeToString[code]; ok {
		return name
	}
	return "rcode " + strconv.Itoa(code)
}

// quoteList quotes values for a reason, at most five.
func quoteList(values []string) string {
	out := make([]string, 0, min(len(values), 5))
	for _, v := range values[:min(len(values), 5)] {
		out = append(out, strconv.Quote(text.Cut(v, 100)))
	}
	s := strings.Join(out, ", ")
	if len(values) > 5 {
		s += fmt.Sprintf(" and %d more", len(values)-5)
	}
	return s
}
