package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/propagate"
)

// Deps are the worker's outside dependencies, built by the caller.
type Deps struct {
	// JS is the JetStream API; the streams must exist
	// (natsconn.EnsureStreams).
	JS jetstream.JetStream
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Metrics registers the worker's metrics; nil means none.
	Metrics prometheus.Registerer
	// Ready, when set, is called once the worker takes logouts.
	Ready func()
	// HTTPClient sends the webhooks; nil means NewHTTPClient().
	HTTPClient *http.Client
}

// Run runs the webhook worker until ctx ends: it propagates every
// session-ended event to the clients that [Wants], with cfg's clients. It
// returns nil once the framework has stopped after ctx ended, or the error
// that stopped it.
func Run(ctx context.Context, cfg *config.Config, d Deps) error {
	client := d.HTTPClient
	if client == nil {
		client = NewHTTPClient()
		defer client.CloseIdleConnections()
	}
	err := propagate.Run(ctx, propagate.Options{
		Kind:       Kind,
		Wants:      Wants,
		Propagator: New(client),
		JS:         d.JS,
		Clients:    cfg.Registry(),
		Logger:     d.Logger,
		Metrics:    d.Metrics,
		Ready:      d.Ready,
	})
	if err != nil {
		return fmt.Errorf("running webhook worker: %w", err)
	}
	return nil
}
