// Command front runs signoff's front service alone, against the NATS
// server that nats.url names (or an embedded one when it is empty), so that
// fronts scale out behind a load balancer.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/signoff/signoff/services/front"
	"github.com/signoff/signoff/shared/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, service.ErrHelp) {
			fmt.Fprintln(os.Stderr, "front:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags, _, err := service.Parse("front", args[1:], getenv, stderr, nil)
	if err != nil {
		return err
	}
	if flags.Healthcheck != "" {
		return service.Probe(ctx, flags.Healthcheck)
	}
	cfg, err := service.LoadConfig(flags, getenv)
	if err != nil {
		return err
	}
	logger := service.Logger(cfg.Log, stdout)
	env, err := service.Boot(ctx, cfg, "signoff-front", true, logger)
	if err != nil {
		return err
	}
	defer env.Close(ctx)
	err = front.Run(ctx, cfg, front.Deps{NATS: env.NATS, Keys: env.Keys, Logger: logger})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
