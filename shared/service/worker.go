package service

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

// Worker declares a standalone propagation worker's main.
type Worker struct {
	// Name names the command, its NATS connection and its errors.
	Name string
	// MetricsListen is the default of -metrics-listen.
	MetricsListen string
	// NeedsKeys loads the signing keys (the ones the fronts publish).
	NeedsKeys bool
	// Flags adds the worker's own flags (nil: none) to the common ones
	// (-config, -nats-url, -metrics-listen, -healthcheck); they are parsed
	// before Run is called. The worker's own settings go there, or in its
	// environment: signoff's configuration file refuses keys it does not
	// know.
	Flags func(*flag.FlagSet)
	// Run runs the worker until ctx ends.
	Run func(ctx context.Context, cfg *config.Config, d WorkerDeps) error
}

// WorkerDeps is what RunWorker builds for a worker.
type WorkerDeps struct {
	JS      jetstream.JetStream
	Keys    *keys.Set // nil unless NeedsKeys
	Logger  *slog.Logger
	Metrics prometheus.Registerer
	// Ready is to be called once the worker takes logouts (its consumers
	// are bound): /readyz answers 200 from then on.
	Ready func()
}

// RunWorker is the main of a standalone worker: it reads flags and the
// configuration, connects to the NATS server that nats.url names, declares
// the streams, serves /metrics, /healthz and /readyz on -metrics-listen, and runs w
// until ctx ends; then the worker drains, the metrics server stops, and the
// connection drains, in that order.
func RunWorker(ctx context.Context, w Worker, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var metricsListen string
	flags, err := parse(w.Name, args[1:], getenv, stderr, worker, func(fs *flag.FlagSet) {
		fs.StringVar(&metricsListen, "metrics-listen", w.MetricsListen, "host:port that serves /metrics, /healthz and /readyz")
		if w.Flags != nil {
			w.Flags(fs)
		}
	})
	if err != nil {
		return err
	}
	if flags.Healthcheck != "" {
		return Probe(ctx, flags.Healthcheck)
	}
	cfg, err := LoadConfig(flags, getenv)
	if err != nil {
		return err
	}
	if cfg.NATS.URL == "" {
		// An embedded server would be this process's alone: no front
		// publishes to it, so the worker would never receive a logout.
		return errors.New("nats.url is required: a standalone worker shares NATS with the fronts")
	}
	logger := Logger(cfg.Log, stdout)
	env, err := Boot(ctx, cfg, "signoff-"+w.Name, w.NeedsKeys, logger)
	if err != nil {
		return err
	}
	defer env.Close(ctx)
	conn := env.NATS
	var ready atomic.Bool
	d := WorkerDeps{JS: conn.JS, Keys: env.Keys, Logger: logger, Ready: func() { ready.Store(true) }}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.Metrics = reg
	ops, err := ListenOps(metricsListen, reg, conn, ready.Load, logger)
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(ops.Serve)
	g.Go(func() error {
		// The worker drains first; metrics are served until it has.
		defer ops.Shutdown(ctx)
		return w.Run(gctx, cfg, d)
	})
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
