package app

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// The parts start in the order listed and stop in the reverse, each once;
// a part that fails to start stops those started before it.
func TestPartsStartInOrderAndStopInReverse(t *testing.T) {
	var log []string
	p := func(name string, failStart, failStop bool) part {
		return part{
			name: name,
			start: func(context.Context) error {
				log = append(log, "start "+name)
				if failStart {
					return errors.New("refused")
				}
				return nil
			},
			stop: func(context.Context) error {
				log = append(log, "stop "+name)
				if failStop {
					return errors.New("stuck")
				}
				return nil
			},
		}
	}
	ctx := context.Background()
	stop, err := startParts(ctx, []part{p("queue", false, false), p("web", false, true), p("monitor", false, false)})
	if err != nil {
		t.Fatal(err)
	}
	err = stop(ctx)
	if got := strings.Join(log, ", "); got != "start queue, start web, start monitor, stop monitor, stop web, stop queue" {
		t.Errorf("ran %s", got)
	}
	if err == nil || err.Error() != "stop web: stuck" {
		t.Errorf("stop = %v, want what went wrong, named", err)
	}
	log = nil
	if err := stop(ctx); err != nil || len(log) > 0 {
		t.Errorf("a second stop ran %v, %v; want nothing", log, err)
	}

	_, err = startParts(ctx, []part{p("queue", false, false), p("web", true, false), p("monitor", false, false)})
	if got := strings.Join(log, ", "); got != "start queue, start web, stop queue" {
		t.Errorf("with web refusing to start, ran %s", got)
	}
	if err == nil || !strings.Contains(err.Error(), "start web: refused") {
		t.Errorf("start = %v, want the part that failed named", err)
	}
}
