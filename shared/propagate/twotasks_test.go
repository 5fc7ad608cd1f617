package propagate_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	"github.com/signoff/signoff/shared/syncbuf"
)

// TestTwoTasksOfOneDelivery: a logout's event keeps coming back (the
// state stream refuses its progress batch) for longer than the work
// stream's duplicate window (1 s here, 2 min by default) while one of its
// deliveries waits in the retry stage: each time, the delivery is handed
// off again, and two tasks of it are alive at once. The one whose call
// fails after the other's succeeded records nothing over delivered, and
// the client is not called again.
func TestTwoTasksOfOneDelivery(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	cfg := config.Default()
	cfg.Clients = []config.Client{{ClientID: "app"}, {ClientID: "b"}}
	for _, sc := range natsconn.Streams(cfg) {
		if sc.Name == natsconn.StreamWork {
			sc.Duplicates = time.Second
		}
		_, err := js.CreateStream(t.Context(), sc)
		require.NoError(t, err)
	}
	full := keepState(t, js, event.DeliveryPrefix+">", event.ParticipationPrefix+">") // no batches for now
	var appCalls, appOK, inFlight, overlap atomic.Int32
	third := make(chan struct{})
	runWorker(t, propagate.Options{
		Kind: "rk", Wants: func(*config.Client) bool { return true }, Clients: cfg.Registry(), JS: js,
		AckWait: 2 * time.Second,
		Retry:   propagate.RetryPolicy{Initial: 1500 * time.Millisecond, Jitter: 0.0001, Max: 2 * time.Second},
		Propagator: propagate.PropagatorFunc(func(_ context.Context, d *propagate.Delivery) error {
			if d.Client.ClientID != "app" {
				return nil
			}
			if inFlight.Add(1) > 1 {
				overlap.Store(1)
			}
			defer inFlight.Add(-1)
			switch appCalls.Add(1) {
			case 1:
				return errors.New("HTTP 503")
			case 2:
				// The first task's retry fails, but only once the second
				// task's call has succeeded.
				select {
				case <-third:
				case <-time.After(15 * time.Second):
				}
				return errors.New("HTTP 503")
			case 3:
				close(third)
			}
			appOK.Add(1)
			return nil
		}),
	})

	publishTo(t, js, "L-two", "app", "b")
	work, err := js.Stream(t.Context(), natsconn.StreamWork)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := work.Info(t.Context())
		return err == nil && info.State.LastSeq >= 2
	}, 20*time.Second, 20*time.Millisecond, "the delivery is handed off twice: two tasks")
	_, err = js.UpdateStream(t.Context(), full)
	require.NoError(t, err, "batches are taken again")

	require.Eventually(t, func() bool { return appOK.Load() >= 1 }, 30*time.Second, 20*time.Millisecond, "delivered")
	waitNoTasks(t, js)
	d := lastRecord(t, js, "L-two", "rk", "app")
	t.Logf("app: %d calls, %d successful; last record %s/%d", appCalls.Load(), appOK.Load(), d.Status, d.Attempts)
	assert.Equal(t, event.StatusDelivered, d.Status, "nothing is recorded over delivered")
	assert.Equal(t, int32(1), appOK.Load(), "the other task finds it delivered and calls no more")
	assert.Equal(t, int32(1), overlap.Load(), "the scenario: the two tasks' calls ran at once")
}

// TestParkedTaskOfADeliveredClient: a replica that did not know a client
// parked its delivery (a task with no record of its own) and a later
// handling of the event, by a replica that knows it, delivered it at the
// first attempt (a batch entry). The task finds that entry and is done:
// the client is not called a second time.
func TestParkedTaskOfADeliveredClient(t *testing.T) {
	recv, calls := receiver(t, 0)
	js, cfg := appStreams(t, recv.URL)
	e := appLogout("L-parked", time.Now())
	publishJSON(t, js, event.BatchSubject(e.LogoutID, "testjson", 2), event.DeliveryBatch{LogoutID: e.LogoutID, SID: e.SID,
		Channel: "testjson", Time: time.Now().UTC(), Deliveries: []event.BatchDelivery{{ClientID: "app", Status: event.StatusDelivered, Attempts: 1}}})
	publishJSON(t, js, event.WorkSubject("testjson", "app"), appTask(e, 0))

	runNamed(t, js, cfg, "testjson", "app")
	waitNoTasks(t, js)
	assert.Zero(t, calls.Load(), "delivered already: no second call")
}

// TestReplayAfterAFailedHandOff: a replay that could not hand its task off
// (the work stream did not answer) changes nothing, so it can be replayed
// again, and is delivered; it used to leave the delivery pending and be
// refused for ever as not failed. A replay that did hand off is not
// repeated.
func TestReplayAfterAFailedHandOff(t *testing.T) {
	recv, calls := receiver(t, 0)
	js, cfg := appStreams(t, recv.URL)
	e := appLogout("L-replay", time.Now())
	failed := appTask(e, 1)
	failed.LastError = "HTTP 400"
	publishJSON(t, js, event.DeadLetterSubject("testjson", "app", e.LogoutID), propagate.DeadLetter{Task: failed, FailedAt: time.Now().UTC()})

	require.NoError(t, js.DeleteStream(t.Context(), natsconn.StreamWork))
	_, err := propagate.Replay(t.Context(), js, "testjson", "app", e.LogoutID)
	require.Error(t, err, "no work stream: the hand-off fails")
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	_, err = propagate.Replay(t.Context(), js, "testjson", "app", e.LogoutID)
	require.NoError(t, err, "replayed again")
	_, err = propagate.Replay(t.Context(), js, "testjson", "app", e.LogoutID)
	require.ErrorIs(t, err, propagate.ErrNotFailed, "a double click, before the worker took the task")

	runNamed(t, js, cfg, "testjson", "app")
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 10*time.Second, 10*time.Millisecond, "delivered")
}

