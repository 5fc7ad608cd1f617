package propagate

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/signoff/signoff/shared/event"
)

// metrics are a worker's Prometheus metrics. A nil *metrics records
// nothing.
type metrics struct {
	deliveries  *prometheus.CounterVec
	retries     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	breaker     *prometheus.GaugeVec
	latency     *prometheus.HistogramVec
	unknown     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		deliveries: newDeliveries(),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signoff_delivery_retries_total",
			Help: "Transient delivery failures that were scheduled for a retry.",
		}, []string{"channel", "client_id"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signoff_dead_letters_total",
			Help: "Deliveries that failed for good and were dead-lettered.",
		}, []string{"channel", "client_id"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "signoff_breaker_state",
			Help: "Circuit breaker state per client: 0 closed, 1 half-open, 2 open.",
		}, []string{"channel", "client_id"}),
		unknown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signoff_unknown_clients_total",
			Help: "Deliveries parked for another replica, by reason: unknown_client (missing from this worker's configuration) or not_served (not its target there, while the front that published the logout gives it channels that make it one).",
		}, []string{"channel", "client_id", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signoff_delivery_duration_seconds",
			Help:    "Duration of one delivery attempt.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"channel"}),
	}
	// Several workers in one process (the all-in-one) share the metrics.
	var err error
	if m.deliveries, err = register(reg, m.deliveries); err != nil {
		return nil, err
	}
	if m.retries, err = register(reg, m.retries); err != nil {
		return nil, err
	}
	if m.deadLetters, err = register(reg, m.deadLetters); err != nil {
		return nil, err
	}
	if m.breaker, err = register(reg, m.breaker); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	if m.unknown, err = register(reg, m.unknown); err != nil {
		return nil, err
	}
	return m, nil
}

func newDeliveries() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signoff_deliveries_total",
		Help: "Delivery progress records by channel, client and status.",
	}, []string{"channel", "client_id", "status"})
}

// DeliveriesCounter returns signoff_deliveries_total (labels channel,
// client_id, status) registered with reg, the one the workers count with
// when they share reg (the all-in-one): for a component that records
// deliveries of its own, as the front does for the front-channel iframes.
func DeliveriesCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	return register(reg, newDeliveries())
}

// register registers c, or returns the collector already registered under
// its name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("registering metrics: %w", err)
	}
	return c, nil
}

func (m *metrics) status(kind, client string, st event.Status) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(kind, client, string(st)).Inc()
	if st == event.StatusRetrying {
		m.retries.WithLabelValues(kind, client).Inc()
	}
}

func (m *metrics) deadLetter(kind, client string) {
	if m != nil {
		m.deadLetters.WithLabelValues(kind, client).Inc()
	}
}

func (m *metrics) breakerState(kind, client string, st gobreaker.State) {
	if m == nil {
		return
	}
	v := map[gobreaker.State]float64{gobreaker.StateClosed: 0, gobreaker.StateHalfOpen: 1, gobreaker.StateOpen: 2}[st]
	m.breaker.WithLabelValues(kind, client).Set(v)
}

func (m *metrics) observe(kind string, d time.Duration) {
	if m != nil {
		m.latency.WithLabelValues(kind).Observe(d.Seconds())
	}
}

func (m *metrics) parked(kind, client, reason string) {
	if m == nil {
		return
	}
	m.unknown.WithLabelValues(kind, client, reason).Inc()
}
