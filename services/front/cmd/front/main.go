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
	"time"

	"github.com/signoff/signoff/services/front"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/natsconn"
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
	cfg, err := service.LoadConfig(flags, getenv)
	if err != nil {
		return err
	}
	logger := service.Logger(cfg.Log, stdout)
	ks, err := keys.Load(cfg.Keys, cfg.SigningAlgs(), logger)
	if err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	conn, err := natsconn.Connect(ctx, cfg.NATS, "signoff-front", logger)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	err = front.Run(ctx, cfg, front.Deps{NATS: conn, Keys: ks, Logger: logger})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
