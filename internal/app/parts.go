package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/alarm"
	"uptime/internal/queue"
	"uptime/monitor"
)

// A part is a piece of the running program with a beginning and an end:
// the job queue, the watch on the databases, the HTTP server, the
// monitor's own work. Run builds them, starts them in the order listed and
// stops those started in the reverse order, each once.
type part struct {
	name  string
	start func(context.Context) error
	stop  func(context.Context) error
}

// startParts starts the parts in order. If one fails, those already
// started are stopped again. The stop it returns stops them all in the
// reverse order and joins what went wrong; it does nothing a second time.
func startParts(ctx context.Context, parts []part) (stop func(context.Context) error, err error) {
	started := 0
	stop = func(ctx context.Context) error {
		var errs []error
		for ; started > 0; started-- {
			p := parts[started-1]
			if err := p.stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", p.name, err))
			}
		}
		return errors.Join(errs...)
	}
	for _, p := range parts {
		if err := p.start(ctx); err != nil {
			return nil, errors.Join(fmt.Errorf("start %s: %w", p.name, err), stop(context.WithoutCancel(ctx)))
		}
		started++
	}
	return stop, nil
}

// within gives a stop at most d.
func within(d time.Duration, stop func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return stop(ctx)
	}
}

// queuePart runs River's client: jobs, cron, leader election. Its stop
// lets running jobs finish for up to 30 seconds.
func queuePart(q *queue.Queue, db *pgxpool.Pool, log *slog.Logger) part {
	return part{
		name: "the job queue",
		// River's client lives until Stop, not until the start's context ends.
		start: func(ctx context.Context) error { return q.Start(context.WithoutCancel(ctx), db, log) },
		stop:  within(30*time.Second, q.Stop),
	}
}

// watchPart pings the databases every few seconds, raising down while
// they do not answer.
func watchPart(h health, down *alarm.Alarm) part {
	var cancel context.CancelFunc
	done := make(chan struct{})
	return part{
		name: "the watch on the databases",
		start: func(ctx context.Context) error {
			ctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
			go func() {
				defer close(done)
				watchDatabases(ctx, h, down)
			}()
			return nil
		},
		stop: func(context.Context) error {
			cancel()
			<-done
			return nil
		},
	}
}

// monitorPart is the monitor's own work: the location's announcements,
// the watchdog, the stand-in for a lost leader, and the check-all runs.
// Listed last, it is stopped first, so that a check-all run going is cut
// short before the HTTP server waits for the requests waiting for it.
func monitorPart(mon *monitor.Service) part {
	return part{name: "the monitor", start: mon.Start, stop: within(30*time.Second, mon.Stop)}
}

// webServer serves the API on a listener.
type webServer struct {
	srv    *http.Server
	ln     net.Listener
	failed chan error // Serve's error, should it end by itself
}

func newWebServer(ln net.Listener, h http.Handler, log *slog.Logger) *webServer {
	return &webServer{ln: ln, failed: make(chan error, 1), srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
}

// part serves until stopped; its stop finishes the requests in flight,
// for up to 20 seconds, then closes their connections, which ends their
// contexts.
func (w *webServer) part() part {
	return part{
		name: "the HTTP server",
		start: func(context.Context) error {
			go func() { w.failed <- w.srv.Serve(w.ln) }()
			return nil
		},
		stop: within(20*time.Second, func(ctx context.Context) error {
			if err := w.srv.Shutdown(ctx); err != nil {
				w.srv.Close()
			}
			return nil
		}),
	}
}

// profilerPart serves Go's profiler on addr, a loopback address.
func profilerPart(addr string, log *slog.Logger) part {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return part{
		name: "the profiler",
		start: func(context.Context) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on --debug-addr %s: %w", addr, err)
			}
			go srv.Serve(ln)
			log.Info("profiler listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
			return nil
		},
		stop: func(context.Context) error { return srv.Close() },
	}
}

// serve waits until ctx ends or the HTTP server fails. Then it makes the
// instance unready at once, so that load balancers stop sending requests,
// and goes on serving (and checking) for delay while they notice.
func (a *App) serve(ctx context.Context, web *webServer, h health, delay time.Duration) error {
	select {
	case <-ctx.Done():
	case err := <-web.failed:
		return fmt.Errorf("serve: %w", err)
	}
	h.draining.Store(true)
	if delay > 0 {
		a.log.Info("shutting down: /readyz answers 503; serving on while load balancers notice", "for", delay)
		select {
		case <-time.After(delay):
		case err := <-web.failed:
			return fmt.Errorf("serve: %w", err)
		}
	}
	a.log.Info("shutting down")
	return nil
}
