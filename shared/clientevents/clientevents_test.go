package clientevents_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/clientevents"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/propagate/propagatetest"
)

// TestAppsReceiveOnlyTheirOwnLogouts runs the events worker and two apps
// subscribed with Subscribe.
func TestAppsReceiveOnlyTheirOwnLogouts(t *testing.T) {
	s := natstest.RunServer(t, "")
	_, js := natstest.Connect(t, s)
	cfg := config.Default()
	cfg.Clients = []config.Client{{ClientID: "app1", LogoutEvents: true}, {ClientID: "app2", LogoutEvents: true}, {ClientID: "app3"}}
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))

	o := clientevents.Options(js)
	o.Clients = cfg.Registry()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- propagate.Run(ctx, o) }()
	t.Cleanup(func() { cancel(); <-done })

	var mu sync.Mutex
	got := map[string][]*event.ClientLogout{}
	for _, app := range []string{"app1", "app2"} {
		cc, err := clientevents.Subscribe(t.Context(), js, app, "test-"+app, func(_ context.Context, l *event.ClientLogout) error {
			mu.Lock()
			defer mu.Unlock()
			got[app] = append(got[app], l)
			return nil
		})
		require.NoError(t, err)
		t.Cleanup(cc.Stop)
	}

	e := event.SessionEnded{LogoutID: "L1", SID: "s1", Sub: "alice", Iss: "http://i", Reason: event.ReasonEndSession,
		Time: time.Now().UTC(), Clients: []event.Participant{{ClientID: "app1", Sub: "alice"}, {ClientID: "app2", Sub: "pw-2"}}}
	data, _ := json.Marshal(e)
	_, err := js.Publish(t.Context(), event.SubjectSessionEnded, data, jetstream.WithMsgID(e.LogoutID))
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got["app1"]) == 1 && len(got["app2"]) == 1
	}, 10*time.Second, 10*time.Millisecond)
	_, err = clientevents.Subscribe(t.Context(), js, "app2", "test-app1", func(context.Context, *event.ClientLogout) error { return nil })
	require.ErrorIs(t, err, clientevents.ErrDurableInUse, "app1's durable cannot be turned to app2's logouts")

	mu.Lock()
	assert.Equal(t, "alice", got["app1"][0].Sub)
	assert.Equal(t, "pw-2", got["app2"][0].Sub, "each app gets its own sub")
	assert.Equal(t, "app2", got["app2"][0].ClientID)
	mu.Unlock()
}

// TestARepeatedPublishIsStoredOnce: a replica that published a logout and
// died before storing its outcome leaves the delivery to another, which
// publishes it again; the app must find it once in the stream.
func TestARepeatedPublishIsStoredOnce(t *testing.T) {
	s := natstest.RunServer(t, "")
	_, js := natstest.Connect(t, s)
	cfg := config.Default()
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))

	p := clientevents.NewPublisher(js)
	app := &config.Client{ClientID: "app1", LogoutEvents: true}
	delivery := func(logoutID string) *propagate.Delivery {
		e := &event.SessionEnded{LogoutID: logoutID, SID: "s-" + logoutID, Sub: "alice", Iss: "http://i",
			Reason: event.ReasonEndSession, Time: time.Now().UTC(), Clients: []event.Participant{{ClientID: "app1", Sub: "alice"}}}
		return &propagate.Delivery{Event: e, Client: app, Sub: "alice", Kind: clientevents.Kind, Attempt: 1}
	}
	require.NoError(t, p.Propagate(t.Context(), delivery("L1")))
	require.NoError(t, p.Propagate(t.Context(), delivery("L1")), "a repeated publish is not an error")
	require.NoError(t, p.Propagate(t.Context(), delivery("L2")))

	assert.Equal(t, []string{"L1", "L2"}, storedLogouts(t, js, "app1"))
}

// TestAStoreThatRefusesIsRetried: when JetStream refuses the logout (here,
// the app's subject is full), the delivery is retried until it is stored,
// and the app gets it once.
func TestAStoreThatRefusesIsRetried(t *testing.T) {
	cfg := config.Default()
	cfg.Clients = []config.Client{{ClientID: "app1", LogoutEvents: true}}
	js, reg := propagatetest.StartWorker(t, cfg, func(ctx context.Context, js jetstream.JetStream, reg *prometheus.Registry) error {
		// Full before the worker starts: one message on app1's subject,
		// and no room for another.
		stream, err := js.Stream(ctx, natsconn.StreamEvents)
		if err != nil {
			return err
		}
		sc := stream.CachedInfo().Config
		sc.MaxMsgsPerSubject, sc.Discard, sc.DiscardNewPerSubject = 1, jetstream.DiscardNew, true
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			return err
		}
		if _, err := js.Publish(ctx, event.LogoutSubject("app1"), []byte(`{}`)); err != nil {
			return err
		}
		o := clientevents.Options(js)
		o.Clients, o.Metrics = cfg.Registry(), reg
		o.Retry = propagate.RetryPolicy{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond, Multiplier: 2, MaxAttempts: 100, MaxAge: time.Minute}
		return propagate.Run(ctx, o)
	})
	require.Eventually(t, func() bool { return len(storedLogouts(t, js, "app1")) == 1 }, 10*time.Second, 10*time.Millisecond)

	e := &event.SessionEnded{LogoutID: "L1", SID: "s1", Sub: "alice", Iss: "http://i", Reason: event.ReasonEndSession,
		Time: time.Now().UTC(), Clients: []event.Participant{{ClientID: "app1", Sub: "alice"}}}
	propagatetest.Publish(t, js, e)
	require.Eventually(t, func() bool {
		return propagatetest.Deliveries(t, reg, clientevents.Kind, "app1", event.StatusRetrying) >= 2
	}, 10*time.Second, 10*time.Millisecond, "the refused publish is retried")

	stream, err := js.Stream(t.Context(), natsconn.StreamEvents)
	require.NoError(t, err)
	require.NoError(t, stream.Purge(t.Context(), jetstream.WithPurgeSubject(event.LogoutSubject("app1"))))
	propagatetest.WaitStatus(t, reg, clientevents.Kind, "app1", event.StatusDelivered, 1)
	assert.Equal(t, []string{"L1"}, storedLogouts(t, js, "app1"))
	assert.Zero(t, propagatetest.Deliveries(t, reg, clientevents.Kind, "app1", event.StatusFailed))
}

// storedLogouts returns the logout ids on clientID's subject, oldest first.
func storedLogouts(t *testing.T, js jetstream.JetStream, clientID string) []string {
	t.Helper()
	cons, err := js.OrderedConsumer(t.Context(), natsconn.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{event.LogoutSubject(clientID)}})
	require.NoError(t, err)
	var ids []string
	for {
		batch, err := cons.FetchNoWait(100)
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			n++
			var l event.ClientLogout
			require.NoError(t, json.Unmarshal(m.Data(), &l))
			ids = append(ids, l.LogoutID)
		}
		if n == 0 {
			return ids
		}
	}
}
