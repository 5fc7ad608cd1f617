package sessions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/services/front/internal/sessions"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
)

// replica is what one front holds: an index, its feed, service and intake.
type replica struct {
	ix     *index.Index
	svc    *sessions.Service
	feed   *sessions.Feed
	intake *sessions.Intake
}

// testClients are the clients every replica registers.
var testClients = []config.Client{
	{ClientID: "app1", BackchannelLogoutURI: "https://app1.example/bc"},
	{ClientID: "app2", WebhookURI: "https://app2.example/hook", WebhookSecret: "0123456789abcdef0123456789abcdef"},
}

// startReplica starts a replica; each option is applied to its feed
// before the feed starts.
func startReplica(t *testing.T, js jetstream.JetStream, options ...func(*sessions.Feed)) *replica {
	t.Helper()
	ix, err := index.New()
	require.NoError(t, err)
	r := &replica{ix: ix, svc: sessions.NewService(js, ix, config.NewRegistry(testClients), 3, "http://issuer")}
	r.feed = sessions.NewFeed(js, ix, time.Hour, slog.New(slog.DiscardHandler))
	r.feed.SkipOwnEnds(r.svc)
	mender := sessions.NewMender(r.svc, ix, slog.New(slog.DiscardHandler))
	menderCtx, stopMender := context.WithCancel(context.Background())
	menderDone := make(chan struct{})
	go func() { defer close(menderDone); mender.Run(menderCtx, r.feed.Ready()) }()
	t.Cleanup(func() { stopMender(); <-menderDone })
	for _, o := range options {
		o(r.feed)
	}
	require.NoError(t, r.feed.Start(t.Context()))
	r.intake = sessions.NewIntake(js, r.svc, r.feed.Ready(), slog.New(slog.DiscardHandler))
	require.NoError(t, r.intake.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r.intake.Stop(ctx)
		r.feed.Stop()
	})
	select {
	case <-r.feed.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("index not built")
	}
	return r
}

func setup(t *testing.T) jetstream.JetStream {
	s := natstest.RunServer(t, "")
	_, js := natstest.Connect(t, s)
	cfg := config.Default()
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	return js
}

func TestReplicasBuildTheSameIndex(t *testing.T) {
	js := setup(t)
	a := startReplica(t, js)
	b := startReplica(t, js)

	// Through the API path on replica a: a sees it at once.
	require.NoError(t, a.svc.Join(t.Context(), &event.Joined{SID: "s1", ClientID: "app1", Sub: "alice"}))
	s, ok := a.ix.Session("s1")
	require.True(t, ok)
	assert.Equal(t, "alice", s.Sub)

	// Published by an IdP on signoff.v1.session.joined: taken by one front,
	// seen by both.
	data, _ := json.Marshal(event.Joined{SID: "s1", ClientID: "app2", Sub: "pairwise-2"})
	_, err := js.Publish(t.Context(), event.SubjectSessionJoined, data)
	require.NoError(t, err)
	// A report for an unknown client is dropped, not retried forever.
	bad, _ := json.Marshal(event.Joined{SID: "s1", ClientID: "nobody", Sub: "x"})
	_, err = js.Publish(t.Context(), event.SubjectSessionJoined, bad)
	require.NoError(t, err)

	for _, r := range []*replica{a, b} {
		require.Eventually(t, func() bool {
			s, ok := r.ix.Session("s1")
			return ok && len(s.Clients) == 2
		}, 10*time.Second, 10*time.Millisecond)
	}
	s, _ = b.ix.Session("s1")
	assert.Equal(t, "alice", s.Sub)
	assert.False(t, s.HasClient("nobody"))

	// Unknown client and the per-session bound.
	require.ErrorIs(t, a.svc.Join(t.Context(), &event.Joined{SID: "s1", ClientID: "zzz", Sub: "a"}), sessions.ErrUnknownClient)

	// A logout decided on b reaches a.
	e := &event.SessionEnded{LogoutID: "L1", SID: "s1", Sub: "alice", Iss: "http://127.0.0.1:8080",
		Clients: []event.Participant{{ClientID: "app1", Sub: "alice"}, {ClientID: "app2", Sub: "pairwise-2"}},
		Reason:  event.ReasonAPI, Time: time.Now().UTC()}
	require.NoError(t, b.svc.End(t.Context(), e))
	require.Eventually(t, func() bool {
		s, _ := a.ix.Session("s1")
		return s.Ended()
	}, 10*time.Second, 10*time.Millisecond)
	// The same logout published again (a retry) is stored once.
	require.NoError(t, b.svc.End(t.Context(), e))
	stream, err := js.Stream(t.Context(), natsconn.StreamEvents)
	require.NoError(t, err)
	info, err := stream.Info(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 1, info.State.Msgs)
}

