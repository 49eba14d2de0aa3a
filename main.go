// Command uptime is a self-hosted uptime monitor: see README.md, or run
// "uptime help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"uptime/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
