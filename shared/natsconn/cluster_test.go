package natsconn_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
)

// TestEnsureStreamsOnTooSmallACluster: nats.replicas 3 on a cluster of
// two JetStream servers fails at once, saying what to check.
func TestEnsureStreamsOnTooSmallACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := natstest.NewCluster(t, 2)
	s := c.Start(0)
	c.Start(1)
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := js.AccountInfo(t.Context())
		return err == nil
	}, 60*time.Second, 100*time.Millisecond, "a meta leader")
	cfg := config.Default()
	cfg.NATS.Replicas = 3

	err = natsconn.EnsureStreams(t.Context(), js, cfg, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "with 3 replicas")
	assert.Contains(t, err.Error(), "does the cluster have that many JetStream servers (nats.replicas)?")
	var apiErr *jetstream.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.EqualValues(t, 10005, apiErr.ErrorCode)

	cfg.NATS.Replicas = 2
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil), "as many replicas as servers")
}
