package propagatetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
	"github.com/signoff/signoff/shared/propagate"
)

// Helpers for a worker's own tests, beside the suite.

// Outcome is how one Propagate call ended, as the framework classifies it.
type Outcome int

// The outcomes of a Propagate call.
const (
	Delivered Outcome = iota
	Transient
	Permanent
)

// OutcomeOf classifies the error of a Propagate call.
func OutcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return Delivered
	case propagate.IsPermanent(err):
		return Permanent
	default:
		return Transient
	}
}

func (o Outcome) String() string {
	return [...]string{"delivered", "transient", "permanent"}[o]
}

// StartWorker starts an in-process JetStream server with signoff's streams
// for cfg and runs a worker on it with run until the test ends; it returns
// the JetStream API and the registry the worker's metrics go to.
func StartWorker(t *testing.T, cfg *config.Config,
	run func(ctx context.Context, js jetstream.JetStream, reg *prometheus.Registry) error) (jetstream.JetStream, *prometheus.Registry) {
	t.Helper()
	s := natstest.RunServer(t, "")
	_, js := natstest.Connect(t, s)
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, js, reg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("the worker did not return after its context ended")
		}
	})
	return js, reg
}

// Publish publishes e as the front does, with its logout id as message id.
func Publish(t *testing.T, js jetstream.JetStream, e *event.SessionEnded) {
	t.Helper()
	data, err := json.Marshal(e)
	require.NoError(t, err)
	_, err = js.Publish(t.Context(), event.SubjectSessionEnded, data, jetstream.WithMsgID(e.LogoutID))
	require.NoError(t, err)
}

// WaitStatus waits until the worker of kind has counted n progress records
// of status for its deliveries to clientID, in the framework's
// signoff_deliveries_total (a delivered or skipped delivery is counted
// once, when it is final).
func WaitStatus(t *testing.T, reg *prometheus.Registry, kind, clientID string, status event.Status, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return Deliveries(t, reg, kind, clientID, status) == float64(n)
	}, 15*time.Second, 20*time.Millisecond, "%s deliveries to %s: want %d, have %s", status, clientID, n,
		lazy(func() string { return fmt.Sprint(Deliveries(t, reg, kind, clientID, status)) }))
}

// Deliveries returns signoff_deliveries_total for kind, clientID and
// status.
func Deliveries(t *testing.T, reg *prometheus.Registry, kind, clientID string, status event.Status) float64 {
	return Metric(t, reg, "signoff_deliveries_total", map[string]string{"channel": kind, "client_id": clientID, "status": string(status)})
}

// Metric returns the value of the counter or gauge name whose labels
// include labels, 0 when there is none (such as
// signoff_dead_letters_total or signoff_breaker_state of one client).
func Metric(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
