package natsconn_test

import (
	"testing"
	"time"

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
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg))
	st, err := js.Stream(t.Context(), natsconn.StreamState)
	require.NoError(t, err)
	created := st.CachedInfo().Created

	// Unchanged: left alone. Changed: updated.
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg))
	cfg.Sessions.Retention = 48 * time.Hour
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg))
	info, err := st.Info(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 96*time.Hour, info.Config.MaxAge, "the state stream keeps twice the retention")
	assert.Equal(t, created, info.Created)
	for _, name := range []string{natsconn.StreamEvents, natsconn.StreamWork, natsconn.StreamIntake} {
		_, err := js.Stream(t.Context(), name)
		assert.NoError(t, err, name)
	}
}

// TestStreamsAsTheServerStoresThem: what EnsureStreams declares is what
// the server keeps, so a second declaration changes nothing.
func TestStreamsAsTheServerStoresThem(t *testing.T) {
	s := natstest.RunServer(t, "")
	_, js := natstest.Connect(t, s)
	cfg := config.Default()
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg))
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
