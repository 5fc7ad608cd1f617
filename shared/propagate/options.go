package propagate

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
)

// DefaultConcurrency is a worker's default Concurrency: deliveries in
// flight, and idle connections per host of NewHTTPClient.
const DefaultConcurrency = 256

// Options configure a worker. Kind, Wants, Propagator, JS and Clients are
// required; the rest have defaults.
type Options struct {
	// Kind names the worker kind and the deliveries' channel, such as
	// "backchannel" or "webhook": one subject token.
	Kind string
	// Wants reports whether a client is a target of this kind.
	Wants func(c *config.Client) bool
	// Skip, when set, may exclude a wanted target of one logout with a
	// reason (recorded as status skipped), e.g. a client that requires a
	// sid in a logout that has none. It is asked before the first attempt
	// and again before each attempt of the retry stage.
	Skip func(c *config.Client, e *event.SessionEnded) (reason string, skip bool)
	// Propagator delivers to one target.
	Propagator Propagator
	// JS is the JetStream API; the streams must exist (natsconn.EnsureStreams).
	JS jetstream.JetStream
	// Clients is the client registry.
	Clients *config.Registry
	// Logger logs; every line about a delivery has logout_id, sid and
	// client_id.
	Logger *slog.Logger
	// Metrics registers the worker's metrics; nil means none.
	Metrics prometheus.Registerer

	// Concurrency bounds the deliveries of this worker in flight. Default
	// DefaultConcurrency.
	Concurrency int
	// PerTarget bounds the deliveries to one client in flight. Default 4.
	PerTarget int
	// Timeout bounds one Propagate call. Default 10s.
	Timeout time.Duration
	// AckWait is how long JetStream waits before it redelivers an event or
	// task whose worker went silent (died, or cut off from NATS). A
	// replica that works on one, however long, says so every third of the
	// shorter of this and the consumer's own AckWait, so AckWait may be
	// shorter than Timeout. It applies to consumers the worker creates; an
	// existing events consumer keeps its own. Default 15s.
	AckWait time.Duration
	// Retry is the backoff and budget of transient failures.
	Retry RetryPolicy
	// Breaker configures every target's circuit breaker.
	Breaker BreakerPolicy
	// Ready, when set, is called once the worker has bound its consumers
	// and takes logouts (a readiness probe's signal).
	Ready func()
}

// RetryPolicy says when to retry a transient failure and when to give up.
type RetryPolicy struct {
	// Initial is the first delay. Default 1s.
	Initial time.Duration
	// Max caps a delay, Retry-After included. Default 5m.
	Max time.Duration
	// Multiplier grows the delay per attempt. Default 2.
	Multiplier float64
	// Jitter is the random fraction added or removed. Default 0.2.
	Jitter float64
	// MaxAttempts is the attempt budget. Default 10.
	MaxAttempts int
	// MaxAge is the age budget, from the logout's time. Default 24h.
	MaxAge time.Duration
}

// BreakerPolicy configures the per-target circuit breakers (sony/gobreaker).
// A breaker opens after Failures consecutive transient failures, provided
// at least half of the target's calls in the last Window failed: a target
// that fails now and then (a flaky one, 20% of 500s) does not lose every
// delivery to a 30 s pause because of one unlucky streak.
type BreakerPolicy struct {
	// Failures is how many consecutive transient failures open it. Default 5.
	Failures uint32
	// Window is the rolling window of the failure ratio. Default 1m.
	Window time.Duration
	// OpenFor is how long it stays open before letting a probe through.
	// Default 30s.
	OpenFor time.Duration
}

func (o *Options) defaults() error {
	var errs []error
	if !event.ValidToken(o.Kind) || !natsconn.ValidConsumerName(EventsConsumer(o.Kind)) {
		errs = append(errs, errors.New("kind: one subject token required, without '/' or '\\', at most 248 characters"))
	}
	if o.Wants == nil {
		errs = append(errs, errors.New("wants: required"))
	}
	if o.Propagator == nil {
		errs = append(errs, errors.New("propagator: required"))
	}
	if o.JS == nil {
		errs = append(errs, errors.New("js: required"))
	}
	if o.Clients == nil {
		errs = append(errs, errors.New("clients: required"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("propagate: options: %w", errors.Join(errs...))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Logger = o.Logger.With("channel", o.Kind)
	if o.Skip == nil {
		o.Skip = func(*config.Client, *event.SessionEnded) (string, bool) { return "", false }
	}
	if o.Ready == nil {
		o.Ready = func() {}
	}
	setDefault(&o.Concurrency, DefaultConcurrency)
	setDefault(&o.PerTarget, 4)
	setDefault(&o.Timeout, 10*time.Second)
	setDefault(&o.AckWait, 15*time.Second)
	r := &o.Retry
	setDefault(&r.Initial, time.Second)
	setDefault(&r.Max, 5*time.Minute)
	setDefault(&r.Multiplier, 2)
	setDefault(&r.Jitter, 0.2)
	setDefault(&r.MaxAttempts, 10)
	setDefault(&r.MaxAge, 24*time.Hour)
	setDefault(&o.Breaker.Failures, 5)
	setDefault(&o.Breaker.OpenFor, 30*time.Second)
	setDefault(&o.Breaker.Window, time.Minute)
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
