// Package natstest runs a real NATS JetStream server in the test's process,
// on a random loopback port with its store in a temporary folder, for
// integration tests of signoff and of outside workers.
package natstest

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/testports"
)

// RunServer starts a JetStream server that stores into dir (t.TempDir()
// when dir is ""), and shuts it down when the test ends. Start it again
// with the same dir to test a restart.
func RunServer(t testing.TB, dir string) *server.Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  dir,
		NoSigs:    true,
		NoLog:     true,
	})
	if err != nil {
		t.Fatalf("natstest: creating server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("natstest: server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect opens a connection to s that is closed when the test ends.
func Connect(t testing.TB, s *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("natstest: connecting: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}

// Cluster is a JetStream cluster in the test's process whose nodes start
// (and start again, with their stores) when the test says.
type Cluster struct {
	t       testing.TB
	ports   []int // route ports
	dirs    []string
	running []*server.Server // the last server started for each node
}

// NewCluster prepares a cluster of n nodes; none runs yet.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, ports: testports.Free(t, n), running: make([]*server.Server, n)}
	for range n {
		c.dirs = append(c.dirs, t.TempDir())
	}
	return c
}

// Start starts node i, which must not be running (the test fails if it
// is), with the store it had if it ran before, and shuts it down when the
// test ends (or earlier, with the returned server's Shutdown).
func (c *Cluster) Start(i int) *server.Server {
	t := c.t
	t.Helper()
	if s := c.running[i]; s != nil && s.Running() {
		t.Fatalf("natstest: node %d is running already", i)
	}
	routes := make([]*url.URL, len(c.ports))
	for j, port := range c.ports {
		routes[j] = &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", port)}
	}
	s, err := server.NewServer(&server.Options{
		ServerName: fmt.Sprintf("n%d", i),
		Host:       "127.0.0.1", Port: -1,
		JetStream: true, StoreDir: c.dirs[i],
		Cluster: server.ClusterOpts{Name: "signoff-test", Host: "127.0.0.1", Port: c.ports[i]},
		Routes:  routes,
		NoSigs:  true,
	})
	if err != nil {
		t.Fatalf("natstest: creating node %d: %v", i, err)
	}
	log := &memLog{}
	s.SetLogger(log, false, false)
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("natstest: node %d not ready; its log:\n%s", i, log)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	c.running[i] = s
	return s
}

// memLog keeps a node's log lines for the test's failure message.
type memLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *memLog) add(level, format string, v []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 200 {
		l.lines = append(l.lines, level+" "+fmt.Sprintf(format, v...))
	}
}

func (l *memLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *memLog) Noticef(format string, v ...any) { l.add("[INF]", format, v) }
func (l *memLog) Warnf(format string, v ...any)   { l.add("[WRN]", format, v) }
func (l *memLog) Fatalf(format string, v ...any)  { l.add("[FTL]", format, v) }
func (l *memLog) Errorf(format string, v ...any)  { l.add("[ERR]", format, v) }
func (l *memLog) Debugf(format string, v ...any)  { l.add("[DBG]", format, v) }
func (l *memLog) Tracef(format string, v ...any)  { l.add("[TRC]", format, v) }
