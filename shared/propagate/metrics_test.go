package propagate_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/internal/syncbuf"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/propagate/propagatetest"
)

// TestMetricsCountWrittenOutcomes: an outcome whose progress record could
// not be written is not counted; the event comes back, the delivery is
// made again, and that outcome, written, is counted: once. A permanent
// failure is dead-lettered again then, and its dead letter, the same
// message to JetStream, is counted once.
func TestMetricsCountWrittenOutcomes(t *testing.T) {
	var calls atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		calls.Add(1)
	}))
	t.Cleanup(recv.Close)
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	cfg := config.Default()
	cfg.Clients = []config.Client{{ClientID: "app", WebhookURI: recv.URL}, {ClientID: "bad", WebhookURI: recv.URL + "/bad"}}
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	// The state stream stops taking progress batches: no stream listens on
	// their subjects.
	state, err := js.Stream(t.Context(), natsconn.StreamState)
	require.NoError(t, err)
	full := state.CachedInfo().Config
	narrow := full
	narrow.Subjects = []string{event.DeliveryPrefix + ">", event.ParticipationPrefix + ">"}
	_, err = js.UpdateStream(t.Context(), narrow)
	require.NoError(t, err)

	var logs syncbuf.Buffer
	reg := prometheus.NewRegistry()
	runWorker(t, propagate.Options{
		Kind: "testjson", Wants: func(c *config.Client) bool { return c.WebhookURI != "" },
		Propagator: jsonPropagator(), JS: js, Clients: cfg.Registry(), Metrics: reg,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})

	publishTo(t, js, "L-unwritten", "app", "bad")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "logout not fully recorded") },
		10*time.Second, 10*time.Millisecond, "the batch is refused")
	assert.Zero(t, propagatetest.Deliveries(t, reg, "testjson", "app", event.StatusDelivered), "not written, not counted")

	_, err = js.UpdateStream(t.Context(), full)
	require.NoError(t, err)
	propagatetest.WaitStatus(t, reg, "testjson", "app", event.StatusDelivered, 1)
	assert.GreaterOrEqual(t, calls.Load(), int32(2), "delivered again when the event came back")
	propagatetest.WaitStatus(t, reg, "testjson", "bad", event.StatusFailed, 1)
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, 1.0, propagatetest.Deliveries(t, reg, "testjson", "app", event.StatusDelivered))
	assert.Equal(t, 1.0, counter(t, reg, "signoff_dead_letters_total", "bad"))
}

// counter is the value of the counter name for client_id clientID.
func counter(t *testing.T, reg *prometheus.Registry, name, clientID string) float64 {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "client_id" && l.GetValue() == clientID {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestRetryAgeFitsTheStreams: with nats.event_retention shorter than the
// age budget, a delivery that keeps failing is failed and dead-lettered
// before JetStream removes its task (it used to vanish, retrying for ever
// in the ledger); the worker says it shortened the budget.
func TestRetryAgeFitsTheStreams(t *testing.T) {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(recv.Close)
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	cfg := config.Default()
	cfg.NATS.EventRetention = 4 * time.Second
	cfg.Clients = []config.Client{{ClientID: "app", WebhookURI: recv.URL}}
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))

	var logs syncbuf.Buffer
	reg := prometheus.NewRegistry()
	runWorker(t, propagate.Options{
		Kind: "testjson", Wants: func(c *config.Client) bool { return c.WebhookURI != "" },
		Propagator: jsonPropagator(), JS: js, Clients: cfg.Registry(), Metrics: reg,
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
		AckWait: time.Second,
		Retry:   propagate.RetryPolicy{Initial: 100 * time.Millisecond, Max: 200 * time.Millisecond, MaxAttempts: 1000},
		Breaker: propagate.BreakerPolicy{Failures: 1000, OpenFor: 200 * time.Millisecond},
	})

	publishTo(t, js, "L-age", "app")
	propagatetest.WaitStatus(t, reg, "testjson", "app", event.StatusFailed, 1)
	assert.Equal(t, 1.0, counter(t, reg, "signoff_dead_letters_total", "app"))
	assert.Contains(t, logs.String(), "retry age budget shortened")
}

