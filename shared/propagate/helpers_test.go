package propagate_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/propagate/propagatetest"
	"github.com/signoff/signoff/shared/syncbuf"
)

// The helpers of the worker tests below the conformance suite: one
// JetStream server per test, with signoff's streams, and workers of kind
// "testjson" (jsonPropagator) whose clients are targets by webhook_uri.

// appStreams starts a JetStream server with signoff's streams for a
// configuration whose one client, "app", has the webhook url; mutate
// changes the configuration before the streams are declared.
func appStreams(t *testing.T, url string, mutate ...func(*config.Config)) (jetstream.JetStream, *config.Config) {
	t.Helper()
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	cfg := config.Default()
	cfg.Clients = []config.Client{{ClientID: "app", WebhookURI: url}}
	for _, m := range mutate {
		m(cfg)
	}
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	return js, cfg
}

// receiver answers every request with status (200 when 0) and counts them.
func receiver(t *testing.T, status int) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		calls.Add(1)
		if status != 0 {
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// testjson is the worker of kind testjson on js for cfg's clients.
func testjson(js jetstream.JetStream, cfg *config.Config) propagate.Options {
	return propagate.Options{
		Kind: "testjson", Wants: func(c *config.Client) bool { return c.WebhookURI != "" },
		Propagator: jsonPropagator(), JS: js, Clients: cfg.Registry(),
	}
}

// runNamed runs a worker of kind for the clients wants until the test ends.
func runNamed(t *testing.T, js jetstream.JetStream, cfg *config.Config, kind string, wants ...string) {
	runWorker(t, propagate.Options{
		Kind: kind, Wants: func(c *config.Client) bool { return slices.Contains(wants, c.ClientID) },
		Propagator: jsonPropagator(), JS: js, Clients: cfg.Registry(),
		Retry: propagate.RetryPolicy{Initial: 50 * time.Millisecond},
	})
}

// runWorker runs a worker with o (its logs discarded unless o.Logger is
// set) until the test ends; stop stops it sooner. Either way, a worker
// that does not return within 20 s fails the test.
func runWorker(t *testing.T, o propagate.Options) (stop func()) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- propagate.Run(ctx, o) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(20 * time.Second):
				t.Error("the worker did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// appLogout is a logout of session sid-1, in which "app" took part, at at.
func appLogout(logoutID string, at time.Time) *event.SessionEnded {
	return &event.SessionEnded{LogoutID: logoutID, SID: "sid-1", Sub: "alice", Iss: "https://idp.example.com",
		Reason: event.ReasonEndSession, Time: at.UTC(), Clients: []event.Participant{{ClientID: "app", Sub: "alice"}}}
}

// publishTo publishes, as the front does, a logout of session sid-1 in
// which the clients took part.
func publishTo(t *testing.T, js jetstream.JetStream, logoutID string, clientIDs ...string) {
	e := appLogout(logoutID, time.Now())
	e.Clients = nil
	for _, id := range clientIDs {
		e.Clients = append(e.Clients, event.Participant{ClientID: id, Sub: "alice"})
	}
	propagatetest.Publish(t, js, e)
}

// publishJSON publishes v's JSON on subject, as another replica or an
// older version would have: a task, a progress record, a dead letter.
func publishJSON(t *testing.T, js jetstream.JetStream, subject string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	_, err = js.Publish(t.Context(), subject, data)
	require.NoError(t, err)
}

// appTask is a task of kind testjson for "app" in logout e.
func appTask(e *event.SessionEnded, attempts int) propagate.Task {
	return propagate.Task{Kind: "testjson", ClientID: "app", Sub: "alice", Event: e, Attempts: attempts, NotBefore: time.Now()}
}

// keepState makes the state stream take only subjects: the others are
// refused (no stream listens on them). It returns the stream's full
// configuration, to put it back with js.UpdateStream.
func keepState(t *testing.T, js jetstream.JetStream, subjects ...string) jetstream.StreamConfig {
	t.Helper()
	state, err := js.Stream(t.Context(), natsconn.StreamState)
	require.NoError(t, err)
	full := state.CachedInfo().Config
	narrow := full
	narrow.Subjects = subjects
	_, err = js.UpdateStream(t.Context(), narrow)
	require.NoError(t, err)
	return full
}

// waitNoTasks waits until the work stream holds no task.
func waitNoTasks(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	work, err := js.Stream(t.Context(), natsconn.StreamWork)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := work.Info(t.Context())
		return err == nil && info.State.Msgs == 0
	}, 30*time.Second, 10*time.Millisecond, "the tasks are done")
}

// lastRecord is the delivery's own last progress record.
func lastRecord(t *testing.T, js jetstream.JetStream, logoutID, kind, clientID string) *event.Delivery {
	t.Helper()
	state, err := js.Stream(t.Context(), natsconn.StreamState)
	require.NoError(t, err)
	msg, err := state.GetLastMsgForSubject(t.Context(), event.DeliverySubject(logoutID, kind, clientID))
	require.NoError(t, err)
	d, err := event.Decode[event.Delivery](msg.Data)
	require.NoError(t, err)
	return d
}

// waitGrowingDelays waits for n log lines msg and asserts that from the
// (from+1)-th on, each one's retry_in is more than 1.3 times the one
// before: a backoff that doubles, with 20% jitter.
func waitGrowingDelays(t *testing.T, logs *syncbuf.Buffer, msg string, n, from int) {
	t.Helper()
	delays := func() []time.Duration {
		var out []time.Duration
		for line := range strings.Lines(logs.String()) {
			var rec struct {
				Msg     string `json:"msg"`
				RetryIn int64  `json:"retry_in"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
				out = append(out, time.Duration(rec.RetryIn))
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(delays()) >= n }, 20*time.Second, 20*time.Millisecond,
		"%d lines %q", n, msg)
	d := delays()
	for i := from; i < n; i++ {
		assert.Greater(t, float64(d[i]), 1.3*float64(d[i-1]), "each delay grows: %v", d)
	}
}
