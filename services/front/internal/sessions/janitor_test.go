package sessions

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
)

// janitorClients are the clients the janitor's tests register.
var janitorClients = config.NewRegistry([]config.Client{{ClientID: "app1", BackchannelLogoutURI: "https://app1.example/bc"}})

func TestJanitorExpiresAndRemoves(t *testing.T) {
	s := natstest.RunServer(t, "")
	nc, js := natstest.Connect(t, s)
	_ = nc
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, config.Default(), nil))
	ix, err := index.New()
	require.NoError(t, err)
	svc := NewService(js, ix, janitorClients, 10, "http://issuer")
	now := time.Now()
	svc.now = func() time.Time { return now.Add(-2 * time.Hour) }
	require.NoError(t, svc.Join(t.Context(), &event.Joined{SID: "old-live", ClientID: "app1", Sub: "alice"}))
	require.NoError(t, svc.Join(t.Context(), &event.Joined{SID: "old-ended", ClientID: "app1", Sub: "bob"}))
	require.NoError(t, svc.End(t.Context(), &event.SessionEnded{LogoutID: "L1", SID: "old-ended", Sub: "bob", Iss: "i",
		Reason: event.ReasonAPI, Time: now.Add(-2 * time.Hour)}))
	svc.now = time.Now
	require.NoError(t, svc.Join(t.Context(), &event.Joined{SID: "fresh", ClientID: "app1", Sub: "carol"}))

	sub, err := nc.SubscribeSync(event.SubjectSessionEnded)
	require.NoError(t, err)
	j := NewJanitor(svc, ix, time.Hour, "http://issuer", slog.New(slog.DiscardHandler))
	// Two replicas sweeping the same session publish one expiry.
	assert.Equal(t, 1, j.Sweep(t.Context()), "the ended one leaves; the live one ends")
	msg, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	e, err := event.Decode[event.SessionEnded](msg.Data)
	require.NoError(t, err)
	assert.Equal(t, event.ReasonExpired, e.Reason)
	assert.Equal(t, "old-live", e.SID)
	assert.Equal(t, []event.Participant{{ClientID: "app1", Sub: "alice", Channels: []string{"backchannel"}}}, e.Clients,
		"each participant is stamped with its channels in this front's configuration")

	expired, ok := ix.Session("old-live")
	require.True(t, ok, "an expired session stays as ended for a retention period, as any ended one")
	assert.True(t, expired.Ended())
	assert.Equal(t, event.ReasonExpired, expired.Reason)
	_, ok = ix.Session("old-ended")
	assert.False(t, ok)
	_, ok = ix.Session("fresh")
	assert.True(t, ok)
	// A late participation in the expired session is no new session.
	require.ErrorIs(t, svc.Join(t.Context(), &event.Joined{SID: "old-live", ClientID: "app1", Sub: "alice"}), ErrSessionEnded)

	// A retention period later, it leaves (and fresh expires).
	j.now = func() time.Time { return time.Now().Add(time.Hour + time.Minute) }
	assert.Equal(t, 1, j.Sweep(t.Context()))
	_, ok = ix.Session("old-live")
	assert.False(t, ok)
	for {
		m, err := sub.NextMsg(200 * time.Millisecond)
		if err != nil {
			break
		}
		e, err := event.Decode[event.SessionEnded](m.Data)
		require.NoError(t, err)
		assert.Equal(t, "fresh", e.SID, "no second expiry of old-live")
	}

	created := now.Add(-2 * time.Hour).UTC()
	again := expiredEvent(&index.Session{SID: "old-live", Created: created}, "i", time.Now())
	first := expiredEvent(&index.Session{SID: "old-live", Created: created}, "i", time.Now().Add(time.Minute))
	assert.Equal(t, first.LogoutID, again.LogoutID, "replicas agree on the expiry's logout id")
	assert.True(t, event.ValidToken(first.LogoutID))
}