// TestStopStartsNoCall: a worker that stops finishes the call in flight
// and makes no other: a logout waiting for a slot goes back to JetStream
// (it made a call 1.2 s after the stop when the handler was already
// running, waiting for the slot).
func TestStopStartsNoCall(t *testing.T) {
	var aCalls, bCalls atomic.Int32
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/a" {
			aCalls.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		bCalls.Add(1)
	}))
	t.Cleanup(recv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	cfg := config.Default()
	cfg.Clients = []config.Client{{ClientID: "a", WebhookURI: recv.URL + "/a"}, {ClientID: "b", WebhookURI: recv.URL + "/b"}}
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	var logs syncbuf.Buffer
	stop := runWorker(t, propagate.Options{
		Kind: "testjson", Wants: func(c *config.Client) bool { return c.WebhookURI != "" },
		Propagator: jsonPropagator(), JS: js, Clients: cfg.Registry(),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Concurrency: 1, Timeout: 30 * time.Second,
	})
	publishTo(t, js, "L-a", "a")
	require.Eventually(t, func() bool { return aCalls.Load() == 1 }, 10*time.Second, 10*time.Millisecond, "a's call holds the one slot")
	publishTo(t, js, "L-b", "b")
	cons, err := js.Consumer(t.Context(), natsconn.StreamEvents, propagate.EventsConsumer("testjson"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.NumAckPending == 2
	}, 10*time.Second, 10*time.Millisecond, "both logouts are this replica's: b's waits for the slot")

	go stop()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "logout handed back to JetStream") },
		10*time.Second, 10*time.Millisecond, "b's logout goes back")
	close(release) // a's call ends after the stop
	stop()         // waits for the first stop to end
	assert.Zero(t, bCalls.Load(), "no call after the stop")
}

