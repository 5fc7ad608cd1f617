package natsconn_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
)

func TestEnsureStreams(t *testing.T) {
	s := natstest.RunServer(t, "")
	_, js := natstest.Connect(t, s)
	cfg := config.Default()
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	st, err := js.Stream(t.Context(), natsconn.StreamState)
	require.NoError(t, err)
	created := st.CachedInfo().Created

	// Unchanged: left alone. Changed: updated.
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	cfg.Sessions.Retention = 48 * time.Hour
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	info, err := st.Info(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 96*time.Hour, info.Config.MaxAge, "the state stream keeps twice the retention")
	assert.Equal(t, created, info.Created)
	for _, name := range []string{natsconn.StreamEvents, natsconn.StreamWork, natsconn.StreamIntake} {
		_, err := js.Stream(t.Context(), name)
		assert.NoError(t, err, name)
	}

	// Logouts stay as long as participations, whatever event_retention says.
	cfg.Sessions.Retention, cfg.NATS.EventRetention = 7*24*time.Hour, 168*time.Hour
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	events, err := js.Stream(t.Context(), natsconn.StreamEvents)
	require.NoError(t, err)
	assert.Equal(t, 14*24*time.Hour, events.CachedInfo().Config.MaxAge, "twice sessions.retention")
	cfg.NATS.EventRetention = 30 * 24 * time.Hour
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	events, err = js.Stream(t.Context(), natsconn.StreamEvents)
	require.NoError(t, err)
	assert.Equal(t, 30*24*time.Hour, events.CachedInfo().Config.MaxAge, "event_retention when longer")
}

// TestStreamsAsTheServerStoresThem: what EnsureStreams declares is what
// the server keeps, so a second declaration changes nothing.
func TestStreamsAsTheServerStoresThem(t *testing.T) {
	s := natstest.RunServer(t, "")
	_, js := natstest.Connect(t, s)
	cfg := config.Default()
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	for _, want := range natsconn.Streams(cfg) {
		st, err := js.Stream(t.Context(), want.Name)
		require.NoError(t, err)
		have := st.CachedInfo().Config
		assert.Equal(t, want.MaxMsgsPerSubject, have.MaxMsgsPerSubject, want.Name)
		assert.Equal(t, want.Duplicates, have.Duplicates, want.Name)
		assert.Equal(t, want.MaxAge, have.MaxAge, want.Name)
		assert.Equal(t, want.Subjects, have.Subjects, want.Name)
	}
}

// TestEnsureStreamsRetriesWhileTheClusterIsNotReady puts a stand-in in
// front of the JetStream API (the client uses the API prefix $JSX.API, the
// stand-in relays to $JS.API): it first answers "temporarily unavailable",
// as a cluster without a meta leader does, then lets requests through.
// EnsureStreams waits it out; a permanent error is not retried.
func TestEnsureStreamsRetriesWhileTheClusterIsNotReady(t *testing.T) {
	s := natstest.RunServer(t, "")
	nc, _ := natstest.Connect(t, s)
	var refused atomic.Int32
	sub, err := nc.Subscribe("$JSX.API.>", func(m *nats.Msg) {
		if refused.Add(1) <= 3 {
			_ = m.Respond([]byte(`{"type":"io.nats.jetstream.api.v1.stream_info_response","error":{"code":503,"err_code":10008,"description":"JetStream system temporarily unavailable"}}`))
			return
		}
		reply, err := nc.Request("$JS.API."+strings.TrimPrefix(m.Subject, "$JSX.API."), m.Data, 5*time.Second)
		if err != nil {
			return
		}
		_ = m.Respond(reply.Data)
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	// The stand-in answers only once the server has its subscription: the
	// client below is another connection.
	require.NoError(t, nc.Flush())

	client, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(client.Close)
	js, err := jetstream.NewWithAPIPrefix(client, "$JSX.API")
	require.NoError(t, err)
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, config.Default(), nil))
	assert.EqualValues(t, 3+2*len(natsconn.Streams(config.Default())), refused.Load(),
		"three refusals, then for each stream an info request and a create")
	_, err = js.Stream(t.Context(), natsconn.StreamWork)
	require.NoError(t, err)

	// Not transient: a stream that cannot be updated as declared fails at
	// once, after its info and update requests, without a retry.
	cfg := config.Default()
	cfg.NATS.Replicas = 3 // one server, no cluster
	before := refused.Load()
	err = natsconn.EnsureStreams(t.Context(), js, cfg, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "declaring stream")
	assert.EqualValues(t, 2, refused.Load()-before, "one info and one update request, no retry")
}

// TestEnsureStreamsWithoutJetStream: a server without JetStream fails the
// declaration at once, saying so.
func TestEnsureStreamsWithoutJetStream(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	s.Start()
	t.Cleanup(s.Shutdown)
	require.True(t, s.ReadyForConnections(5*time.Second))
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	err = natsconn.EnsureStreams(t.Context(), js, config.Default(), nil)
	require.ErrorIs(t, err, nats.ErrNoResponders)
	assert.Contains(t, err.Error(), "is JetStream enabled")
}
