package service

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
)

// /healthz answers while the process serves, NATS or not (a liveness
// probe; a restart does not bring NATS back), unless the connection has
// closed for good; /readyz needs NATS and
// ready (a worker's consumers bound), and is not served without a ready
// function.
func TestOpsProbes(t *testing.T) {
	s := natstest.RunServer(t, "")
	cfg := config.Default().NATS
	cfg.URL = s.ClientURL()
	conn, err := natsconn.Connect(t.Context(), cfg, "ops-test", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(ctx)
	})
	get := func(h http.Handler, path string) (int, string) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	var ready atomic.Bool
	h := opsHandler(prometheus.NewRegistry(), conn, ready.Load)
	code, body := get(h, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "starting: consumers not bound yet\n", body)
	code, _ = get(h, "/healthz")
	assert.Equal(t, http.StatusOK, code, "alive while it starts")
	ready.Store(true)
	code, body = get(h, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	code, _ = get(opsHandler(prometheus.NewRegistry(), conn, nil), "/readyz")
	assert.Equal(t, http.StatusNotFound, code, "no /readyz without a ready function")

	s.Shutdown()
	s.WaitForShutdown()
	require.Eventually(t, func() bool { return !conn.Connected() }, 10*time.Second, 10*time.Millisecond)
	code, body = get(h, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "nats disconnected\n", body)
	code, _ = get(h, "/healthz")
	assert.Equal(t, http.StatusOK, code, "alive while it reconnects")

	// A connection that gave up (as nats.go does after repeated
	// authentication errors) is cured by a restart: /healthz says so.
	conn.NC.Close()
	code, body = get(h, "/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "nats connection closed\n", body)
}
