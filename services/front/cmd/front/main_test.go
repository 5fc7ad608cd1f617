package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func noEnv(string) string { return "" }

// TestMainServesAndProbes runs the front's main on an embedded NATS server
// and checks it with its own -healthcheck, the container health check of
// the distroless image: failing before the front is up, passing once it is
// ready, failing again after it stopped.
func TestMainServesAndProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	listen := ln.Addr().String()
	require.NoError(t, ln.Close())
	dir := t.TempDir()
	cfg := filepath.Join(dir, "signoff.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `
issuer: http://%[1]s
listen: %[1]s
nats: {store_dir: %[2]s/nats}
keys: {generate_dir: %[2]s/keys}
clients:
  - client_id: app1
`, listen, dir), 0o600))

	probe := func() error {
		return run(t.Context(), []string{"front", "-healthcheck", "http://" + listen + "/readyz"}, noEnv, io.Discard, io.Discard)
	}
	require.Error(t, probe(), "-healthcheck before the front listens")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"front", "-config", cfg}, noEnv, io.Discard, io.Discard) }()
	require.Eventually(t, func() bool { return probe() == nil }, 30*time.Second, 50*time.Millisecond,
		"-healthcheck never passed")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("front did not stop")
	}
	require.Error(t, probe(), "-healthcheck once the front has stopped")
}
