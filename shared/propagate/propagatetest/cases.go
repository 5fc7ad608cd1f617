package propagatetest

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/propagate"
)

func testOncePerTarget(t *testing.T, w Worker) {
	h := setup(t, w, 5)
	h.start(4)
	var logouts []*event.SessionEnded
	for range 3 {
		logouts = append(logouts, h.publish())
	}
	for _, e := range logouts {
		for _, c := range h.cfg.Clients {
			d := h.waitStatus(e.LogoutID, c.ClientID, event.StatusDelivered)
			assert.Equal(t, 1, d.Attempts)
			assert.Equal(t, e.SID, d.SID)
		}
	}
	for _, c := range h.cfg.Clients {
		got := h.recv.Requests(c.ClientID)
		assert.Len(t, got, len(logouts), c.ClientID)
		for _, e := range logouts {
			assert.Equal(t, 1, count(got, e.LogoutID), "%s got %s %d times", c.ClientID, e.LogoutID, count(got, e.LogoutID))
		}
	}
	// One info line per logout says how it went.
	for _, e := range logouts {
		h.wantSummary(e.LogoutID, map[string]float64{"targets": 5, "delivered": 5, "failed": 0, "skipped": 0, "parked": 0, "settled_before": 0})
	}
}

func testPermanent(t *testing.T, w Worker) {
	h := setup(t, w, 2)
	h.recv.Answer("c1", http.StatusBadRequest)
	h.start(4)
	e := h.publish()
	d := h.waitStatus(e.LogoutID, "c1", event.StatusFailed)
	assert.Equal(t, 1, d.Attempts)
	assert.Contains(t, d.LastError, "invalid_request")
	h.waitStatus(e.LogoutID, "c2", event.StatusDelivered)
	h.wantSummary(e.LogoutID, map[string]float64{"targets": 2, "delivered": 1, "failed": 1, "skipped": 0, "parked": 0})
	// Give a wrongful retry the time to show up.
	time.Sleep(300 * time.Millisecond)
	assert.Len(t, h.recv.Requests("c1"), 1, "a 400 is never retried")

	st, err := h.js.Stream(t.Context(), natsconn.StreamEvents)
	require.NoError(t, err)
	msg, err := st.GetLastMsgForSubject(t.Context(), event.DeadLetterSubject(w.Kind, "c1", e.LogoutID))
	require.NoError(t, err, "the failure is dead-lettered")
	assert.Contains(t, string(msg.Data), e.LogoutID)

	// An operator replays the dead letter too early: it fails again, on
	// its own record this time.
	_, err = propagate.Replay(t.Context(), h.js, w.Kind, "c1", e.LogoutID)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(h.recv.Requests("c1")) == 2 }, 10*time.Second, 10*time.Millisecond)
	h.waitStatus(e.LogoutID, "c1", event.StatusFailed)
	// The client is fixed; the operator replays it again.
	h.recv.Answer("c1", http.StatusOK)
	_, err = propagate.Replay(t.Context(), h.js, w.Kind, "c1", e.LogoutID)
	require.NoError(t, err)
	h.waitStatus(e.LogoutID, "c1", event.StatusDelivered)
	assert.Len(t, h.recv.Requests("c1"), 3)
	// A third replay (a double click) finds it delivered and changes
	// nothing: no pending over delivered, no fourth call.
	_, err = propagate.Replay(t.Context(), h.js, w.Kind, "c1", e.LogoutID)
	require.ErrorIs(t, err, propagate.ErrNotFailed)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, event.StatusDelivered, h.last(e.LogoutID, "c1").Status)
	assert.Len(t, h.recv.Requests("c1"), 3)
	_, err = propagate.Replay(t.Context(), h.js, w.Kind, "c2", e.LogoutID)
	assert.ErrorIs(t, err, propagate.ErrNoDeadLetter)
}