func TestRestartRebuildsIndex(t *testing.T) {
	dir := t.TempDir()
	s := natstest.RunServer(t, dir)
	_, js := natstest.Connect(t, s)
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, config.Default(), nil))
	a := startReplica(t, js)
	for i, sid := range []string{"s1", "s2", "s3"} {
		require.NoError(t, a.svc.Join(t.Context(), &event.Joined{SID: sid, ClientID: "app1", Sub: "alice"}))
		require.NoError(t, a.svc.Join(t.Context(), &event.Joined{SID: sid, ClientID: "app2", Sub: "p" + sid}))
		// Re-reported: replaces the earlier record, does not add one.
		require.NoError(t, a.svc.Join(t.Context(), &event.Joined{SID: sid, ClientID: "app1", Sub: "alice"}))
		_ = i
	}
	require.NoError(t, a.svc.End(t.Context(), &event.SessionEnded{LogoutID: "L2", SID: "s2", Sub: "alice",
		Iss: "x", Reason: event.ReasonAPI, Time: time.Now().UTC()}))
	_, err := js.Publish(t.Context(), event.DeliverySubject("L2", "backchannel", "app1"),
		mustJSON(t, event.Delivery{LogoutID: "L2", SID: "s2", ClientID: "app1", Channel: "backchannel", Status: event.StatusDelivered, Attempts: 1}))
	require.NoError(t, err)

	// The NATS server restarts too, from its store; then a fresh front.
	s.Shutdown()
	s.WaitForShutdown()
	s2 := natstest.RunServer(t, dir)
	_, js2 := natstest.Connect(t, s2)
	b := startReplica(t, js2)
	assert.Equal(t, 3, b.ix.Len())
	for _, sid := range []string{"s1", "s2", "s3"} {
		got, ok := b.ix.Session(sid)
		require.True(t, ok, sid)
		assert.Equal(t, "alice", got.Sub)
		assert.Len(t, got.Clients, 2)
		assert.Equal(t, sid == "s2", got.Ended(), sid)
	}
	got, _ := b.ix.Session("s2")
	require.Len(t, got.Deliveries, 1)
	assert.Equal(t, event.StatusDelivered, got.Deliveries[0].Status)

	st, err := js2.Stream(t.Context(), natsconn.StreamState)
	require.NoError(t, err)
	info, err := st.Info(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 7, info.State.Msgs, "the state stream keeps the last record per subject only")
}

