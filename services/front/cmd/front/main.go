// Command front runs signoff's front service alone, against the NATS
// server that nats.url names (or an embedded one when it is empty), so that
// fronts scale out behind a load balancer.
package main

import (
	"context"
	"errors"
	"flag"
	"io"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/signoff/signoff/services/front"
	"github.com/signoff/signoff/shared/service"
)

func main() { service.Main("front", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var metricsListen string
	flags, err := service.Parse("front", args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&metricsListen, "metrics-listen", "", "host:port that also serves /metrics and /healthz without authentication (on listen, /metrics needs the API token)")
	})
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
	ln, err := front.Listen(cfg) // a taken port stops it before anything starts
	if err != nil {
		return err
	}
	defer ln.Close() // on the way out before the front serves; after, a no-op
	env, err := service.Boot(ctx, cfg, "signoff-front", true, logger)
	if err != nil {
		return err
	}
	defer env.Close(ctx)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g, gctx := errgroup.WithContext(ctx)
	stopOps := func() {}
	if metricsListen != "" {
		ops, err := service.ListenOps(metricsListen, reg, env.NATS, nil, logger)
		if err != nil {
			return err
		}
		g.Go(ops.Serve)
		stopOps = func() { ops.Shutdown(ctx) }
	}
	g.Go(func() error {
		defer stopOps()
		return front.Run(gctx, cfg, front.Deps{NATS: env.NATS, Keys: env.Keys, Logger: logger, Metrics: reg, Listener: ln})
	})
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
