package propagate_test

import (
	"context"
	"log/slog"
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
)

// An events consumer made by an older worker (its AckWait followed
// Timeout: 40 s by default) is bound with the worker's AckWait, and keeps
// where it started.
func TestBindUpdatesAckWait(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	cfg := config.Default()
	cfg.Clients = []config.Client{{ClientID: "app", WebhookURI: "http://127.0.0.1:1/hook", WebhookSecret: "s"}}
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	name := propagate.EventsConsumer("testjson")
	_, err := js.CreateConsumer(t.Context(), natsconn.StreamEvents, jetstream.ConsumerConfig{
		Durable: name, FilterSubject: event.SubjectSessionEnded,
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 40 * time.Second, MaxAckPending: 256, MaxDeliver: -1,
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
	var info *jetstream.ConsumerInfo
	require.Eventually(t, func() bool {
		cons, err := js.Consumer(t.Context(), natsconn.StreamEvents, name)
		if err != nil {
			return false
		}
		info = cons.CachedInfo()
		return info.Config.AckWait != 40*time.Second
	}, 10*time.Second, 20*time.Millisecond, "the worker binds the consumer")
	assert.Equal(t, 15*time.Second, info.Config.AckWait, "the default AckWait")
	require.NotNil(t, info.Config.OptStartTime)
	assert.True(t, start.Equal(*info.Config.OptStartTime), "the consumer keeps its start: %v", info.Config.OptStartTime)
}
