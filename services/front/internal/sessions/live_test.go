package sessions_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/front/internal/sessions"
	"github.com/signoff/signoff/shared/event"
)

// TestLiveDeliveryProgressReachesTheIndex: progress published by a worker
// after the feed started shows in the session.
func TestLiveDeliveryProgressReachesTheIndex(t *testing.T) {
	js := setup(t)
	r := startReplica(t, js)
	require.NoError(t, r.svc.Join(t.Context(), &event.Joined{SID: "s1", ClientID: "app1", Sub: "alice"}))
	require.NoError(t, r.svc.Join(t.Context(), &event.Joined{SID: "s1", ClientID: "app2", Sub: "alice"}))
	require.Eventually(t, func() bool {
		s, ok := r.ix.Session("s1")
		return ok && len(s.Clients) == 2
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, r.svc.End(t.Context(), &event.SessionEnded{LogoutID: "L9", SID: "s1", Sub: "alice",
		Iss: "x", Reason: event.ReasonAPI, Time: time.Now().UTC(),
		Clients: []event.Participant{{ClientID: "app1", Sub: "alice"}, {ClientID: "app2", Sub: "alice"}}}))
	for _, st := range []event.Status{event.StatusPending, event.StatusDelivered} {
		_, err := js.Publish(t.Context(), event.DeliverySubject("L9", "backchannel", "app1"),
			mustJSON(t, event.Delivery{LogoutID: "L9", SID: "s1", ClientID: "app1", Channel: "backchannel", Status: st, Attempts: 1, Time: time.Now().UTC()}))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		s, _ := r.ix.Session("s1")
		return len(s.Deliveries) == 1 && s.Deliveries[0].Status == event.StatusDelivered
	}, 10*time.Second, 10*time.Millisecond)

	// A batch of first-attempt outcomes lands in one go; a later record of
	// one delivery (a replay) supersedes its entry.
	batch := event.DeliveryBatch{LogoutID: "L9", SID: "s1", Channel: "webhook", Time: time.Now().UTC(),
		Deliveries: []event.BatchDelivery{{ClientID: "app1", Status: event.StatusFailed, Attempts: 1, LastError: "HTTP 400"},
			{ClientID: "app2", Status: event.StatusDelivered, Attempts: 1}}}
	_, err := js.Publish(t.Context(), event.BatchSubject("L9", "webhook", 1), mustJSON(t, batch))
	require.NoError(t, err)
	_, err = js.Publish(t.Context(), event.DeliverySubject("L9", "webhook", "app1"),
		mustJSON(t, event.Delivery{LogoutID: "L9", ClientID: "app1", Channel: "webhook", Status: event.StatusPending, Time: time.Now().UTC()}))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s, _ := r.ix.Session("s1")
		got := map[string]event.Status{}
		for _, d := range s.Deliveries {
			got[d.ClientID+"/"+d.Channel] = d.Status
		}
		return len(s.Deliveries) == 3 && got["app1/webhook"] == event.StatusPending && got["app2/webhook"] == event.StatusDelivered
	}, 10*time.Second, 10*time.Millisecond)
}

// A front applies its own logouts at once and skips them when the feed
// brings them back; another front applies them from the feed. Nothing is
// left behind in the set of own logouts.
func TestOwnLogoutsComeBackOnce(t *testing.T) {
	js := setup(t)
	a, b := startReplica(t, js), startReplica(t, js)
	require.NoError(t, a.svc.Join(t.Context(), &event.Joined{SID: "s1", ClientID: "app1", Sub: "alice"}))
	require.Eventually(t, func() bool { _, ok := b.ix.Session("s1"); return ok }, 10*time.Second, 10*time.Millisecond)

	e := &event.SessionEnded{LogoutID: "L1", SID: "s1", Sub: "alice", Iss: "x", Reason: event.ReasonAPI,
		Time: time.Now().UTC(), Clients: []event.Participant{{ClientID: "app1", Sub: "alice"}}}
	require.NoError(t, a.svc.End(t.Context(), e))
	s, _ := a.ix.Session("s1")
	require.True(t, s.Ended(), "at once on the front that ended it")
	require.Eventually(t, func() bool { s, _ := b.ix.Session("s1"); return s.Ended() }, 10*time.Second, 10*time.Millisecond,
		"through the feed on the other")
	require.Eventually(t, func() bool { return sessions.OwnEnds(a.svc) == 0 }, 10*time.Second, 10*time.Millisecond,
		"the feed took the logout back out")

	// The same logout again (a retried request): JetStream stores it once,
	// the feed never brings it back, and it is not remembered.
	require.NoError(t, a.svc.End(t.Context(), e))
	assert.Zero(t, sessions.OwnEnds(a.svc))
}

// The same logout ended at once by two requests (the end-session endpoint
// and the API, say): both succeed, the session ends once, and nothing is
// left in the set of own logouts.
func TestConcurrentEndsOfOneLogout(t *testing.T) {
	js := setup(t)
	r := startReplica(t, js)
	require.NoError(t, r.svc.Join(t.Context(), &event.Joined{SID: "s2", ClientID: "app1", Sub: "bob"}))
	for i := range 20 {
		e := &event.SessionEnded{LogoutID: fmt.Sprintf("L-%d", i), SID: "s2", Sub: "bob", Iss: "x", Reason: event.ReasonAPI,
			Time: time.Now().UTC(), Clients: []event.Participant{{ClientID: "app1", Sub: "bob"}}}
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- r.svc.End(t.Context(), e) }()
		}
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)
	}
	s, _ := r.ix.Session("s2")
	assert.True(t, s.Ended())
	assert.Equal(t, "L-0", s.LogoutID, "the first logout ended it; the later ones changed nothing")
	require.Eventually(t, func() bool { return sessions.OwnEnds(r.svc) == 0 }, 10*time.Second, 10*time.Millisecond)
}
