package sessions_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/event"
)

// TestLiveDeliveryProgressReachesTheIndex: progress published by a worker
// after the feed started shows in the session.
func TestLiveDeliveryProgressReachesTheIndex(t *testing.T) {
	js := setup(t)
	r := startReplica(t, js)
	require.NoError(t, r.svc.Join(t.Context(), &event.Joined{SID: "s1", ClientID: "app1", Sub: "alice"}))
	require.NoError(t, r.svc.End(t.Context(), &event.SessionEnded{LogoutID: "L9", SID: "s1", Sub: "alice",
		Iss: "x", Reason: event.ReasonAPI, Time: time.Now().UTC(), Clients: []event.Participant{{ClientID: "app1", Sub: "alice"}}}))
	for _, st := range []event.Status{event.StatusPending, event.StatusDelivered} {
		_, err := js.Publish(t.Context(), event.DeliverySubject("L9", "backchannel", "app1"),
			mustJSON(t, event.Delivery{LogoutID: "L9", SID: "s1", ClientID: "app1", Channel: "backchannel", Status: st, Attempts: 1, Time: time.Now().UTC()}))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		s, _ := r.ix.Session("s1")
		return len(s.Deliveries) == 1 && s.Deliveries[0].Status == event.StatusDelivered
	}, 10*time.Second, 10*time.Millisecond)
}