func testTransient(t *testing.T, w Worker) {
	h := setup(t, w, 2)
	h.recv.Answer("c1", http.StatusInternalServerError, http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusOK)
	h.start(4)
	e := h.publish()
	d := h.waitStatus(e.LogoutID, "c1", event.StatusDelivered)
	assert.Equal(t, 4, d.Attempts)
	assert.Equal(t, []string{e.LogoutID, e.LogoutID, e.LogoutID, e.LogoutID}, h.recv.Requests("c1"))
	require.Eventually(t, func() bool { return slices.Contains(h.statuses(e.LogoutID, "c1"), event.StatusRetrying) },
		5*time.Second, 10*time.Millisecond)
	h.deliveredOnce(e.LogoutID, "c1")
	h.waitStatus(e.LogoutID, "c2", event.StatusDelivered)
}

func testSlowRetry(t *testing.T, w Worker) {
	h := setup(t, w, 1)
	h.timeout = 30 * time.Second // far longer than the suite's AckWait
	h.recv.Answer("c1", http.StatusServiceUnavailable, http.StatusOK)
	release := h.recv.HangAfter("c1", 1) // the retry hangs
	h.start(4)
	h.start(4)
	e := h.publish()
	require.Eventually(t, func() bool { return len(h.recv.Requests("c1")) == 2 }, 10*time.Second, 10*time.Millisecond,
		"the first attempt and its retry")
	// JetStream would hand the task out again after AckWait if the
	// replica that calls did not say that it still works on it. Nothing to
	// wait for but time: a second call would come within 1.5 AckWaits.
	// (The worker's own HTTP timeout must be longer than that, 3 s: one
	// that gives up sooner makes a second call by design.)
	time.Sleep(3 * ackWait / 2)
	release()
	h.deliveredOnce(e.LogoutID, "c1")
	assert.Len(t, h.recv.Requests("c1"), 2, "no second call while the retry was in flight")
}

func testBreaker(t *testing.T, w Worker) {
	h := setup(t, w, 2)
	// Three failures open c1's breaker (the suite's policy). c1 fails
	// until the second logout is parked, however long the machine takes
	// to get there: while it fails, every half-open probe fails and opens
	// the breaker again. Then it heals.
	h.recv.Answer("c1", 500)
	h.start(4)
	first := h.publish()
	require.Eventually(t, func() bool { return len(h.recv.Requests("c1")) >= 3 }, 10*time.Second, 10*time.Millisecond)
	second := h.publish()
	require.Eventually(t, func() bool { return slices.Contains(h.statuses(second.LogoutID, "c1"), event.StatusDeferred) },
		10*time.Second, 10*time.Millisecond, "a logout arriving while the breaker is open is parked as deferred")
	h.recv.Answer("c1", 200)
	for _, e := range []*event.SessionEnded{first, second} {
		h.waitStatus(e.LogoutID, "c1", event.StatusDelivered)
		h.waitStatus(e.LogoutID, "c2", event.StatusDelivered)
	}
	assert.Equal(t, 1, count(h.recv.Requests("c2"), second.LogoutID), "c2's breaker is its own")
}

func testBreakerRatio(t *testing.T, w Worker) {
	h := setup(t, w, 1)
	// Six deliveries go through, then three failures in a row (as many as
	// open the breaker of a failing target), then it answers again: 3 of
	// 9 calls failed, less than half.
	h.recv.Answer("c1", 200, 200, 200, 200, 200, 200, 500, 500, 500, 200)
	h.start(4)
	for range 6 {
		h.waitStatus(h.publish().LogoutID, "c1", event.StatusDelivered)
	}
	e := h.publish()
	h.waitStatus(e.LogoutID, "c1", event.StatusDelivered)
	assert.NotContains(t, h.statuses(e.LogoutID, "c1"), event.StatusDeferred, "the breaker stayed closed")
	assert.Len(t, h.recv.Requests("c1"), 10, "delivered on the fourth attempt")
}

func testPerTarget(t *testing.T, w Worker) {
	h := setup(t, w, 2)
	release := h.recv.Hang("c1")
	h.start(2)
	var logouts []*event.SessionEnded
	for range 5 {
		logouts = append(logouts, h.publish())
	}
	// c2 is served while c1 hangs.
	for _, e := range logouts {
		h.waitStatus(e.LogoutID, "c2", event.StatusDelivered)
	}
	assert.LessOrEqual(t, len(h.recv.Requests("c1")), 2, "at most PerTarget requests to a hanging client")
	release()
	for _, e := range logouts {
		h.waitStatus(e.LogoutID, "c1", event.StatusDelivered)
		h.deliveredOnce(e.LogoutID, "c1")
	}
}

