package index

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/event"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func TestSchemaValid(t *testing.T) {
	_, err := memdb.NewMemDB(schema())
	require.NoError(t, err)
}

func join(t *testing.T, ix *Index, sid, client, sub string, seq uint64, at time.Time) {
	t.Helper()
	require.NoError(t, ix.ApplyJoined(&event.Joined{SID: sid, ClientID: client, Sub: sub, Time: at}, seq))
}

func TestJoinedBuildsSessions(t *testing.T) {
	ix, err := New()
	require.NoError(t, err)
	// Applied out of order: the session's sub is the lowest sequence's.
	join(t, ix, "s1", "app2", "pairwise-2", 7, t0.Add(time.Minute))
	join(t, ix, "s1", "app1", "alice", 3, t0)
	join(t, ix, "s10", "app1", "bob", 4, t0)  // a sid that extends "s1"
	join(t, ix, "s1", "app1", "stale", 2, t0) // older than what is applied: ignored

	s, ok := ix.Session("s1")
	require.True(t, ok)
	assert.Equal(t, "alice", s.Sub)
	assert.ElementsMatch(t, []Client{{"app1", "alice"}, {"app2", "pairwise-2"}}, s.Clients)
	assert.Equal(t, t0, s.Created)
	assert.Nil(t, s.EndedAt)
	assert.Empty(t, s.Deliveries)
	assert.True(t, s.HasClient("app2"))
	assert.False(t, s.HasClient("app3"))
	assert.Equal(t, 2, ix.Len())
	assert.Equal(t, []string{"s1"}, ix.LiveSessionsOf("app1", "alice"))
	assert.Equal(t, []string{"s1"}, ix.LiveSessionsOf("app2", "pairwise-2"))
	assert.Empty(t, ix.LiveSessionsOf("app2", "alice"))

	_, ok = ix.Session("nope")
	assert.False(t, ok)
}

func TestEndedIsFirstWins(t *testing.T) {
	ix, err := New()
	require.NoError(t, err)
	join(t, ix, "s1", "app1", "alice", 1, t0)
	e1 := &event.SessionEnded{LogoutID: "L1", SID: "s1", Sub: "alice", Reason: event.ReasonEndSession, Time: t0.Add(time.Minute)}
	e2 := &event.SessionEnded{LogoutID: "L2", SID: "s1", Sub: "alice", Reason: event.ReasonAPI, Time: t0.Add(2 * time.Minute)}
	require.NoError(t, ix.ApplyEnded(e1))
	require.NoError(t, ix.ApplyEnded(e2))
	s, _ := ix.Session("s1")
	require.NotNil(t, s.EndedAt)
	assert.Equal(t, t0.Add(time.Minute), *s.EndedAt)
	assert.Equal(t, "L1", s.LogoutID)
	assert.Empty(t, ix.LiveSessionsOf("app1", "alice"))

	// A later logout of the ended session (a late participant's) shows its
	// deliveries with the session's own; the session stays ended by L1.
	require.NoError(t, ix.ApplyDelivery(&event.Delivery{LogoutID: "L1", ClientID: "app1", Channel: "backchannel", Status: event.StatusDelivered, Attempts: 1}, 5))
	require.NoError(t, ix.ApplyDelivery(&event.Delivery{LogoutID: "L2", ClientID: "app2", Channel: "backchannel", Status: event.StatusRetrying, Attempts: 1}, 6))
	require.NoError(t, ix.ApplyEnded(e2)) // applied twice: listed once
	s, _ = ix.Session("s1")
	assert.Equal(t, "L1", s.LogoutID)
	assert.Equal(t, []Delivery{
		{ClientID: "app1", Channel: "backchannel", Status: event.StatusDelivered, Attempts: 1},
		{ClientID: "app2", Channel: "backchannel", Status: event.StatusRetrying, Attempts: 1, LogoutID: "L2"},
	}, s.Deliveries)
	require.NoError(t, ix.Remove("s1"))
	assert.Empty(t, ix.StaleLedgers(t0.Add(24*time.Hour), 10), "the later logout's deliveries leave with the session")

	// An unknown sid is remembered as ended.
	require.NoError(t, ix.ApplyEnded(&event.SessionEnded{LogoutID: "L3", Sessions: []string{"x", "y"}, Sub: "carol", Reason: event.ReasonAPISubject, Time: t0}))
	x, ok := ix.Session("x")
	require.True(t, ok)
	assert.True(t, x.Ended())
}

