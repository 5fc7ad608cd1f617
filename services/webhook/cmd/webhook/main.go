// Command webhook runs signoff's webhook worker alone, against the NATS
// server that nats.url names, so that workers scale out independently of
// the fronts. It serves Prometheus metrics at /metrics, a liveness check at
// /healthz and readiness (its consumers bound) at /readyz on -metrics-listen
// (default 9102).
package main

import (
	"context"
	"io"

	"github.com/signoff/signoff/services/webhook"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/service"
)

func main() { service.Main("webhook", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return service.RunWorker(ctx, service.Worker{
		Name: "webhook", MetricsListen: "127.0.0.1:9102",
		Run: func(ctx context.Context, cfg *config.Config, d service.WorkerDeps) error {
			return webhook.Run(ctx, cfg, webhook.Deps{JS: d.JS, Logger: d.Logger, Metrics: d.Metrics, Ready: d.Ready})
		},
	}, args, getenv, stdout, stderr)
}
