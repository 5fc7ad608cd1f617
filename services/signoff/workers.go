package main

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signoff/signoff/services/backchannel"
	"github.com/signoff/signoff/services/webhook"
	"github.com/signoff/signoff/shared/clientevents"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/propagate"
)

// workerDeps is what the built-in workers share in the all-in-one.
type workerDeps struct {
	js      jetstream.JetStream
	keys    *keys.Set
	logger  *slog.Logger
	metrics prometheus.Registerer
}

// builtin is one built-in propagation worker.
type builtin struct {
	kind string
	run  func(ctx context.Context) error
}

// builtins is the one list of the workers the all-in-one runs. A new
// built-in worker is added here, and nowhere else.
func builtins(cfg *config.Config, d workerDeps) []builtin {
	return []builtin{
		{backchannel.Kind, func(ctx context.Context) error {
			return backchannel.Run(ctx, cfg, backchannel.Deps{JS: d.js, Keys: d.keys, Logger: d.logger, Metrics: d.metrics})
		}},
		{webhook.Kind, func(ctx context.Context) error {
			return webhook.Run(ctx, cfg, webhook.Deps{JS: d.js, Logger: d.logger, Metrics: d.metrics})
		}},
		{clientevents.Kind, func(ctx context.Context) error {
			o := clientevents.Options(d.js)
			o.Clients, o.Logger, o.Metrics = cfg.Registry(), d.logger, d.metrics
			return propagate.Run(ctx, o)
		}},
	}
}
