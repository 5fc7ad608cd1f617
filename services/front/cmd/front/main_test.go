package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/testports"
)

func noEnv(string) string { return "" }

// TestMainServesAndProbes runs the front's main on an embedded NATS server,
// with an ops listener, and checks it with its own -healthcheck, the container health check of
// the distroless image: failing before the front is up, passing once it is
// ready, failing again after it stopped.
func TestMainServesAndProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	listen := testports.Addr(t)
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
	opsAddr := testports.Addr(t)
	logFile := filepath.Join(dir, "front.log")
	logs, err := os.Create(logFile)
	require.NoError(t, err)
	defer logs.Close()
	log := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	go func() {
		done <- run(ctx, []string{"front", "-config", cfg, "-metrics-listen", opsAddr}, noEnv, logs, logs)
	}()
	// Until the probe passes, or the front stops first (its ports were
	// free a moment ago; another test may have taken one since).
	for deadline := time.Now().Add(30 * time.Second); probe() != nil; {
		select {
		case err := <-done:
			t.Fatalf("the front stopped before it was ready: %v\n%s", err, log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("-healthcheck never passed; the front's log:\n%s", log())
		}
	}

	// The ops listener serves the front's metrics without the API token.
	resp, err := http.Get("http://" + opsAddr + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(metrics), "signoff_index_sessions")
	t.Run("limits", func(t *testing.T) { serverLimits(t, listen) })

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("front did not stop")
	}
	require.Error(t, probe(), "-healthcheck once the front has stopped")
}

// serverLimits checks the limits of the front's own HTTP server: a client
// that never finishes its headers is disconnected (ReadHeaderTimeout, 5 s;
// with no timeout at all the test fails after a minute), and oversized
// headers are refused, with the front's page up to the server's limit.
func serverLimits(t *testing.T, listen string) {
	conn, err := net.Dial("tcp", listen)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: "+listen+"\r\nX-Slow: ")
	require.NoError(t, err)
	// The server hangs up (Go may first answer 408); the deadline only
	// keeps a broken server from hanging the test.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(60*time.Second)))
	got, err := io.ReadAll(conn)
	require.NoError(t, err, "the server did not hang up on an unfinished request")
	if len(got) > 0 {
		assert.Contains(t, string(got), "408")
	}

	// Headers over the front's limit (32 KiB) get its page; over the
	// server's own (128 KiB), Go's plain-text answer.
	for _, tc := range []struct {
		size        int
		contentType string
	}{{100 << 10, "text/html"}, {140 << 10, "text/plain"}} {
		req, err := http.NewRequest(http.MethodGet, "http://"+listen+"/connect/endsession", nil)
		require.NoError(t, err)
		req.Header.Set("Cookie", "big="+strings.Repeat("a", tc.size))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode, tc.size)
		assert.Contains(t, resp.Header.Get("Content-Type"), tc.contentType, tc.size)
	}
}