// TestJanitorPrunesLateDeliveries: progress that reaches the index after
// its session left it (a delivery failed at the end of its retry budget,
// a replay) is removed once it is older than the retention, not kept for
// ever; recent progress stays.
func TestJanitorPrunesLateDeliveries(t *testing.T) {
	s := natstest.RunServer(t, "")
	_, js := natstest.Connect(t, s)
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, config.Default(), nil))
	ix, err := index.New()
	require.NoError(t, err)
	now := time.Now()
	late := func(logoutID string, at time.Time) {
		require.NoError(t, ix.ApplyDelivery(&event.Delivery{LogoutID: logoutID, SID: "gone", ClientID: "app1",
			Channel: "backchannel", Status: event.StatusFailed, Attempts: 10, Time: at}, 1))
	}
	late("L-old", now.Add(-2*time.Hour))
	late("L-recent", now.Add(-time.Minute))
	all := func() []string { return ix.StaleLedgers(now.Add(time.Hour), 100) }
	require.ElementsMatch(t, []string{"L-old", "L-recent"}, all())

	svc := NewService(js, ix, janitorClients, 10, "http://issuer")
	NewJanitor(svc, ix, time.Hour, "http://issuer", slog.New(slog.DiscardHandler)).Sweep(t.Context())
	assert.Equal(t, []string{"L-recent"}, all())
}

// TestJanitorWaitsForTheIndex: the janitor sweeps nothing before the index
// is built (a session whose latest participation is not read yet looks
// older than it is), then sweeps every interval.
func TestJanitorWaitsForTheIndex(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, config.Default(), nil))
	ix, err := index.New()
	require.NoError(t, err)
	svc := NewService(js, ix, janitorClients, 10, "http://issuer")
	svc.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	require.NoError(t, svc.Join(t.Context(), &event.Joined{SID: "looks-old", ClientID: "app1", Sub: "alice"}))
	svc.now = time.Now

	built := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewJanitor(svc, ix, time.Hour, "http://issuer", slog.New(slog.DiscardHandler)).Run(ctx, built, 10*time.Millisecond)
	}()
	t.Cleanup(func() { cancel(); <-done })
	ended := func() bool { s, ok := ix.Session("looks-old"); return ok && s.Ended() }
	time.Sleep(200 * time.Millisecond) // twenty intervals
	assert.False(t, ended(), "no sweep before the index is built")
	close(built)
	require.Eventually(t, ended, 10*time.Second, 10*time.Millisecond, "swept once the index is built")
}

// TestJanitorAfterAnotherFrontsExpiry: another front expired a page of
// sessions first, and this front's feed has not read those logouts yet.
// Its sweep's expiries are duplicates, and apply the stored logouts: the
// sweep moves on instead of ending the same page again and again.
func TestJanitorAfterAnotherFrontsExpiry(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, config.Default(), nil))
	newFront := func() (*index.Index, *Service) {
		ix, err := index.New()
		require.NoError(t, err)
		svc := NewService(js, ix, janitorClients, 10, "http://issuer")
		svc.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
		return ix, svc
	}
	ixA, svcA := newFront()
	ixB, svcB := newFront()
	const n = 600 // more than a page
	for i := range n {
		j := &event.Joined{SID: fmt.Sprintf("s%03d", i), ClientID: "app1", Sub: "alice"}
		require.NoError(t, svcA.Join(t.Context(), j))
		require.NoError(t, ixB.ApplyJoined(j, uint64(i+1))) // as b's feed had
	}
	svcA.now, svcB.now = time.Now, time.Now
	logger := slog.New(slog.DiscardHandler)
	NewJanitor(svcA, ixA, time.Hour, "http://issuer", logger).Sweep(t.Context())

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	NewJanitor(svcB, ixB, time.Hour, "http://issuer", logger).Sweep(ctx)
	require.NoError(t, ctx.Err(), "the sweep ended by itself")
	for i := range n {
		s, ok := ixB.Session(fmt.Sprintf("s%03d", i))
		require.True(t, ok)
		require.True(t, s.Ended(), "b's index has the stored expiry")
	}
}
