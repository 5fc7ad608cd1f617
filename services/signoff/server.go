package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/signoff/signoff/services/front"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/service"
)

// runServer runs signoff until ctx ends, then shuts down in order: HTTP
// intake, consumers, the NATS connection, the embedded server last.
func runServer(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var metricsListen string
	flags, err := service.Parse("signoff", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&metricsListen, "metrics-listen", "", "host:port that also serves /metrics and /healthz without authentication (on listen, /metrics needs the API token)")
		fs.Usage = func() {
			fmt.Fprint(fs.Output(), "Usage:\n  signoff [flags]        run the front, every built-in worker and (without nats.url) NATS\n"+
				"  signoff hint [flags]   print an id_token_hint for trying the end-session endpoint (signoff hint -h)\n\nFlags:\n")
			fs.PrintDefaults()
		}
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
	// The port first: taken, it stops signoff before NATS and the workers
	// start.
	ln, err := front.Listen(cfg)
	if err != nil {
		return err
	}
	defer ln.Close() // on the way out before the front serves; after, a no-op
	env, err := service.Boot(ctx, cfg, "signoff", true, logger)
	if err != nil {
		return err
	}
	defer func() {
		env.Close(ctx)
		logger.Info("signoff stopped")
	}()
	conn, ks := env.NATS, env.Keys
	logger.Info("signoff starting", "issuer", cfg.Issuer, "listen", cfg.Listen,
		"nats", natsDescription(cfg.NATS.URL, cfg.NATS.Listen), "clients", len(cfg.Clients))

	if addr := getenv(config.EnvDebugPprof); addr != "" {
		go servePprof(addr, logger)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Workers stop after the front: requests in flight may wait on their
	// deliveries.
	workersCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	if metricsListen != "" {
		ops, err := service.ListenOps(metricsListen, reg, conn, nil, logger)
		if err != nil {
			return err
		}
		// Served until the front and every worker have drained: the
		// deferred Shutdown runs after g.Wait.
		go func() {
			if err := ops.Serve(); err != nil {
				logger.Error("metrics listener", "err", err)
			}
		}()
		defer ops.Shutdown(ctx)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, w := range builtins(cfg, workerDeps{js: conn.JS, keys: ks, logger: logger, metrics: reg}) {
		g.Go(func() error {
			if err := w.run(workersCtx); err != nil {
				return fmt.Errorf("%s worker: %w", w.kind, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer stopWorkers()
		err := front.Run(gctx, cfg, front.Deps{NATS: conn, Keys: ks, Logger: logger, Metrics: reg, Listener: ln})
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	})
	return g.Wait()
}

func natsDescription(urls, listen string) string {
	if urls != "" {
		// Never log credentials that a URL may carry.
		var out []string
		for _, raw := range strings.Split(urls, ",") {
			if u, err := url.Parse(strings.TrimSpace(raw)); err == nil && u.User != nil {
				u.User = url.User("redacted")
				raw = u.String()
			}
			out = append(out, raw)
		}
		return strings.Join(out, ",")
	}
	if listen != "" {
		return "embedded, nats://" + listen
	}
	return "embedded, in-process only"
}