// TestRebuildOfManyEndedSessions: a restarted front's catch-up applies
// its messages in batches (hundreds per index transaction), across which
// every participation, logout and delivery record is applied, whatever
// the kinds interleaved in the stream: with batches of 7 messages, which
// it crosses hundreds of times, and of the default 512, which the state
// messages fill twice and the logouts not once.
func TestRebuildOfManyEndedSessions(t *testing.T) {
	js := setup(t)
	const n = 600
	at := time.Now().UTC()
	publish := func(subject string, v any) {
		t.Helper()
		_, err := js.Publish(t.Context(), subject, mustJSON(t, v))
		require.NoError(t, err)
	}
	for i := range n {
		sid, logoutID := fmt.Sprintf("s%03d", i), fmt.Sprintf("L%03d", i)
		for _, c := range []string{"app1", "app2"} {
			publish(event.ParticipationSubject(sid, c), event.Joined{SID: sid, ClientID: c, Sub: "u-" + c, Time: at})
		}
		if i%3 == 2 {
			continue // live
		}
		publish(event.SubjectSessionEnded, event.SessionEnded{LogoutID: logoutID, SID: sid, Sub: "u-app1", Iss: "x",
			Clients: []event.Participant{{ClientID: "app1", Sub: "u-app1"}, {ClientID: "app2", Sub: "u-app2"}},
			Reason:  event.ReasonAPI, Time: at})
		publish(event.BatchSubject(logoutID, "backchannel", 1), event.DeliveryBatch{LogoutID: logoutID, SID: sid,
			Channel: "backchannel", Time: at, Deliveries: []event.BatchDelivery{
				{ClientID: "app1", Status: event.StatusDelivered, Attempts: 1},
				{ClientID: "app2", Status: event.StatusRetrying, Attempts: 1, LastError: "500"}}})
		if i%3 == 0 { // app2's retry went through: its own record, later
			publish(event.DeliverySubject(logoutID, "backchannel", "app2"), event.Delivery{LogoutID: logoutID, SID: sid,
				ClientID: "app2", Channel: "backchannel", Status: event.StatusDelivered, Attempts: 2, Time: at})
		}
	}

	for _, batch := range []int{7, 512} {
		t.Run(fmt.Sprintf("%d per batch", batch), func(t *testing.T) {
			r := startReplica(t, js, func(f *sessions.Feed) { sessions.SetBatch(f, batch) })
			checkRebuilt(t, r, n)
		})
	}
}

// checkRebuilt checks the index of TestRebuildOfManyEndedSessions.
func checkRebuilt(t *testing.T, r *replica, n int) {
	require.Equal(t, n, r.ix.Len())
	for i := range n {
		sid := fmt.Sprintf("s%03d", i)
		s, ok := r.ix.Session(sid)
		require.True(t, ok, sid)
		require.Len(t, s.Clients, 2, sid)
		require.Equal(t, i%3 != 2, s.Ended(), sid)
		if !s.Ended() {
			continue
		}
		want := []index.Delivery{
			{ClientID: "app1", Channel: "backchannel", Status: event.StatusDelivered, Attempts: 1},
			{ClientID: "app2", Channel: "backchannel", Status: event.StatusRetrying, Attempts: 1, LastError: "500"},
		}
		if i%3 == 0 {
			want[1] = index.Delivery{ClientID: "app2", Channel: "backchannel", Status: event.StatusDelivered, Attempts: 2}
		}
		require.Equal(t, fmt.Sprintf("L%03d", i), s.LogoutID, sid)
		require.Equal(t, want, s.Deliveries, sid)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestLateReportThroughNATS: a participation published on
// signoff.v1.session.joined after its session ended is not recorded, and
// that client gets a logout of its own.
func TestLateReportThroughNATS(t *testing.T) {
	js := setup(t)
	r := startReplica(t, js)
	require.NoError(t, r.svc.Join(t.Context(), &event.Joined{SID: "s-late", ClientID: "app1", Sub: "alice"}))
	require.NoError(t, r.svc.End(t.Context(), &event.SessionEnded{LogoutID: sessions.SessionLogoutID("s-late"), SID: "s-late",
		Sub: "alice", Iss: "x", Reason: event.ReasonAPI, Time: time.Now().UTC(),
		Clients: []event.Participant{{ClientID: "app1", Sub: "alice"}}}))
	_, err := js.Publish(t.Context(), event.SubjectSessionJoined, mustJSON(t, event.Joined{SID: "s-late", ClientID: "app2", Sub: "bob"}))
	require.NoError(t, err)

	late := secondLogout(t, js, "a second, late logout")
	assert.Equal(t, []event.Participant{{ClientID: "app2", Sub: "bob", Channels: []string{"webhook"}}}, late.Clients,
		"the late participant is stamped with its channels in this front's configuration")
	assert.Equal(t, event.ReasonAPI, late.Reason)
	s, _ := r.ix.Session("s-late")
	assert.False(t, s.HasClient("app2"), "not recorded in the ended session")
	intake, err := js.Consumer(t.Context(), natsconn.StreamIntake, sessions.IntakeConsumer)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := intake.Info(t.Context())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, 10*time.Second, 10*time.Millisecond, "the report is acknowledged, not redelivered")
}

// TestIntakeWaitsForTheIndex: a front whose index is not built yet takes
// no report: one for a session whose logout it has not read yet would be
// recorded as a live participation, and its client never logged out (and
// taking it only to hand it back slows the fronts that can record). The
// report waits in the stream, and is recorded once the index is built.
func TestIntakeWaitsForTheIndex(t *testing.T) {
	js := setup(t)
	ix, err := index.New()
	require.NoError(t, err)
	svc := sessions.NewService(js, ix, config.NewRegistry(testClients), 3, "http://issuer")
	built := make(chan struct{})
	intake := sessions.NewIntake(js, svc, built, slog.New(slog.DiscardHandler))
	require.NoError(t, intake.Start(t.Context()))
	t.Cleanup(func() { intake.Stop(context.Background()) })

	_, err = js.Publish(t.Context(), event.SubjectSessionJoined, mustJSON(t, event.Joined{SID: "s-wait", ClientID: "app1", Sub: "alice"}))
	require.NoError(t, err)
	cons, err := js.Consumer(t.Context(), natsconn.StreamIntake, sessions.IntakeConsumer)
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond) // time to take it, were it taken
	info, err := cons.Info(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 1, info.NumPending, "the report waits in the stream")
	assert.Zero(t, info.NumAckPending, "no front holds it")
	_, ok := ix.Session("s-wait")
	assert.False(t, ok, "nothing recorded before the index is built")

	close(built)
	require.Eventually(t, func() bool {
		s, ok := ix.Session("s-wait")
		return ok && s.HasClient("app1")
	}, 10*time.Second, 10*time.Millisecond, "recorded once the index is built")
}

