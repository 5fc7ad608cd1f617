package propagate_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/propagate/propagatetest"
	"github.com/signoff/signoff/shared/syncbuf"
)

// deadLetters is signoff_dead_letters_total of one client.
func deadLetters(t *testing.T, reg *prometheus.Registry, clientID string) float64 {
	return propagatetest.Metric(t, reg, "signoff_dead_letters_total", map[string]string{"client_id": clientID})
}

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
	js, cfg := appStreams(t, recv.URL, func(c *config.Config) {
		c.Clients = append(c.Clients, config.Client{ClientID: "bad", WebhookURI: recv.URL + "/bad"})
	})
	full := keepState(t, js, event.DeliveryPrefix+">", event.ParticipationPrefix+">") // no batches

	var logs syncbuf.Buffer
	reg := prometheus.NewRegistry()
	o := testjson(js, cfg)
	o.Metrics, o.Logger = reg, slog.New(slog.NewJSONHandler(&logs, nil))
	runWorker(t, o)

	publishTo(t, js, "L-unwritten", "app", "bad")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "logout not fully recorded") },
		10*time.Second, 10*time.Millisecond, "the batch is refused")
	assert.Zero(t, propagatetest.Deliveries(t, reg, "testjson", "app", event.StatusDelivered), "not written, not counted")

	_, err := js.UpdateStream(t.Context(), full)
	require.NoError(t, err)
	propagatetest.WaitStatus(t, reg, "testjson", "app", event.StatusDelivered, 1)
	assert.GreaterOrEqual(t, calls.Load(), int32(2), "delivered again when the event came back")
	propagatetest.WaitStatus(t, reg, "testjson", "bad", event.StatusFailed, 1)
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, 1.0, propagatetest.Deliveries(t, reg, "testjson", "app", event.StatusDelivered))
	assert.Equal(t, 1.0, deadLetters(t, reg, "bad"))
}

// TestRetryAgeFitsTheStreams: with nats.event_retention shorter than the
// age budget, a delivery that keeps failing is failed and dead-lettered
// before JetStream removes its task (it used to vanish, retrying for ever
// in the ledger); the worker says it shortened the budget.
func TestRetryAgeFitsTheStreams(t *testing.T) {
	recv, _ := receiver(t, http.StatusServiceUnavailable)
	js, cfg := appStreams(t, recv.URL, func(c *config.Config) { c.NATS.EventRetention = 4 * time.Second })

	var logs syncbuf.Buffer
	reg := prometheus.NewRegistry()
	o := testjson(js, cfg)
	o.Metrics, o.Logger, o.AckWait = reg, slog.New(slog.NewJSONHandler(&logs, nil)), time.Second
	o.Retry = propagate.RetryPolicy{Initial: 100 * time.Millisecond, Max: 200 * time.Millisecond, MaxAttempts: 1000}
	o.Breaker = propagate.BreakerPolicy{Failures: 1000, OpenFor: 200 * time.Millisecond}
	runWorker(t, o)

	publishTo(t, js, "L-age", "app")
	propagatetest.WaitStatus(t, reg, "testjson", "app", event.StatusFailed, 1)
	assert.Equal(t, 1.0, deadLetters(t, reg, "app"))
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
	js, cfg := appStreams(t, "", func(c *config.Config) {
		c.Clients = []config.Client{{ClientID: "a", WebhookURI: recv.URL + "/a"}, {ClientID: "b", WebhookURI: recv.URL + "/b"}}
	})
	var logs syncbuf.Buffer
	o := testjson(js, cfg)
	o.Logger, o.Concurrency, o.Timeout = slog.New(slog.NewJSONHandler(&logs, nil)), 1, 30*time.Second
	stop := runWorker(t, o)
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
	recv, _ := receiver(t, 0)
	js, cfg := appStreams(t, recv.URL)
	keepState(t, js, event.DeliveryPrefix+">", event.ParticipationPrefix+">") // no batches

	var logs syncbuf.Buffer
	o := testjson(js, cfg)
	o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	o.Retry = propagate.RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Minute}
	runWorker(t, o)
	publishTo(t, js, "L-unrecorded", "app")

	waitGrowingDelays(t, &logs, "logout not fully recorded, it will be redelivered", 3, 1)
}

// TestUnrecordedRetryBacksOff: a retry whose progress record is refused
// comes back after growing delays (as long as since its due time), not at
// the pace of a first retry for ever.
func TestUnrecordedRetryBacksOff(t *testing.T) {
	recv, _ := receiver(t, http.StatusServiceUnavailable)
	js, cfg := appStreams(t, recv.URL)
	keepState(t, js, event.BatchPrefix+">", event.ParticipationPrefix+">") // no delivery records
	// A delivery waiting for its first attempt in the retry stage (its
	// first stage found the client busy).
	publishJSON(t, js, event.WorkSubject("testjson", "app"), appTask(appLogout("L-retry", time.Now()), 0))

	var logs syncbuf.Buffer
	o := testjson(js, cfg)
	o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	o.Retry = propagate.RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Minute, MaxAttempts: 1000}
	o.Breaker = propagate.BreakerPolicy{Failures: 1000}
	runWorker(t, o)

	// The first two turns wait a first retry's backoff; from the third,
	// as long as since the task was due.
	waitGrowingDelays(t, &logs, "delivery failed, will retry", 4, 2)
}

