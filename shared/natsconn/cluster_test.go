package natsconn_test

import (
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/natsconn"
)

// cluster is a JetStream cluster of n nodes in this process, which start
// when the test says.
type cluster struct {
	t      *testing.T
	routes []*url.URL
	ports  []int
	dirs   []string
	nodes  []*server.Server
}

func newCluster(t *testing.T, n int) *cluster {
	c := &cluster{t: t, nodes: make([]*server.Server, n)}
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		require.NoError(t, l.Close())
		c.routes = append(c.routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", port)})
		c.ports = append(c.ports, port)
		c.dirs = append(c.dirs, t.TempDir())
	}
	return c
}

// start starts node i.
func (c *cluster) start(i int) *server.Server {
	t := c.t
	s, err := server.NewServer(&server.Options{
		ServerName: fmt.Sprintf("n%d", i),
		Host:       "127.0.0.1", Port: -1,
		JetStream: true, StoreDir: c.dirs[i],
		Cluster: server.ClusterOpts{Name: "signoff-test", Host: "127.0.0.1", Port: c.ports[i]},
		Routes:  c.routes,
		NoSigs:  true, NoLog: true,
	})
	require.NoError(t, err)
	go s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second))
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	c.nodes[i] = s
	return s
}

// TestEnsureStreamsOnTooSmallACluster: nats.replicas 3 on a cluster of
// two JetStream servers fails at once, saying what to check.
func TestEnsureStreamsOnTooSmallACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := newCluster(t, 2)
	s := c.start(0)
	c.start(1)
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

	err = natsconn.EnsureStreams(t.Context(), js, cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "with 3 replicas")
	assert.Contains(t, err.Error(), "does the cluster have that many JetStream servers (nats.replicas)?")
	var apiErr *jetstream.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.EqualValues(t, 10005, apiErr.ErrorCode)

	cfg.NATS.Replicas = 2
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg), "as many replicas as servers")
}