// TestJoinThatRacesTheLogout: a participation recorded on one replica
// while another decides the session's logout on an index that has not
// read it yet (or on one front, a report between the logout's snapshot
// and its event) is in no logout: its client would keep its session. The
// fronts notice when both are in their index, and that client gets a
// logout of its own (the same one from both, which JetStream stores once).
func TestJoinThatRacesTheLogout(t *testing.T) {
	js := setup(t)
	a := startReplica(t, js)
	b := startReplica(t, js)
	require.NoError(t, a.svc.Join(t.Context(), &event.Joined{SID: "s-race", ClientID: "app1", Sub: "alice"}))
	require.Eventually(t, func() bool { s, ok := b.ix.Session("s-race"); return ok && s.HasClient("app1") },
		10*time.Second, 10*time.Millisecond)
	// b's snapshot of the session: app1 only.
	s, _ := b.ix.Session("s-race")
	e := sessions.Snapshot(s, sessions.SessionLogoutID("s-race"), event.ReasonAPI, "http://issuer", time.Now())
	// app2's report reaches a, before b's logout is published.
	require.NoError(t, a.svc.Join(t.Context(), &event.Joined{SID: "s-race", ClientID: "app2", Sub: "bob"}))
	require.NoError(t, b.svc.End(t.Context(), e))

	late := secondLogout(t, js, "a second logout, for app2")
	assert.Equal(t, []event.Participant{{ClientID: "app2", Sub: "bob", Channels: []string{"webhook"}}}, late.Clients)
	assert.Equal(t, event.ReasonAPI, late.Reason)
	for _, r := range []*replica{a, b} {
		require.Eventually(t, func() bool {
			s, _ := r.ix.Session("s-race")
			return slices.Contains(s.Later, late.LogoutID)
		}, 10*time.Second, 10*time.Millisecond)
	}
}