func testDeadReplica(t *testing.T, w Worker) {
	h := setup(t, w, 3)
	release := h.recv.Hang("c3")
	stopA := h.start(4)
	e := h.publish()
	h.waitStatus(e.LogoutID, "c1", event.StatusDelivered)
	h.waitStatus(e.LogoutID, "c2", event.StatusDelivered)
	require.Eventually(t, func() bool { return len(h.recv.Requests("c3")) == 1 }, 10*time.Second, 10*time.Millisecond)
	// Replica A dies in the middle of the logout; B takes over.
	go stopA(true)
	release()
	h.start(4)
	h.waitStatus(e.LogoutID, "c3", event.StatusDelivered)
	for _, c := range []string{"c1", "c2", "c3"} {
		h.deliveredOnce(e.LogoutID, c) // whatever the redeliveries
	}
	assert.Len(t, h.recv.Requests("c1"), 1, "a delivered target is not delivered again")
	cons, err := h.js.Consumer(t.Context(), natsconn.StreamEvents, propagate.EventsConsumer(w.Kind))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, 10*time.Second, 20*time.Millisecond, "the event is acknowledged in the end")
	// Whoever acknowledged it summed it up (checkSummaries checks that
	// the counts of a redelivered event's line add up too).
	require.Eventually(t, func() bool { return len(h.summaries(e.LogoutID)) > 0 },
		10*time.Second, 10*time.Millisecond, "a summary line for the logout")
}

// skipReason is why the suite makes a worker skip a client.
const skipReason = "propagatetest: this client is skipped"

// testSkip: a target the worker skips (the suite's Skip, before the
// worker's own) gets no call and no task; its delivery is recorded at once
// as skipped, with the reason as last error, and is settled.
func testSkip(t *testing.T, w Worker) {
	h := setup(t, w, 3)
	h.skip = map[string]string{"c2": skipReason}
	h.start(4)
	e := h.publish()
	h.waitStatus(e.LogoutID, "c1", event.StatusDelivered)
	h.waitStatus(e.LogoutID, "c3", event.StatusDelivered)
	d := h.waitStatus(e.LogoutID, "c2", event.StatusSkipped)
	assert.Equal(t, skipReason, d.LastError)
	assert.Zero(t, d.Attempts)
	assert.Equal(t, e.SID, d.SID)
	assert.True(t, d.Status.Settled(), "a skipped delivery ends the front's wait")
	h.wantSummary(e.LogoutID, map[string]float64{"targets": 3, "delivered": 2, "failed": 0, "skipped": 1, "parked": 0, "settled_before": 0})
	// The line comes once every outcome is stored: a call to c2 would
	// have come before it.
	assert.Empty(t, h.recv.Requests("c2"), "a skipped target is not called")
	assert.Equal(t, []event.Status{event.StatusSkipped}, h.statuses(e.LogoutID, "c2"))
}

