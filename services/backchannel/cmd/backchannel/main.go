// Command backchannel runs signoff's back-channel logout worker alone,
// against the NATS server that nats.url names, so that workers scale out
// independently of the fronts. It serves Prometheus metrics at /metrics and
// a liveness check at /healthz on -metrics-listen.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/signoff/signoff/services/backchannel"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/service"
)

// defaultMetricsListen is where /metrics and /healthz are served.
const defaultMetricsListen = "127.0.0.1:9101"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, service.ErrHelp) {
			fmt.Fprintln(os.Stderr, "backchannel:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var metricsListen string
	flags, _, err := service.Parse("backchannel", args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&metricsListen, "metrics-listen", defaultMetricsListen, "host:port that serves /metrics and /healthz")
	})
	if err != nil {
		return err
	}
	cfg, err := service.LoadConfig(flags, getenv)
	if err != nil {
		return err
	}
	if cfg.NATS.URL == "" {
		// An embedded server would be this process's alone: no front
		// publishes to it, so the worker would never receive a logout.
		return errors.New("backchannel needs nats.url: a standalone worker shares NATS with the fronts")
	}
	logger := service.Logger(cfg.Log, stdout)
	ks, err := keys.Load(cfg.Keys, cfg.SigningAlgs(), logger)
	if err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	conn, err := natsconn.Connect(ctx, cfg.NATS, "signoff-backchannel", logger)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if err := natsconn.EnsureStreams(ctx, conn.JS, cfg); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", metricsListen)
	if err != nil {
		return fmt.Errorf("listening for metrics: %w", err)
	}
	srv := &http.Server{
		Handler:           opsHandler(reg, conn),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("serving metrics", "addr", ln.Addr().String())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving metrics: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		// The worker drains first; metrics are served until it has.
		defer func() {
			shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdownCtx)
		}()
		return backchannel.Run(gctx, cfg, backchannel.Deps{JS: conn.JS, Keys: ks, Logger: logger, Metrics: reg})
	})
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// opsHandler serves Prometheus metrics and /healthz, which answers 200
// while the NATS connection is up and 503 otherwise.
func opsHandler(reg *prometheus.Registry, conn *natsconn.Conn) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !conn.Connected() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "nats disconnected\n")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}