// TestDuplicateEndAppliesTheStoredLogout: two fronts end one session with
// different snapshots of it; JetStream stores the first, and answers the
// second as a duplicate. The second front applies the stored logout, not
// its own snapshot: a participant only its snapshot named is in no
// logout, and gets one of its own.
func TestDuplicateEndAppliesTheStoredLogout(t *testing.T) {
	js := setup(t)
	a := startReplica(t, js)
	b := startReplica(t, js)
	require.NoError(t, a.svc.Join(t.Context(), &event.Joined{SID: "s-dup", ClientID: "app1", Sub: "alice"}))
	require.Eventually(t, func() bool { s, ok := b.ix.Session("s-dup"); return ok && s.HasClient("app1") },
		10*time.Second, 10*time.Millisecond)
	sa, _ := a.ix.Session("s-dup")
	ea := sessions.Snapshot(sa, sessions.SessionLogoutID("s-dup"), event.ReasonAPI, "http://issuer", time.Now().UTC())
	// a reads nothing more (it goes away, say); b records app2.
	a.feed.Stop()
	require.NoError(t, b.svc.Join(t.Context(), &event.Joined{SID: "s-dup", ClientID: "app2", Sub: "bob"}))
	sb, _ := b.ix.Session("s-dup")
	eb := sessions.Snapshot(sb, sessions.SessionLogoutID("s-dup"), event.ReasonEndSession, "http://issuer", time.Now().UTC())
	// b's publish is answered before b reads a's logout (modelled by a
	// feed stopped until then).
	b.feed.Stop()
	require.NoError(t, a.svc.End(t.Context(), ea)) // stored: app1 only
	require.NoError(t, b.svc.End(t.Context(), eb)) // a duplicate
	feed := sessions.NewFeed(js, b.ix, time.Hour, slog.New(slog.DiscardHandler))
	feed.SkipOwnEnds(b.svc)
	require.NoError(t, feed.Start(t.Context()))
	t.Cleanup(feed.Stop)

	late := secondLogout(t, js, "a logout of its own for app2")
	assert.Equal(t, "app2", late.Clients[0].ClientID)
	require.Eventually(t, func() bool { return b.ix.Covered("s-dup", "app2", "bob") }, 10*time.Second, 10*time.Millisecond)
	s, _ := b.ix.Session("s-dup")
	assert.Equal(t, ea.LogoutID, s.LogoutID)
	assert.Equal(t, event.ReasonAPI, s.Reason, "the stored logout's")
}

// TestIntakeStopWithoutStart: a front whose start failed before its
// intake started (the feed, or binding the intake's consumer) closes at
// once; it used to wait for its context, which ends only with SIGTERM.
func TestIntakeStopWithoutStart(t *testing.T) {
	js := setup(t)
	ix, err := index.New()
	require.NoError(t, err)
	svc := sessions.NewService(js, ix, config.NewRegistry(testClients), 3, "http://issuer")
	intake := sessions.NewIntake(js, svc, make(chan struct{}), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	intake.Stop(ctx)
	require.NoError(t, ctx.Err(), "Stop returned at once")
	// Started after a Stop: nothing runs, and a second Stop returns too.
	require.NoError(t, intake.Start(t.Context()))
	intake.Stop(ctx)
	require.NoError(t, ctx.Err())
}

// secondLogout waits until the events stream holds two logouts and
// returns the second: a late one.
func secondLogout(t *testing.T, js jetstream.JetStream, why string) *event.SessionEnded {
	t.Helper()
	stream, err := js.Stream(t.Context(), natsconn.StreamEvents)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := stream.Info(t.Context())
		return err == nil && info.State.Msgs == 2
	}, 10*time.Second, 10*time.Millisecond, why)
	msg, err := stream.GetLastMsgForSubject(t.Context(), event.SubjectSessionEnded)
	require.NoError(t, err)
	late, err := event.Decode[event.SessionEnded](msg.Data)
	require.NoError(t, err)
	return late
}
