// Command backchannel runs signoff's back-channel logout worker alone, against the NATS
// server that nats.url names, so that workers scale out independently of
// the fronts. It serves Prometheus metrics at /metrics, a liveness check at
// /healthz and readiness (its consumers bound) at /readyz on -metrics-listen
// (default 9101).
package main

import (
	"context"
	"io"

	"github.com/signoff/signoff/services/backchannel"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/service"
)

func main() { service.Main("backchannel", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return service.RunWorker(ctx, service.Worker{
		Name: "backchannel", MetricsListen: "127.0.0.1:9101", NeedsKeys: true,
		Run: func(ctx context.Context, cfg *config.Config, d service.WorkerDeps) error {
			return backchannel.Run(ctx, cfg, backchannel.Deps{JS: d.JS, Keys: d.Keys, Logger: d.Logger, Metrics: d.Metrics, Ready: d.Ready})
		},
	}, args, getenv, stdout, stderr)
}