// TestEndedRecordsItsInitiator: a logout's initiating client may be one
// the index does not have (a hint's client the IdP never reported); the
// ended session lists it, so that its late report is no new participant.
// Without a sub it is left out; a subject-wide logout adds nothing (its
// participants come from an index) and leaves the sessions it does not end
// alone.
func TestEndedRecordsItsInitiator(t *testing.T) {
	ix, err := New()
	require.NoError(t, err)
	t0 := time.Now().UTC()
	require.NoError(t, ix.ApplyJoined(&event.Joined{SID: "s1", ClientID: "app1", Sub: "alice", Time: t0}, 1))
	require.NoError(t, ix.ApplyJoined(&event.Joined{SID: "live", ClientID: "app1", Sub: "alice", Time: t0}, 2))
	require.NoError(t, ix.ApplyEnded(&event.SessionEnded{LogoutID: "L1", SID: "s1", Sub: "alice", Reason: event.ReasonEndSession, Time: t0,
		InitiatingClientID: "app2", Clients: []event.Participant{{ClientID: "app1", Sub: "alice"}, {ClientID: "app2", Sub: "pw-alice"}}}))
	s, _ := ix.Session("s1")
	assert.True(t, s.Ended())
	assert.ElementsMatch(t, []Client{{ClientID: "app1", Sub: "alice"}, {ClientID: "app2", Sub: "pw-alice"}}, s.Clients)

	require.NoError(t, ix.ApplyEnded(&event.SessionEnded{LogoutID: "L0", SID: "s0", Sub: "alice", Reason: event.ReasonEndSession, Time: t0,
		InitiatingClientID: "app3", Clients: []event.Participant{{ClientID: "app3"}}}))
	s, _ = ix.Session("s0")
	assert.Empty(t, s.Clients, "no sub: left out")

	require.NoError(t, ix.ApplyEnded(&event.SessionEnded{LogoutID: "L2", Sessions: []string{"s2"}, Sub: "alice", Reason: event.ReasonAPISubject, Time: t0,
		InitiatingClientID: "app2", Clients: []event.Participant{{ClientID: "app2", Sub: "pw-alice", SIDs: []string{"s2", "live"}}}}))
	s, _ = ix.Session("live")
	assert.False(t, s.Ended())
	assert.Equal(t, []Client{{ClientID: "app1", Sub: "alice"}}, s.Clients, "a session the logout does not end is left alone")

	// A report read after the logout (a rebuild) takes the place of the row.
	require.NoError(t, ix.ApplyJoined(&event.Joined{SID: "s1", ClientID: "app2", Sub: "pw-alice", Time: t0.Add(-time.Minute)}, 3))
	s, _ = ix.Session("s1")
	assert.ElementsMatch(t, []Client{{ClientID: "app1", Sub: "alice"}, {ClientID: "app2", Sub: "pw-alice"}}, s.Clients)
	assert.Equal(t, t0.Add(-time.Minute), s.Created)
}

func TestWaitSettled(t *testing.T) {
	ix, err := New()
	require.NoError(t, err)
	targets := []Target{{"app1", "backchannel"}, {"app2", "backchannel"}}
	put := func(client string, st event.Status, seq uint64) {
		require.NoError(t, ix.ApplyDelivery(&event.Delivery{LogoutID: "L1", ClientID: client, Channel: "backchannel", Status: st, Attempts: 1}, seq))
	}
	put("app1", event.StatusDelivered, 1)
	put("app2", event.StatusRetrying, 2)

	// Not settled: the wait ends with its context.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, ok := ix.WaitSettled(ctx, "L1", targets)
	assert.False(t, ok)

	// Settles while waiting: the watch wakes the waiter.
	done := make(chan bool)
	go func() {
		_, ok := ix.WaitSettled(t.Context(), "L1", targets)
		done <- ok
	}()
	put("app2", event.StatusPending, 1) // older sequence: ignored
	put("app2", event.StatusDeferred, 3)
	assert.True(t, <-done)

	// No targets: settled at once.
	_, ok = ix.WaitSettled(t.Context(), "L-none", nil)
	assert.True(t, ok)
}

