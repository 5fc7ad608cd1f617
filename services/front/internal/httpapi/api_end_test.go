package httpapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/event"
)

// TestSubjectLogouts: a subject's sessions go into as few events as fit
// the size budget; every session is in exactly one, each event's JSON
// stays within the budget, and each participant lists exactly the sessions
// of its event that it took part in.
func TestSubjectLogouts(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var live []*index.Session
	took := map[string][]string{} // client -> sids
	for i := range 300 {
		s := &index.Session{SID: fmt.Sprintf("session-%04d-%s", i, "0123456789abcdef0123456789abcdef"), Sub: "alice"}
		for c := range 1 + i%5 {
			id := fmt.Sprintf("client-%d", c)
			s.Clients = append(s.Clients, index.Client{ClientID: id, Sub: "alice-" + id})
			took[id] = append(took[id], s.SID)
		}
		live = append(live, s)
	}

	one := subjectLogouts("alice", "https://idp.example.com", now, live, maxEventBytes)
	require.Len(t, one, 1, "300 sessions fit one event")

	const budget = 16 << 10
	es := subjectLogouts("alice", "https://idp.example.com", now, live, budget)
	require.Greater(t, len(es), 1)
	seen := map[string]int{}
	ids := map[string]bool{}
	for _, e := range es {
		data, err := json.Marshal(e)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(data), budget, "event %s", e.LogoutID)
		require.NoError(t, e.Validate())
		assert.False(t, ids[e.LogoutID], "logout ids are distinct")
		ids[e.LogoutID] = true
		assert.Equal(t, event.ReasonAPISubject, e.Reason)
		assert.Empty(t, e.SID)
		for _, sid := range e.Sessions {
			seen[sid]++
		}
		for _, p := range e.Clients {
			var want []string
			for _, sid := range took[p.ClientID] {
				if slices.Contains(e.Sessions, sid) {
					want = append(want, sid)
				}
			}
			slices.Sort(want)
			assert.Equal(t, want, p.SIDs, "%s in %s", p.ClientID, e.LogoutID)
		}
	}
	assert.Len(t, seen, len(live), "every session is ended")
	for sid, n := range seen {
		assert.Equal(t, 1, n, sid)
	}

	// A session larger than the budget still gets its own event.
	big := subjectLogouts("alice", "https://idp.example.com", now, live[:3], 10)
	assert.Len(t, big, 3)
}

// TestSubjectLogoutsLeaveRoomForChannels: End lists each participant's
// channels (up to all four) in the event after the split, so the budget
// holds with them even when every participant is new to its event.
func TestSubjectLogoutsLeaveRoomForChannels(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var live []*index.Session
	for i := range 200 {
		s := &index.Session{SID: fmt.Sprintf("session-%04d", i), Sub: "alice"}
		for c := range 3 {
			id := fmt.Sprintf("c-%d-%d", i, c)
			s.Clients = append(s.Clients, index.Client{ClientID: id, Sub: "alice"})
		}
		live = append(live, s)
	}
	const budget = 16 << 10
	es := subjectLogouts("alice", "https://idp.example.com", now, live, budget)
	require.Greater(t, len(es), 1)
	for _, e := range es {
		for i := range e.Clients {
			e.Clients[i].Channels = []string{"frontchannel", "backchannel", "webhook", "events"}
		}
		data, err := json.Marshal(e)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(data), budget, "event %s, with its participants' channels", e.LogoutID)
	}
}

// TestSubjectLogoutsListAClientOnce: a client that was given different
// subs in two sessions of the subject is in two events, once in each, each
// with its own sub and sessions (the workers record one delivery per
// client and logout: listed twice, one of its two deliveries was lost).
func TestSubjectLogoutsListAClientOnce(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	live := []*index.Session{
		{SID: "s1", Sub: "alice", Clients: []index.Client{{ClientID: "app", Sub: "p1"}, {ClientID: "other", Sub: "alice"}}},
		{SID: "s2", Sub: "alice", Clients: []index.Client{{ClientID: "other", Sub: "alice"}}},
		{SID: "s3", Sub: "alice", Clients: []index.Client{{ClientID: "app", Sub: "p2"}}},
		{SID: "s4", Sub: "alice", Clients: []index.Client{{ClientID: "app", Sub: "p2"}}},
	}
	es := subjectLogouts("alice", "https://idp.example.com", now, live, maxEventBytes)
	require.Len(t, es, 2)
	type got struct {
		sessions []string
		clients  []event.Participant
	}
	assert.Equal(t, got{[]string{"s1", "s2"}, []event.Participant{
		{ClientID: "app", Sub: "p1", SIDs: []string{"s1"}}, {ClientID: "other", Sub: "alice", SIDs: []string{"s1", "s2"}}}},
		got{es[0].Sessions, es[0].Clients})
	assert.Equal(t, got{[]string{"s3", "s4"}, []event.Participant{{ClientID: "app", Sub: "p2", SIDs: []string{"s3", "s4"}}}},
		got{es[1].Sessions, es[1].Clients})
}
