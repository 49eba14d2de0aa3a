package app_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"uptime/internal/app"
	"uptime/internal/apptest"
	"uptime/internal/fakeslack"
	"uptime/internal/testnet"
	"uptime/monitor/history"
)

// A tcp:// site goes through everything an http one does: checked, its
// history recorded, down once with its reason and back up, each heard by
// Slack once, naming the target as its kind shows it.
func TestATCPSiteEndToEnd(t *testing.T) {
	slack := fakeslack.New(t)
	var answer atomic.Value
	answer.Store("+PONG")
	addr := testnet.Serve(t, testnet.Listen(t), func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "%s\r\n", answer.Load())
	})
	a := apptest.Start(t, apptest.Setup{Env: map[string]string{"SLACK_WEBHOOK_URL": slack.URL + "/hook"}})
	target := "tcp://" + addr
	var added struct{ ID int }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "send": "PING\r\n", "expect": "+PONG"}`, target), &added)
	var up struct{ Up bool }
	a.Call(t, "POST", fmt.Sprintf("/check/%d", added.ID), "", &up)
	if !up.Up {
		t.Fatal("a tcp site answering as expected: down")
	}

	answer.Store("-ERR")
	a.Call(t, "POST", fmt.Sprintf("/check/%d", added.ID), "", &up)
	msgs := slack.Wait(1, 20*time.Second)
	if len(msgs) != 1 || !strings.Contains(msgs[0], target+" is down!") || !strings.Contains(msgs[0], `closed before \"+PONG\" came`) {
		t.Fatalf("Slack heard %q, want %s down, saying why", msgs, target)
	}
	answer.Store("+PONG")
	a.Call(t, "POST", fmt.Sprintf("/check/%d", added.ID), "", &up)
	msgs = slack.Wait(2, 20*time.Second)
	if len(msgs) != 2 || !strings.Contains(msgs[1], target+" is back up") {
		t.Fatalf("Slack heard %q, want %s back up", msgs, target)
	}
	var h history.HistoryResponse
	a.Call(t, "GET", fmt.Sprintf("/history/%d", added.ID), "", &h)
	downs := 0
	for _, c := range h.Checks {
		if !c.Up && strings.Contains(c.Reason, `got "-ERR\r\n"`) {
			downs++
		}
	}
	if len(h.Checks) < 3 || !h.Checks[0].Up || downs == 0 {
		t.Fatalf("history %+v, want checks up, down with the reply, up again", h.Checks)
	}
	time.Sleep(time.Second) // a third message would come meanwhile
	if msgs := slack.Wait(3, 0); len(msgs) != 2 {
		t.Fatalf("Slack heard %d messages, want each change once", len(msgs))
	}
}

// Every kind of check that can be made to fail on loopback goes down and
// back up through the whole program, each change heard by Slack once,
// naming the target as its URL shows it.
func TestEveryKindDownAndUpThroughSlack(t *testing.T) {
	slack := fakeslack.New(t)
	var healthy atomic.Bool
	healthy.Store(true)
	answer := func(good, bad string) string {
		if healthy.Load() {
			return good
		}
		return bad
	}
	cert, leaf := testnet.Certificate(t, 30*24*time.Hour, "localhost")
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	greet := func(c net.Conn) { fmt.Fprintf(c, "%s\r\n", answer("+OK ready", "-ERR busy")) }
	tcp := testnet.Serve(t, testnet.Listen(t), greet)
	tlsAddr := testnet.Serve(t, tls.NewListener(testnet.Listen(t), &tls.Config{Certificates: []tls.Certificate{cert}}), greet)
	imap := testnet.Serve(t, testnet.Listen(t), func(c net.Conn) {
		r := bufio.NewReader(c)
		fmt.Fprint(c, "* OK IMAP ready\r\n")
		r.ReadString('\n')
		fmt.Fprintf(c, "%s\r\n", answer("u1 OK begin TLS", "u1 NO not now"))
		if healthy.Load() {
			tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
		}
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if healthy.Load() {
			rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 192.0.2.10")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go dnsSrv.ActivateAndServe()
	defer dnsSrv.Shutdown()
	hs := health.NewServer()
	grpcSrv := grpc.NewServer()
	healthpb.RegisterHealthServer(grpcSrv, hs)
	grpcLn := testnet.Listen(t)
	go grpcSrv.Serve(grpcLn)
	defer grpcSrv.Stop()
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err == nil {
			c.Write(r.Context(), websocket.MessageText, []byte("hello"))
			c.Close(websocket.StatusNormalClosure, "")
		}
	}))
	defer ws.Close()

	transport := testnet.Transport()
	transport.TLSClientConfig.RootCAs = pool
	a := apptest.Start(t, apptest.Setup{Env: map[string]string{"SLACK_WEBHOOK_URL": slack.URL + "/hook"},
		Options: app.Options{CheckTransport: transport}})
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	sites := []struct{ url, settings string }{
		{"tcp://" + tcp, `"expect": "+OK"`},
		{"tls://localhost:" + port(tlsAddr), `"expect": "+OK"`},
		{"starttls://localhost:" + port(imap), `"starttls_protocol": "imap"`},
		{"dns://www.example.test", `"dns_server": "` + pc.LocalAddr().String() + `"`},
		{"grpc://" + grpcLn.Addr().String(), `"confirmations": 0`},
		{"ws" + strings.TrimPrefix(ws.URL, "http") + "/feed", `"expect": "hello"`},
	}
	ids := make([]int, len(sites))
	for i, s := range sites {
		var added struct{ ID int }
		a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, %s}`, s.url, s.settings), &added)
		ids[i] = added.ID
	}
	checkAll := func(wantUp bool) {
		t.Helper()
		for i, id := range ids {
			var res struct {
				Up     bool
				Reason string
			}
			a.Call(t, "POST", fmt.Sprintf("/check/%d", id), "", &res)
			if res.Up != wantUp {
				t.Fatalf("%s: up %v (%s), want %v", sites[i].url, res.Up, res.Reason, wantUp)
			}
		}
	}
	checkAll(true)
	healthy.Store(false)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	checkAll(false)
	slack.Wait(len(sites), 30*time.Second)
	healthy.Store(true)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	checkAll(true)
	msgs := slack.Wait(2*len(sites), 30*time.Second)
	time.Sleep(time.Second) // no message more comes
	msgs = slack.Wait(2*len(sites)+1, 0)
	for _, s := range sites {
		down, up := 0, 0
		for _, m := range msgs {
			down += strings.Count(m, s.url+" is down!")
			up += strings.Count(m, s.url+" is back up")
		}
		if down != 1 || up != 1 {
			t.Errorf("%s: Slack heard it down %d times and up %d times, want once each; all: %q", s.url, down, up, msgs)
		}
	}
}