func TestStaleAndRemove(t *testing.T) {
	ix, err := New()
	require.NoError(t, err)
	join(t, ix, "old", "app1", "alice", 1, t0)
	join(t, ix, "new", "app1", "alice", 2, t0.Add(time.Hour))
	require.NoError(t, ix.ApplyEnded(&event.SessionEnded{LogoutID: "L1", SID: "old", Sub: "alice", Reason: event.ReasonAPI, Time: t0.Add(time.Second)}))
	require.NoError(t, ix.ApplyDelivery(&event.Delivery{LogoutID: "L1", ClientID: "app1", Channel: "backchannel", Status: event.StatusDelivered}, 3))

	stale := ix.Stale(t0.Add(time.Minute), 10)
	require.Len(t, stale, 1)
	assert.Equal(t, "old", stale[0].SID)
	assert.Len(t, stale[0].Deliveries, 1)

	require.NoError(t, ix.Remove("old"))
	_, ok := ix.Session("old")
	assert.False(t, ok)
	assert.Equal(t, 1, ix.Len())
	ds, _ := ix.WaitSettled(t.Context(), "L1", nil)
	assert.Empty(t, ds)
	require.NoError(t, ix.Remove("absent"))
}

// TestSubjectWideLedgerPerSession: a logout of all of a subject's sessions
// is one ledger; each session shows the deliveries of its own clients.
func TestSubjectWideLedgerPerSession(t *testing.T) {
	ix, err := New()
	require.NoError(t, err)
	join(t, ix, "s1", "app1", "alice", 1, t0)
	join(t, ix, "s1", "app2", "alice", 2, t0)
	join(t, ix, "s2", "app1", "alice", 3, t0)
	require.NoError(t, ix.ApplyEnded(&event.SessionEnded{LogoutID: "L", Sessions: []string{"s1", "s2"}, Sub: "alice",
		Reason: event.ReasonAPISubject, Time: t0.Add(time.Minute)}))
	require.NoError(t, ix.ApplyDeliveries([]event.Delivery{
		{LogoutID: "L", ClientID: "app1", Channel: "backchannel", Status: event.StatusDelivered, Attempts: 1},
		{LogoutID: "L", ClientID: "app2", Channel: "backchannel", Status: event.StatusDelivered, Attempts: 1},
	}, 4))

	clients := func(sid string) []string {
		s, ok := ix.Session(sid)
		require.True(t, ok, sid)
		require.Equal(t, "L", s.LogoutID)
		var out []string
		for _, d := range s.Deliveries {
			out = append(out, d.ClientID)
		}
		return out
	}
	assert.ElementsMatch(t, []string{"app1", "app2"}, clients("s1"))
	assert.Equal(t, []string{"app1"}, clients("s2"), "app2 took no part in s2")
}

// TestBatches: what a rebuild applies in one transaction (ApplyState's
// records, ApplyEndedBatch's logouts) ends as applying each on its own
// would: in order, an older record ignored, a ledger updated twice, the
// first of two logouts of a session its own and the second a later one.
// A record that cannot be applied leaves the others applied, and the
// error names it.
func TestBatches(t *testing.T) {
	ix, err := New()
	require.NoError(t, err)
	d := func(logoutID, client string, st event.Status, attempts int) event.Delivery {
		return event.Delivery{LogoutID: logoutID, ClientID: client, Channel: "backchannel", Status: st, Attempts: attempts}
	}
	err = ix.ApplyState([]Record{
		{Seq: 1, Joined: &event.Joined{SID: "s1", ClientID: "app1", Sub: "alice", Time: t0}},
		{Seq: 2, Joined: &event.Joined{SID: "s1", ClientID: "app2", Sub: "p-alice", Time: t0}},
		{Seq: 3, Deliveries: []event.Delivery{d("L1", "app1", event.StatusPending, 0), d("L1", "app2", event.StatusPending, 0)}},
		{Seq: 4, Deliveries: []event.Delivery{d("L1", "app1", event.StatusDelivered, 1)}},
		{Seq: 5, Joined: &event.Joined{SID: "", ClientID: "app1", Sub: "nobody", Time: t0}}, // cannot be keyed
		{Seq: 6, Deliveries: []event.Delivery{d("L1", "app2", event.StatusRetrying, 1)}},
		{Seq: 3, Deliveries: []event.Delivery{d("L1", "app2", event.StatusFailed, 9)}}, // older than seq 6: ignored
		{Seq: 7, Joined: &event.Joined{SID: "s2", ClientID: "app1", Sub: "bob", Time: t0}},
	})
	require.ErrorContains(t, err, "applying state record 5")
	assert.NotContains(t, err.Error(), "record 6")
	require.NoError(t, ix.ApplyEndedBatch([]*event.SessionEnded{
		{LogoutID: "L1", SID: "s1", Sub: "alice", Reason: event.ReasonEndSession, Time: t0.Add(time.Minute)},
		{LogoutID: "L9", SID: "s1", Sub: "alice", Reason: event.ReasonAPI, Time: t0.Add(2 * time.Minute)},
		{LogoutID: "L3", Sub: "bob", Sessions: []string{"", "s2"}, Reason: event.ReasonAPISubject, Time: t0.Add(time.Minute)},
	}))

	assert.Equal(t, 2, ix.Len())
	s1, ok := ix.Session("s1")
	require.True(t, ok)
	assert.Len(t, s1.Clients, 2)
	assert.Equal(t, "L1", s1.LogoutID)
	assert.Equal(t, []string{"L9"}, s1.Later)
	assert.Equal(t, []Delivery{
		{ClientID: "app1", Channel: "backchannel", Status: event.StatusDelivered, Attempts: 1},
		{ClientID: "app2", Channel: "backchannel", Status: event.StatusRetrying, Attempts: 1},
	}, s1.Deliveries)
	s2, ok := ix.Session("s2")
	require.True(t, ok)
	assert.Equal(t, "L3", s2.LogoutID, "an empty sid among a logout's sessions takes nothing with it")
}