// TestReplayBeforeItsPendingRecord: a replay hands its task off first and
// then writes pending over the failed record. A task that finds the failed
// record it replays (its pending record not written yet, or refused) is
// attempted with a fresh budget; a replay task of another failed record
// (a later failure of the delivery) is not.
func TestReplayBeforeItsPendingRecord(t *testing.T) {
	recv, calls := receiver(t, 0)
	js, cfg := appStreams(t, recv.URL)
	failed := func(e *event.SessionEnded) uint64 {
		data, err := json.Marshal(event.Delivery{LogoutID: e.LogoutID, SID: e.SID, ClientID: "app", Channel: "testjson",
			Status: event.StatusFailed, Attempts: 12, LastError: "HTTP 503", Time: time.Now().UTC()})
		require.NoError(t, err)
		ack, err := js.Publish(t.Context(), event.DeliverySubject(e.LogoutID, "testjson", "app"), data)
		require.NoError(t, err)
		return ack.Sequence
	}
	replay := func(e *event.SessionEnded, of uint64) {
		task := appTask(e, 0)
		task.Replay, task.ReplayOf = 1, of
		publishJSON(t, js, event.WorkSubject("testjson", "app"), task)
	}
	mine := appLogout("L-replayed", time.Now())
	replay(mine, failed(mine))
	other := appLogout("L-failed-again", time.Now())
	seq := failed(other)
	replay(other, seq-1) // an earlier failure's replay

	runNamed(t, js, cfg, "testjson", "app")
	waitNoTasks(t, js)
	assert.Equal(t, int32(1), calls.Load(), "only the replay of the failed record calls")
	d := lastRecord(t, js, mine.LogoutID, "testjson", "app")
	assert.Equal(t, event.StatusDelivered, d.Status)
	assert.Equal(t, 1, d.Attempts, "a fresh budget")
	assert.Equal(t, event.StatusFailed, lastRecord(t, js, other.LogoutID, "testjson", "app").Status)
}

// TestNoDeadLetterForAnEndedDelivery: a task whose call fails for good
// after another task of the same delivery has recorded it delivered
// publishes no dead letter (a replay of it would be refused anyway), and
// delivered stands.
func TestNoDeadLetterForAnEndedDelivery(t *testing.T) {
	called, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		once.Do(func() { close(called) })
		<-proceed
		w.WriteHeader(http.StatusBadRequest)
	}))
	t.Cleanup(recv.Close)
	js, cfg := appStreams(t, recv.URL)
	e := appLogout("L-ended", time.Now())
	record := func(st event.Status, attempts int) {
		publishJSON(t, js, event.DeliverySubject(e.LogoutID, "testjson", "app"), event.Delivery{LogoutID: e.LogoutID, SID: e.SID,
			ClientID: "app", Channel: "testjson", Status: st, Attempts: attempts, Time: time.Now().UTC()})
	}
	record(event.StatusRetrying, 1)
	publishJSON(t, js, event.WorkSubject("testjson", "app"), appTask(e, 1))

	runNamed(t, js, cfg, "testjson", "app")
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("the task made no call")
	}
	record(event.StatusDelivered, 2) // another task of the delivery
	close(proceed)                   // this one's call fails for good

	waitNoTasks(t, js)
	events, err := js.Stream(t.Context(), natsconn.StreamEvents)
	require.NoError(t, err)
	_, err = events.GetLastMsgForSubject(t.Context(), event.DeadLetterSubject("testjson", "app", e.LogoutID))
	assert.ErrorIs(t, err, jetstream.ErrMsgNotFound, "no dead letter")
	assert.Equal(t, event.StatusDelivered, lastRecord(t, js, e.LogoutID, "testjson", "app").Status)
}

// TestRetryAfterACrashKeepsItsBackoff: a turn that recorded retrying but
// died before answering JetStream (its task comes back after AckWait,
// still saying the previous attempt count) waits for the recorded
// attempt's backoff instead of calling at once.
func TestRetryAfterACrashKeepsItsBackoff(t *testing.T) {
	recv, calls := receiver(t, 0)
	js, cfg := appStreams(t, recv.URL)
	e := appLogout("L-crash", time.Now())
	// The dead turn's record: attempt 2 failed just now.
	publishJSON(t, js, event.DeliverySubject(e.LogoutID, "testjson", "app"), event.Delivery{LogoutID: e.LogoutID, SID: e.SID,
		ClientID: "app", Channel: "testjson", Status: event.StatusRetrying, Attempts: 2, LastError: "HTTP 503", Time: time.Now().UTC()})
	// Its task, as written after attempt 1: due already.
	publishJSON(t, js, event.WorkSubject("testjson", "app"), appTask(e, 1))

	var logs syncbuf.Buffer
	o := testjson(js, cfg)
	o.Logger, o.Retry = slog.New(slog.NewJSONHandler(&logs, nil)), propagate.RetryPolicy{Initial: 10 * time.Second}
	runWorker(t, o)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `"worker running"`) }, 10*time.Second, 10*time.Millisecond)
	cons, err := js.Consumer(t.Context(), natsconn.StreamWork, propagate.TasksConsumer("testjson", "app"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.Delivered.Consumer >= 1
	}, 10*time.Second, 10*time.Millisecond, "the task has its turn")
	assert.Never(t, func() bool { return calls.Load() > 0 }, 2*time.Second, 20*time.Millisecond,
		"no call before the recorded attempt's backoff (16 s at least)")
}
