package propagate_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	"github.com/signoff/signoff/shared/propagate/propagatetest"
)

// An events consumer made by another version of the worker is bound as it
// is, and a replica checks in often enough for its AckWait even when that
// is shorter than the replica's own: a fan-out slower than the consumer's
// AckWait is not handed to a second handling.
func TestBindKeepsAnExistingConsumer(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			<-release
		}
	}))
	t.Cleanup(recv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	cfg := config.Default()
	cfg.Clients = []config.Client{{ClientID: "app", WebhookURI: recv.URL, WebhookSecret: "s"}}
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	name := propagate.EventsConsumer("testjson")
	const theirs = time.Second // shorter than the worker's own 15 s
	_, err := js.CreateConsumer(t.Context(), natsconn.StreamEvents, jetstream.ConsumerConfig{
		Durable: name, FilterSubject: event.SubjectSessionEnded,
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: theirs, MaxAckPending: 256, MaxDeliver: -1,
	})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- propagate.Run(ctx, propagate.Options{
			Kind: "testjson", Wants: func(c *config.Client) bool { return c.WebhookURI != "" },
			Propagator: jsonPropagator(), JS: js, Clients: cfg.Registry(), Logger: slog.New(slog.DiscardHandler),
		})
	}()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	e := event.SessionEnded{LogoutID: "L-slow", SID: "sid-1", Sub: "alice", Iss: "https://idp.example.com",
		Reason: event.ReasonEndSession, Time: time.Now().UTC(), Clients: []event.Participant{{ClientID: "app", Sub: "alice"}}}
	propagatetest.Publish(t, js, &e)
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 10*time.Second, 10*time.Millisecond, "the first attempt")
	// Three of the consumer's AckWaits: a replica that checked in at a
	// third of its own 15 s would have had the event handed out again.
	time.Sleep(3 * theirs)
	close(release)
	cons, err := js.Consumer(t.Context(), natsconn.StreamEvents, name)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, 10*time.Second, 10*time.Millisecond, "the event is acknowledged")
	assert.Equal(t, int32(1), calls.Load(), "one call: the event was not handled twice")
	info := cons.CachedInfo()
	assert.Equal(t, theirs, info.Config.AckWait, "bound as it is")
	require.NotNil(t, info.Config.OptStartTime)
	assert.True(t, start.Equal(*info.Config.OptStartTime))
}