// TestUncovered: a participant of an ended session that none of its
// logouts named is reported, whichever the index reads first, the
// participation or the logout; a named one never is, nor one that a later
// logout named.
func TestUncovered(t *testing.T) {
	ix, err := New()
	require.NoError(t, err)
	var got []Uncovered
	ix.OnUncovered(func(us []Uncovered) { got = append(got, us...) })
	ended := func(logoutID, sid string, clients ...event.Participant) *event.SessionEnded {
		return &event.SessionEnded{LogoutID: logoutID, SID: sid, Sub: "alice", Reason: event.ReasonEndSession, Time: t0, Clients: clients}
	}
	alice := event.Participant{ClientID: "app1", Sub: "alice"}
	bob := event.Participant{ClientID: "app2", Sub: "bob"}

	// The participation first, then a logout that does not name it.
	join(t, ix, "s1", "app1", "alice", 1, t0)
	join(t, ix, "s1", "app2", "bob", 2, t0)
	require.NoError(t, ix.ApplyEnded(ended("L1", "s1", alice)))
	assert.Equal(t, []Uncovered{{SID: "s1", ClientID: "app2", Sub: "bob"}}, got)
	assert.True(t, ix.Covered("s1", "app1", "alice"))
	assert.False(t, ix.Covered("s1", "app2", "bob"))
	// A later logout that names it covers it.
	require.NoError(t, ix.ApplyEnded(ended("L1-late", "s1", bob)))
	assert.True(t, ix.Covered("s1", "app2", "bob"))

	// The logout first (a rebuild reads the streams in parallel), then the
	// participations: the named one is no news, the other is.
	got = nil
	require.NoError(t, ix.ApplyEnded(ended("L2", "s2", alice)))
	join(t, ix, "s2", "app1", "alice", 3, t0)
	assert.Empty(t, got)
	join(t, ix, "s2", "app2", "bob", 4, t0)
	assert.Equal(t, []Uncovered{{SID: "s2", ClientID: "app2", Sub: "bob"}}, got)

	// A logout of a subject's sessions names each participant in the
	// sessions it lists for it.
	got = nil
	join(t, ix, "s3", "app1", "alice", 5, t0)
	join(t, ix, "s4", "app1", "alice", 6, t0)
	join(t, ix, "s4", "app2", "bob", 7, t0)
	require.NoError(t, ix.ApplyEnded(&event.SessionEnded{LogoutID: "L3", Sessions: []string{"s3", "s4"}, Sub: "alice",
		Reason: event.ReasonAPISubject, Time: t0, Clients: []event.Participant{
			{ClientID: "app1", Sub: "alice", SIDs: []string{"s3", "s4"}}, {ClientID: "app2", Sub: "bob", SIDs: []string{"s3"}}}}))
	assert.Equal(t, []Uncovered{{SID: "s4", ClientID: "app2", Sub: "bob"}}, got)
	assert.False(t, ix.Covered("s3", "app9", "alice"))
	assert.False(t, ix.Covered("live", "app1", "alice"), "an unknown session")
}
