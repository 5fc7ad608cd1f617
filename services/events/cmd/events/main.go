// Command events runs signoff's per-client events worker alone: it
// publishes each logout on signoff.v1.logout.<client_id> for every client
// with logout_events: true, against the NATS server that nats.url names.
// It serves /metrics, /healthz and /readyz on -metrics-listen (default 9103).
package main

import (
	"context"
	"io"

	"github.com/signoff/signoff/shared/clientevents"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/service"
)

func main() { service.Main("events", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return service.RunWorker(ctx, service.Worker{
		Name: "events", MetricsListen: "127.0.0.1:9103",
		Run: func(ctx context.Context, cfg *config.Config, d service.WorkerDeps) error {
			o := clientevents.Options(d.JS)
			o.Clients, o.Logger, o.Metrics, o.Ready = cfg.Registry(), d.Logger, d.Metrics, d.Ready
			return propagate.Run(ctx, o)
		},
	}, args, getenv, stdout, stderr)
}
