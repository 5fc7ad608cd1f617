package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/signoff/signoff/services/front"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/service"
)

var errHelp = flag.ErrHelp

// runServer runs signoff until ctx ends, then shuts down in order: HTTP
// intake, consumers, the NATS connection, the embedded server last.
func runServer(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags, _, err := service.Parse("signoff", args, getenv, stderr, nil)
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
	conn, err := natsconn.Connect(ctx, cfg.NATS, "signoff", logger)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		conn.Close(closeCtx)
		logger.Info("signoff stopped")
	}()
	logger.Info("signoff starting", "issuer", cfg.Issuer, "listen", cfg.Listen,
		"nats", natsDescription(cfg.NATS.URL, cfg.NATS.Listen), "clients", len(cfg.Clients))
	err = front.Run(ctx, cfg, front.Deps{NATS: conn, Keys: ks, Logger: logger})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func natsDescription(url, listen string) string {
	if url != "" {
		return url
	}
	if listen != "" {
		return "embedded, nats://" + listen
	}
	return "embedded, in-process only"
}
