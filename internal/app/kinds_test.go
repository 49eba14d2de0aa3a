package app_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"uptime/internal/apptest"
	"uptime/internal/fakeslack"
	"uptime/monitor"
)

// A tcp:// site goes through everything an http one does: checked, its
// history recorded, down once with its reason and back up, each heard by
// Slack once, naming the target as its kind shows it.
func TestATCPSiteEndToEnd(t *testing.T) {
	slack := fakeslack.New(t)
	var answer atomic.Value
	answer.Store("+PONG")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				bufio.NewReader(c).ReadString('\n')
				fmt.Fprintf(c, "%s\r\n", answer.Load())
			}()
		}
	}()
	a := apptest.Start(t, apptest.Setup{Env: map[string]string{"SLACK_WEBHOOK_URL": slack.URL + "/hook"}})
	target := "tcp://" + ln.Addr().String()
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
	var h monitor.HistoryResponse
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
	time.Sleep(time.Second)
	if msgs := slack.Wait(3, 0); len(msgs) != 2 {
		t.Fatalf("Slack heard %d messages, want each change once", len(msgs))
	}
}
