package check_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"uptime/internal/egress"
	"uptime/monitor/check"
)

// An icmp:// check of loopback is answered, every echo, with a round trip
// for latency; the target policy holds. CI runs as root, where a raw
// socket can be had when datagram ones are not allowed.
func TestICMPChecks(t *testing.T) {
	ctx := context.Background()
	checker := check.NewChecker(time.Second, nil, nil)
	res := checker.Run(ctx, stream(t, "icmp://127.0.0.1", `{"count": 3}`))
	if !res.Up || res.Reason != "" || res.Latency <= 0 || res.Latency > 100*time.Millisecond {
		t.Fatalf("ping of loopback: %+v", res)
	}
	res = checker.Run(ctx, stream(t, "icmp://localhost", `{}`))
	if !res.Up {
		t.Fatalf("ping of localhost: %+v", res)
	}
	denying := check.NewChecker(time.Second, nil, egress.NewTargets(nil, nil, true))
	if res := denying.Run(ctx, stream(t, "icmp://127.0.0.1", `{}`)); res.Up || !strings.Contains(res.Reason, "not allowed") {
		t.Fatalf("ping of loopback with loopback denied: %+v", res)
	}
}

// Where nothing answers, every echo is lost within the timeout. Run in a
// network namespace of loopback alone, where 10.9.9.0/24 is routed to
// loopback and answered by no one, so no echo leaves the machine.
func TestICMPLostEchoes(t *testing.T) {
	if os.Getenv("ICMP_IN_NAMESPACE") == "" {
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Fatalf("unshare (util-linux) is needed to ping inside a network namespace: %v", err)
		}
		cmd := exec.Command("unshare", "-n", "sh", "-c", `ip link set lo up && ip route add 10.9.9.0/24 dev lo && exec "$0" -test.run='^TestICMPLostEchoes$' -test.v`, os.Args[0])
		cmd.Env = append(os.Environ(), "ICMP_IN_NAMESPACE=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestICMPLostEchoes") {
			t.Fatalf("in a network namespace: %v\n%s", err, out)
		}
		return
	}
	checker := check.NewChecker(time.Second, nil, nil)
	start := time.Now()
	res := checker.Run(context.Background(), stream(t, "icmp://10.9.9.9", `{"count": 2, "timeout": "400ms"}`))
	if res.Up || res.Reason != "2 of 2 echo requests lost" {
		t.Fatalf("ping of an address that answers nothing: %+v", res)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the check took %s, past its timeout of 400ms", took)
	}
}
