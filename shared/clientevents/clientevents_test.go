package clientevents_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/clientevents"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
	"github.com/signoff/signoff/shared/propagate"
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