// ageBudgetWorker runs a worker with an age budget of an hour, whose
// client "app" answers status, and returns its JetStream, its metrics and
// the client's call count. change, if not nil, adjusts its options.
func ageBudgetWorker(t *testing.T, status int, change func(*propagate.Options)) (jetstream.JetStream, *prometheus.Registry, *atomic.Int32) {
	t.Helper()
	recv, calls := receiver(t, status)
	js, cfg := appStreams(t, recv.URL)
	reg := prometheus.NewRegistry()
	o := testjson(js, cfg)
	o.Metrics = reg
	o.Retry = propagate.RetryPolicy{Initial: time.Minute, MaxAge: time.Hour}
	if change != nil {
		change(&o)
	}
	runWorker(t, o)
	return js, reg, calls
}

// TestParkedPastTheBudgetFailsUnattempted: a delivery parked for a replica
// that serves its client (its logout named a client missing from the
// configuration of the replica that took it) and taken only once the
// logout is older than the age budget fails, dead-lettered, without a
// call: a logout that old may end sessions the person started since. A
// replay of it gets its one attempt.
func TestParkedPastTheBudgetFailsUnattempted(t *testing.T) {
	js, reg, calls := ageBudgetWorker(t, http.StatusNoContent, nil)

	old := appLogout("L-parked", time.Now().Add(-2*time.Hour))
	publishJSON(t, js, event.WorkSubject("testjson", "app"), appTask(old, 0))
	propagatetest.WaitStatus(t, reg, "testjson", "app", event.StatusFailed, 1)
	assert.Equal(t, 1.0, deadLetters(t, reg, "app"))
	assert.Zero(t, calls.Load(), "a parked delivery past the age budget is not attempted")

	_, err := propagate.Replay(t.Context(), js, "testjson", "app", "L-parked")
	require.NoError(t, err)
	propagatetest.WaitStatus(t, reg, "testjson", "app", event.StatusDelivered, 1)
	assert.Equal(t, int32(1), calls.Load(), "its replay gets one attempt")
}

// TestNeverAttemptedFailsOnAge: a replay of a logout older than the age
// budget, which would get one attempt, fails, dead-lettered, when its
// breaker is open, instead of waiting behind the breaker for ever.
func TestNeverAttemptedFailsOnAge(t *testing.T) {
	js, reg, calls := ageBudgetWorker(t, http.StatusServiceUnavailable, func(o *propagate.Options) {
		o.Breaker = propagate.BreakerPolicy{Failures: 1, OpenFor: time.Minute}
	})
	publishTo(t, js, "L-opens", "app") // fails: the breaker opens
	require.Eventually(t, func() bool {
		return propagatetest.Metric(t, reg, "signoff_breaker_state", map[string]string{"client_id": "app"}) == 2
	}, 10*time.Second, 10*time.Millisecond, "the breaker is open")

	// A replay: any other task that old fails unattempted, breaker or not.
	replay := appTask(appLogout("L-old", time.Now().Add(-2*time.Hour)), 0)
	replay.Replay = 1
	publishJSON(t, js, event.WorkSubject("testjson", "app"), replay)

	propagatetest.WaitStatus(t, reg, "testjson", "app", event.StatusFailed, 1)
	assert.Equal(t, 1.0, deadLetters(t, reg, "app"))
	assert.Equal(t, int32(1), calls.Load(), "L-old was not attempted: its breaker is open")
}

// TestParkedForAnotherReplicaAreCounted: signoff_unknown_clients_total
// counts the deliveries a worker parks for another replica, by reason: a
// client missing from its configuration, and one it knows but does not
// serve while the logout's front gives it a channel that it would serve.
// A client it does not serve, listed without such a channel, is nobody's
// here and is not counted.
func TestParkedForAnotherReplicaAreCounted(t *testing.T) {
	recv, _ := receiver(t, 0)
	js, cfg := appStreams(t, recv.URL, func(c *config.Config) {
		c.Clients = append(c.Clients, config.Client{ClientID: "known"}, config.Client{ClientID: "other"})
	})
	reg := prometheus.NewRegistry()
	o := testjson(js, cfg)
	o.Metrics = reg
	runWorker(t, o)

	e := appLogout("L-parked", time.Now())
	e.Clients = []event.Participant{
		{ClientID: "app", Sub: "alice", Channels: []string{config.ChannelWebhook}},
		{ClientID: "ghost", Sub: "alice", Channels: []string{config.ChannelWebhook}},
		{ClientID: "known", Sub: "alice", Channels: []string{config.ChannelWebhook}},
		{ClientID: "other", Sub: "alice", Channels: []string{config.ChannelFrontchannel}},
	}
	propagatetest.Publish(t, js, e)
	propagatetest.WaitStatus(t, reg, "testjson", "app", event.StatusDelivered, 1)
	parked := func(client, reason string) float64 {
		return propagatetest.Metric(t, reg, "signoff_unknown_clients_total",
			map[string]string{"channel": "testjson", "client_id": client, "reason": reason})
	}
	assert.Equal(t, 1.0, parked("ghost", "unknown_client"))
	assert.Equal(t, 1.0, parked("known", "not_served"))
	assert.Zero(t, parked("known", "unknown_client"))
	assert.Zero(t, parked("other", "not_served"))
	assert.Zero(t, parked("other", "unknown_client"))
}
