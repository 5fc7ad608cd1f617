// Command notify-worker is an example of a propagation worker built on
// signoff's framework (shared/propagate), outside signoff's own modules: it
// posts a chat message to a client team's incoming webhook for each logout
// of that client. docs/workers.md walks through it.
//
// It reads signoff's configuration file (for the clients) and needs the
// NATS server that the fronts use. With `make run` in the repository root:
//
//	go run ./examples/notify-worker -config deployments/signoff.yaml \
//	  -nats-url nats://127.0.0.1:4222 -hook app1=http://127.0.0.1:9009/hook
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/service"
)

func main() { service.Main("notify-worker", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	hooks := hookFlag{}
	flags, err := service.Parse("notify-worker", args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		fs.Var(hooks, "hook", "client_id=URL: the client's incoming webhook (repeat per client)")
	})
	if err != nil {
		return err
	}
	cfg, err := service.LoadConfig(flags, getenv) // -config, SIGNOFF_* env, -nats-url
	if err != nil {
		return err
	}
	if cfg.NATS.URL == "" {
		return errors.New("nats.url is required: the worker shares NATS with the fronts")
	}
	logger := service.Logger(cfg.Log, stdout)
	conn, err := natsconn.Connect(ctx, cfg.NATS, "signoff-notify-worker", logger)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		conn.Close(closeCtx) // after the worker has drained
	}()
	if err := natsconn.EnsureStreams(ctx, conn.JS, cfg, logger); err != nil {
		return err
	}

	n := NewNotifier(nil, hooks)
	return propagate.Run(ctx, propagate.Options{
		Kind:       Kind,
		Wants:      n.Wants,
		Propagator: n,
		JS:         conn.JS,
		Clients:    cfg.Registry(),
		Logger:     logger,
	})
}

// hookFlag collects -hook client_id=URL flags.
type hookFlag map[string]string

func (h hookFlag) String() string { return fmt.Sprint(map[string]string(h)) }

func (h hookFlag) Set(v string) error {
	id, url, ok := strings.Cut(v, "=")
	if !ok || id == "" || url == "" {
		return fmt.Errorf("%q is not client_id=URL", v)
	}
	h[id] = url
	return nil
}