// TestUnrecordedLogoutBacksOff: a logout whose progress the state stream
// keeps refusing comes back after growing delays, as a retry does, not
// every second (each time, its clients are called again).
func TestUnrecordedLogoutBacksOff(t *testing.T) {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(recv.Close)
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	cfg := config.Default()
	cfg.Clients = []config.Client{{ClientID: "app", WebhookURI: recv.URL}}
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	state, err := js.Stream(t.Context(), natsconn.StreamState)
	require.NoError(t, err)
	narrow := state.CachedInfo().Config
	narrow.Subjects = []string{event.DeliveryPrefix + ">", event.ParticipationPrefix + ">"} // no batches
	_, err = js.UpdateStream(t.Context(), narrow)
	require.NoError(t, err)

	var logs syncbuf.Buffer
	runWorker(t, propagate.Options{
		Kind: "testjson", Wants: func(c *config.Client) bool { return c.WebhookURI != "" },
		Propagator: jsonPropagator(), JS: js, Clients: cfg.Registry(),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Retry:  propagate.RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Minute},
	})
	publishTo(t, js, "L-unrecorded", "app")

	delays := func() []time.Duration {
		var out []time.Duration
		for line := range strings.Lines(logs.String()) {
			var rec struct {
				Msg     string `json:"msg"`
				RetryIn int64  `json:"retry_in"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "logout not fully recorded, it will be redelivered" {
				out = append(out, time.Duration(rec.RetryIn))
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(delays()) >= 3 }, 20*time.Second, 20*time.Millisecond,
		"the logout comes back three times")
	d := delays()
	for i := 1; i < 3; i++ {
		assert.Greater(t, float64(d[i]), 1.3*float64(d[i-1]), "each delay grows: %v", d)
	}
}

// TestUnrecordedRetryBacksOff: a retry whose progress record is refused
// comes back after growing delays (as long as since its due time), not at
// the pace of a first retry for ever.
func TestUnrecordedRetryBacksOff(t *testing.T) {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(recv.Close)
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	cfg := config.Default()
	cfg.Clients = []config.Client{{ClientID: "app", WebhookURI: recv.URL}}
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	state, err := js.Stream(t.Context(), natsconn.StreamState)
	require.NoError(t, err)
	narrow := state.CachedInfo().Config
	narrow.Subjects = []string{event.BatchPrefix + ">", event.ParticipationPrefix + ">"} // no delivery records
	_, err = js.UpdateStream(t.Context(), narrow)
	require.NoError(t, err)
	// A delivery waiting for its first attempt in the retry stage (its
	// first stage found the client busy).
	e := &event.SessionEnded{LogoutID: "L-retry", SID: "sid-1", Sub: "alice", Iss: "https://idp.example.com",
		Reason: event.ReasonEndSession, Time: time.Now().UTC(), Clients: []event.Participant{{ClientID: "app", Sub: "alice"}}}
	task, err := json.Marshal(propagate.Task{Kind: "testjson", ClientID: "app", Sub: "alice", Event: e, NotBefore: time.Now()})
	require.NoError(t, err)
	_, err = js.Publish(t.Context(), event.WorkSubject("testjson", "app"), task)
	require.NoError(t, err)

	var logs syncbuf.Buffer
	runWorker(t, propagate.Options{
		Kind: "testjson", Wants: func(c *config.Client) bool { return c.WebhookURI != "" },
		Propagator: jsonPropagator(), JS: js, Clients: cfg.Registry(),
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
		Retry:   propagate.RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Minute, MaxAttempts: 1000},
		Breaker: propagate.BreakerPolicy{Failures: 1000},
	})
	delays := func() []time.Duration {
		var out []time.Duration
		for line := range strings.Lines(logs.String()) {
			var rec struct {
				Msg     string `json:"msg"`
				RetryIn int64  `json:"retry_in"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "delivery failed, will retry" {
				out = append(out, time.Duration(rec.RetryIn))
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(delays()) >= 4 }, 20*time.Second, 20*time.Millisecond,
		"the task comes back four times")
	d := delays()
	for i := 2; i < 4; i++ {
		assert.Greater(t, float64(d[i]), 1.3*float64(d[i-1]), "each delay grows: %v", d)
	}
}

// TestNeverAttemptedFailsOnAge: a delivery that has had no attempt (it
// waited behind an open breaker, or is a replay of an old logout) and
// whose logout is older than the age budget fails, dead-lettered, when its
// breaker is open, instead of waiting behind the breaker for ever.
func TestNeverAttemptedFailsOnAge(t *testing.T) {
	var calls atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(recv.Close)
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	cfg := config.Default()
	cfg.Clients = []config.Client{{ClientID: "app", WebhookURI: recv.URL}}
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	reg := prometheus.NewRegistry()
	runWorker(t, propagate.Options{
		Kind: "testjson", Wants: func(c *config.Client) bool { return c.WebhookURI != "" },
		Propagator: jsonPropagator(), JS: js, Clients: cfg.Registry(), Metrics: reg,
		Retry:   propagate.RetryPolicy{Initial: time.Minute, MaxAge: time.Hour},
		Breaker: propagate.BreakerPolicy{Failures: 1, OpenFor: time.Minute},
	})
	publishTo(t, js, "L-opens", "app") // fails: the breaker opens
	require.Eventually(t, func() bool { return gauge(t, reg, "signoff_breaker_state", "app") == 2 }, 10*time.Second, 10*time.Millisecond,
		"the breaker is open")

	old := &event.SessionEnded{LogoutID: "L-old", SID: "sid-old", Sub: "alice", Iss: "https://idp.example.com",
		Reason: event.ReasonEndSession, Time: time.Now().Add(-2 * time.Hour).UTC(), Clients: []event.Participant{{ClientID: "app", Sub: "alice"}}}
	task, err := json.Marshal(propagate.Task{Kind: "testjson", ClientID: "app", Sub: "alice", Event: old, NotBefore: time.Now()})
	require.NoError(t, err)
	_, err = js.Publish(t.Context(), event.WorkSubject("testjson", "app"), task)
	require.NoError(t, err)

	propagatetest.WaitStatus(t, reg, "testjson", "app", event.StatusFailed, 1)
	assert.Equal(t, 1.0, counter(t, reg, "signoff_dead_letters_total", "app"))
	assert.Equal(t, int32(1), calls.Load(), "L-old was not attempted: its breaker is open")
}

// gauge is the value of the gauge name for client_id clientID.
func gauge(t *testing.T, reg *prometheus.Registry, name, clientID string) float64 {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "client_id" && l.GetValue() == clientID {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}
