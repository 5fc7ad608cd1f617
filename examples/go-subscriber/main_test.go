package main

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
)

// TestRun runs the subscriber against a real JetStream server with
// signoff's streams, as the events worker would feed it.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs NATS")
	}
	s := natstest.RunServer(t, "")
	_, js := natstest.Connect(t, s)
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, config.Default(), nil))

	// Published before the app starts: a new durable starts with the
	// logouts still in the stream.
	publish(t, js, clientLogout("L0", "app2", "s1", "pairwise-7f3c"), "L0.app2")
	publish(t, js, clientLogout("L1", "app1", "s1", "alice"), "L1.app1")

	out, stop := start(t, "-nats-url", s.ClientURL(), "-client", "app1", "-durable", "test-app",
		"-sessions", "s1=alice,s2=alice,s3=bob,s4=alice")
	l1 := out.waitLogout(t, "L1")

	// L1 again, under a message id JetStream cannot de-duplicate (as after
	// the duplicate window), then a logout of all of alice's sessions.
	publish(t, js, clientLogout("L1", "app1", "s1", "alice"), "L1.app1.again")
	publish(t, js, clientLogout("L2", "app1", "", "alice", "s2"), "L2.app1")
	l2 := out.waitLogout(t, "L2")
	// A logout of all of alice's sessions, from a signoff that did not
	// list them (sids came later).
	publish(t, js, clientLogout("L3", "app1", "", "alice"), "L3.app1")
	l3 := out.waitLogout(t, "L3")
	require.NoError(t, stop())

	assert.Equal(t, "app1", l1["client_id"])
	assert.Equal(t, "s1", l1["sid"])
	assert.Equal(t, "alice", l1["sub"])
	assert.Equal(t, "end_session", l1["reason"])
	assert.Equal(t, "2026-11-21T12:00:00Z", l1["logout_time"])
	assert.Equal(t, []any{"s1"}, l1["ended_sessions"])
	assert.Equal(t, []any{"s2"}, l2["ended_sessions"], "a logout without sid ends the sessions it lists, not s4, which started later")
	assert.Equal(t, []any{"s2"}, l2["sids"], "the sessions it lists are logged")
	assert.Equal(t, []any{"s4"}, l3["ended_sessions"], "without sids, every session of the sub")

	ids := []any{}
	for _, m := range out.logouts(t) {
		ids = append(ids, m["logout_id"])
	}
	assert.Equal(t, []any{"L1", "L2", "L3"}, ids, "one line per logout, none for app2")
	lines := out.lines(t)
	// "subscribed" is logged once Subscribe returns; the logouts already
	// in the stream may be handled (and logged) before that line.
	assert.True(t, slices.ContainsFunc(lines, func(l map[string]any) bool { return l["msg"] == "subscribed" }), "no subscribed line")
	assert.Equal(t, "stopped", lines[len(lines)-1]["msg"])
	assert.InDelta(t, 3, lines[len(lines)-1]["handled"], 0)

	// Every logout was acknowledged before the app stopped.
	cons, err := js.Consumer(t.Context(), natsconn.StreamEvents, "test-app")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, 5*time.Second, 20*time.Millisecond)
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-client", "app.1"},
		{"-durable", "my app"},
		{"-sessions", "s1"},
		{"-nope"},
	} {
		_, stop := start(t, args...)
		assert.Error(t, stop(), "%v", args)
	}
}
