// Command signoff is the all-in-one single-logout orchestrator: an
// embedded NATS JetStream server (unless nats.url names one), the front and
// every built-in propagation worker, in one process.
//
//	signoff -config deployments/signoff.yaml
//	signoff hint -config deployments/signoff.yaml -client app1 -sub alice -sid s1
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errHelp) {
			fmt.Fprintln(os.Stderr, "signoff:", err)
		}
		os.Exit(1)
	}
}

// run is main with its dependencies passed in, so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 && args[1] == "hint" {
		return runHint(ctx, args[2:], getenv, stdout, stderr)
	}
	return runServer(ctx, args[1:], getenv, stdout, stderr)
}
