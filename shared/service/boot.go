package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/natsconn"
)

// Env is what every signoff main starts from.
type Env struct {
	Config *config.Config
	Logger *slog.Logger
	// Keys are the signing keys; nil unless asked for.
	Keys *keys.Set
	NATS *natsconn.Conn
}

// Boot is the common start of every main: it builds the logger from cfg,
// loads the signing keys when needKeys, connects to NATS (or starts the
// embedded server) as client name, and declares the streams. Close undoes
// it.
func Boot(ctx context.Context, cfg *config.Config, name string, needKeys bool, logger *slog.Logger) (*Env, error) {
	e := &Env{Config: cfg, Logger: logger}
	if needKeys {
		ks, err := keys.Load(cfg.Keys, cfg.SigningAlgs(), logger)
		if err != nil {
			return nil, fmt.Errorf("loading signing keys: %w", err)
		}
		e.Keys = ks
	}
	conn, err := natsconn.Connect(ctx, cfg.NATS, name, logger)
	if err != nil {
		return nil, err
	}
	e.NATS = conn
	if err := natsconn.EnsureStreams(ctx, conn.JS, cfg, logger); err != nil {
		e.Close(ctx)
		return nil, err
	}
	return e, nil
}

// Close drains the NATS connection and stops the embedded server, within
// ten seconds, even when ctx has ended: it is the last step of a shutdown.
func (e *Env) Close(ctx context.Context) {
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	e.NATS.Close(closeCtx)
}
