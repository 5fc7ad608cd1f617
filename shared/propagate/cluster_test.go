package propagate_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestRunWaitsForARecoveringCluster: a worker that starts while its
// cluster has lost its quorum (two of three nodes down, so JetStream
// answers "temporarily unavailable", "insufficient resources" or nothing
// in time) waits for the cluster to come back instead of exiting, binds
// its consumers, and delivers.
func TestRunWaitsForARecoveringCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	var got atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
	}))
	t.Cleanup(recv.Close)

	c := natstest.NewCluster(t, 3)
	s0, s1, s2 := c.Start(0), c.Start(1), c.Start(2)
	_, js := natstest.Connect(t, s0)
	cfg := config.Default()
	cfg.NATS.Replicas = 3
	cfg.Clients = []config.Client{{ClientID: "app", WebhookURI: recv.URL, WebhookSecret: "s"}}
	require.Eventually(t, func() bool {
		_, err := js.AccountInfo(t.Context())
		return err == nil
	}, 60*time.Second, 100*time.Millisecond, "a meta leader")
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))

	// The quorum goes.
	for _, s := range []interface {
		Shutdown()
		WaitForShutdown()
	}{s1, s2} {
		s.Shutdown()
		s.WaitForShutdown()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncbuf.Buffer
	var runErr error
	var ready atomic.Int32 // Options.Ready's calls
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		runErr = propagate.Run(ctx, propagate.Options{
			Kind:       "testjson",
			Wants:      func(c *config.Client) bool { return c.WebhookURI != "" },
			Propagator: jsonPropagator(),
			JS:         js, Clients: cfg.Registry(), Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
			Ready: func() { ready.Add(1) },
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	// Binding cannot succeed now, for a reason that passes: the worker must
	// say that it waits, and wait, where it used to give up.
	waiting := func() bool { return strings.Contains(logs.String(), `"msg":"waiting for JetStream"`) }
	giveUp := time.After(90 * time.Second)
	for !waiting() {
		select {
		case <-stopped:
			t.Fatalf("the worker stopped while the cluster was down: %v\n%s", runErr, logs.String())
		case <-giveUp:
			t.Fatalf("the worker never said that it waits:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	assert.Zero(t, ready.Load(), "not ready while its consumers are not bound")

	c.Start(1)
	c.Start(2)
	e := event.SessionEnded{LogoutID: "L-recovered", SID: "sid-1", Sub: "alice", Iss: "https://idp.example.com",
		Reason: event.ReasonEndSession, Time: time.Now().UTC(), Clients: []event.Participant{{ClientID: "app", Sub: "alice"}}}
	data, err := json.Marshal(e)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := js.Publish(t.Context(), event.SubjectSessionEnded, data, jetstream.WithMsgID(e.LogoutID))
		return err == nil
	}, 60*time.Second, 200*time.Millisecond, "the cluster takes events again")
	require.Eventually(t, func() bool { return got.Load() == 1 }, 60*time.Second, 50*time.Millisecond,
		"the worker delivers once the cluster is back")
	assert.Equal(t, int32(1), ready.Load(), "ready once, when its consumers are bound")
	cancel()
	<-stopped
	require.NoError(t, runErr, "the worker stops cleanly")
}