// testRedelivered: replica A's connection is cut while one first attempt
// (c2) is in flight, so the event comes back, to replica B. By then c1 was
// parked (its first attempt failed; its retries hang), c3 delivered and c4
// skipped. B calls c2 again (its outcome was never stored), hands c1 off
// again and counts it parked, and calls neither c3 nor c4: they count as
// settled before.
func testRedelivered(t *testing.T, w Worker) {
	h := setup(t, w, 4)
	h.skip = map[string]string{"c4": skipReason}
	// A's call to c2 must outlast the cut, however slow the machine.
	h.timeout = time.Minute
	h.recv.Answer("c1", http.StatusInternalServerError, http.StatusOK)
	releaseC1 := h.recv.HangAfter("c1", 1)
	releaseC2 := h.recv.Hang("c2")
	a := h.startReplica(h.cfg, 4)
	e := h.publish()
	h.waitStatus(e.LogoutID, "c1", event.StatusRetrying)
	h.waitStatus(e.LogoutID, "c3", event.StatusDelivered)
	h.waitStatus(e.LogoutID, "c4", event.StatusSkipped)
	require.Eventually(t, func() bool { return len(h.recv.Requests("c2")) == 1 }, 10*time.Second, 10*time.Millisecond)
	a.cut()
	releaseC2()
	h.start(4)

	h.wantSummaryOf(e.LogoutID, true, map[string]float64{"targets": 4, "delivered": 1, "failed": 0, "skipped": 0, "parked": 1, "settled_before": 2})
	assert.Equal(t, event.StatusRetrying, h.last(e.LogoutID, "c1").Status, "c1 was still parked when B took the event")
	assert.Len(t, h.recv.Requests("c3"), 1, "a delivered target is not called again")
	assert.Empty(t, h.recv.Requests("c4"), "a skipped target is not called on a redelivery either")
	h.waitStatus(e.LogoutID, "c2", event.StatusDelivered)
	releaseC1()
	h.waitStatus(e.LogoutID, "c1", event.StatusDelivered)
	for _, c := range []string{"c2", "c3"} {
		h.deliveredOnce(e.LogoutID, c) // c2: A's outcome was never stored
	}
	assert.Equal(t, event.StatusSkipped, h.last(e.LogoutID, "c4").Status)
	a.stop(true)
}

// testUnknownClient: the configuration reached the fronts before this
// worker, so a logout names a client that replica A does not know. A
// delivers to the others, parks the new client's delivery in the work
// stream and acknowledges the event (other logouts are not held up);
// replica B, started with the new configuration, delivers to the new
// client, and nobody gets anything twice.
func testUnknownClient(t *testing.T, w Worker) {
	t.Run("delivered", func(t *testing.T) { testUnknownClientThen(t, w, false) })
	// The replica that knows c3 decides whether to skip it: a parked
	// delivery is no way around the worker's Skip.
	t.Run("skipped", func(t *testing.T) { testUnknownClientThen(t, w, true) })
}

func testUnknownClientThen(t *testing.T, w Worker, skip bool) {
	h := setup(t, w, 3)
	old := *h.cfg
	old.Clients = h.cfg.Clients[:2] // c3 is new
	stopA := h.startWith(&old, 4)
	e := h.publish()
	h.waitStatus(e.LogoutID, "c1", event.StatusDelivered)
	h.waitStatus(e.LogoutID, "c2", event.StatusDelivered)
	cons, err := h.js.Consumer(t.Context(), natsconn.StreamEvents, propagate.EventsConsumer(w.Kind))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, 10*time.Second, 20*time.Millisecond, "replica A acknowledges the event")
	work, err := h.js.Stream(t.Context(), natsconn.StreamWork)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := work.Info(t.Context(), jetstream.WithSubjectFilter(event.WorkSubject(w.Kind, "c3")))
		return err == nil && info.State.Msgs == 1
	}, 10*time.Second, 20*time.Millisecond, "c3's delivery is parked in the work stream")
	assert.Empty(t, h.recv.Requests("c3"), "replica A cannot deliver to a client it does not know")
	assert.Nil(t, h.last(e.LogoutID, "c3"), "no progress record until a replica that knows c3 takes it")

	stopA(false)
	if skip {
		h.skip = map[string]string{"c3": skipReason}
		h.start(4)
		d := h.waitStatus(e.LogoutID, "c3", event.StatusSkipped)
		assert.Equal(t, skipReason, d.LastError)
		assert.Empty(t, h.recv.Requests("c3"), "a skipped target gets nothing")
		return
	}
	h.start(4)
	h.waitStatus(e.LogoutID, "c3", event.StatusDelivered)
	for _, c := range []string{"c1", "c2", "c3"} {
		h.deliveredOnce(e.LogoutID, c)
		assert.Len(t, h.recv.Requests(c), 1, c)
	}
}

