package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthcheck runs `uptime healthcheck [PATH|URL]`: it asks the instance
// this configuration describes (UPTIME_ADDR or PORT) for /readyz, or the
// path or URL given, and succeeds on 200. An image built from scratch has
// no curl, so container health checks call the binary itself.
func healthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, rest, err := parse("healthcheck", args, stderr)
	if err != nil {
		return err
	}
	target := "/readyz"
	if len(rest) > 1 {
		return fmt.Errorf("usage: uptime healthcheck [/readyz|/healthz|URL]")
	}
	if len(rest) == 1 {
		target = rest[0]
	}
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return err
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		target = "http://" + net.JoinHostPort(host, port) + "/" + strings.TrimPrefix(target, "/")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", target, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "%s: %s\n", target, strings.TrimSpace(string(body)))
	return nil
}