// testChangedClient: c3 was given this worker's channel, and the new
// configuration reached the fronts before replica A, which knows c3 but
// does not serve it. A logout published by a front with A's configuration
// leaves c3 alone (it has nothing to deliver there), as do one by a front
// older than the participants' channels and one by a front that gave c3
// only a channel that no worker serves; one published by a front with the
// new configuration names c3 with channels that make it A's target, so A
// parks c3's delivery in the work stream instead of dropping it, and
// replica B, started with the new configuration, delivers it.
func testChangedClient(t *testing.T, w Worker) {
	h := setup(t, w, 3)
	old := *h.cfg
	old.Clients = slices.Clone(h.cfg.Clients)
	old.Clients[2] = config.Client{ClientID: "c3", Name: "Client 3"} // not a target of this kind yet
	if w.Options(t, &old).Wants(&old.Clients[2]) {
		t.Skip("this kind's targets do not follow the clients' channels in the configuration (its Wants reads something else), so a front cannot tell that a replica sees them otherwise")
	}
	stopA := h.startWith(&old, 4)
	work, err := h.js.Stream(t.Context(), natsconn.StreamWork)
	require.NoError(t, err)
	subject := event.WorkSubject(w.Kind, "c3")
	parked := func() uint64 {
		// State.Msgs counts the whole stream: the filter fills Subjects.
		info, err := work.Info(t.Context(), jetstream.WithSubjectFilter(subject))
		require.NoError(t, err)
		return info.State.Subjects[subject]
	}

	before := h.publishAs(&old)
	// A front older than the participants' channels: the worker's
	// configuration decides alone, so A leaves c3 alone here too.
	unlisted := h.publishAs(nil)
	// A change that does not concern this kind parks nothing either: no
	// replica would ever take it.
	other := old
	other.Clients = slices.Clone(old.Clients)
	other.Clients[2].FrontchannelLogoutURI = "https://c3.example/fc"
	frontOnly := h.publishAs(&other)
	for _, l := range []*event.SessionEnded{before, unlisted, frontOnly} {
		h.waitStatus(l.LogoutID, "c1", event.StatusDelivered)
		h.waitStatus(l.LogoutID, "c2", event.StatusDelivered)
	}
	cons, err := h.js.Consumer(t.Context(), natsconn.StreamEvents, propagate.EventsConsumer(w.Kind))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, 10*time.Second, 20*time.Millisecond, "replica A acknowledges the first logouts")
	assert.Zero(t, parked(), "the first logouts, where c3 is not this kind's target at their front or has no channels listed, park nothing")
	e := h.publish()
	h.waitStatus(e.LogoutID, "c1", event.StatusDelivered)
	h.waitStatus(e.LogoutID, "c2", event.StatusDelivered)
	require.Eventually(t, func() bool { return parked() == 1 }, 10*time.Second, 20*time.Millisecond,
		"c3's delivery of the second logout is parked in the work stream")
	assert.Empty(t, h.recv.Requests("c3"), "replica A does not serve c3")
	assert.Nil(t, h.last(e.LogoutID, "c3"), "no progress record until a replica that serves c3 takes it")

	stopA(false)
	h.start(4)
	h.waitStatus(e.LogoutID, "c3", event.StatusDelivered)
	h.deliveredOnce(e.LogoutID, "c3")
	assert.Len(t, h.recv.Requests("c3"), 1, "only the logout of the new configuration reaches c3")
	for _, l := range []*event.SessionEnded{before, unlisted, frontOnly} {
		assert.Nil(t, h.last(l.LogoutID, "c3"), "the first logouts, where c3 had no such channel, are not its")
	}
}

// deliveredOnce waits for the delivered record of one delivery in the
// progress log (a subscription, which may lag the stream) and checks that
// there is exactly one.
func (h *harness) deliveredOnce(logoutID, clientID string) {
	h.t.Helper()
	n := func() int { return count(statusStrings(h.statuses(logoutID, clientID)), string(event.StatusDelivered)) }
	require.Eventually(h.t, func() bool { return n() >= 1 }, 10*time.Second, 10*time.Millisecond, "%s/%s delivered", logoutID, clientID)
	time.Sleep(50 * time.Millisecond) // a wrongful second one would show by now
	assert.Equal(h.t, 1, n(), "%s/%s: exactly one delivered", logoutID, clientID)
}

func statusStrings(ss []event.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return slices.Clip(out)
}
