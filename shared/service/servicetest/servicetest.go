// Package servicetest checks the mains that signoff's services build with
// package service, against a real in-process NATS server and real HTTP.
package servicetest

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/natstest"
	"github.com/signoff/signoff/shared/syncbuf"
)

func writeConfig(t *testing.T, natsURL, client string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signoff.yaml")
	cfg := `issuer: http://127.0.0.1:8080
log:
  level: info
nats:
  url: "` + natsURL + `"
keys:
  generate_dir: ` + filepath.Join(t.TempDir(), "keys") + `
clients:
  - client_id: app1
` + client
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	return path
}

func noEnv(string) string { return "" }

// Main is a command's run function: main calls it with os.Args.
type Main func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// WorkerMain checks the main of a standalone worker built on
// service.RunWorker: without nats.url it refuses to start, saying so;
// with one it serves /healthz, /readyz and /metrics, runs the worker, and returns
// nil once its context ends. client is the YAML of one client's keys (under
// client_id app1, indented four spaces) that makes app1 a target.
func WorkerMain(t *testing.T, name, client string, run Main) {
	t.Run("needs nats.url", func(t *testing.T) {
		err := run(t.Context(), []string{name, "-config", writeConfig(t, "", client)}, noEnv, io.Discard, io.Discard)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "nats.url is required")
	})
	t.Run("has no -listen", func(t *testing.T) {
		// A worker serves no front: -listen would be taken and ignored.
		err := run(t.Context(), []string{name, "-listen", "127.0.0.1:8080"}, noEnv, io.Discard, io.Discard)
		require.ErrorContains(t, err, "flag provided but not defined: -listen")
	})
	t.Run("serves metrics and stops", func(t *testing.T) {
		if testing.Short() {
			t.Skip("integration test")
		}
		serves(t, name, client, run)
	})
}

func serves(t *testing.T, name, client string, run Main) {
	s := natstest.RunServer(t, "")
	path := writeConfig(t, s.ClientURL(), client)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{name, "-config", path, "-metrics-listen", "127.0.0.1:0"}, noEnv, &stdout, io.Discard)
	}()

	var addr string
	logged := func(msg string) func() bool {
		return func() bool {
			for line := range strings.Lines(stdout.String()) {
				var rec struct {
					Msg  string `json:"msg"`
					Addr string `json:"addr"`
				}
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
					addr = cmp.Or(rec.Addr, addr)
					return true
				}
			}
			return false
		}
	}
	require.Eventually(t, logged("serving metrics"), 10*time.Second, 10*time.Millisecond, "no metrics listener; log: %s", stdout.String())
	require.Eventually(t, logged("worker running"), 10*time.Second, 10*time.Millisecond, "worker not running; log: %s", stdout.String())

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, body := get("/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	// Ready once its consumers are bound, right after "worker running".
	require.Eventually(t, func() bool { code, _ := get("/readyz"); return code == http.StatusOK }, 10*time.Second, 10*time.Millisecond,
		"/readyz never 200")
	code, body = get("/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "go_goroutines")

	// -healthcheck probes instead of serving: the container health check
	// of a distroless image.
	probe := func() error {
		return run(t.Context(), []string{name, "-healthcheck", "http://" + addr + "/healthz"}, noEnv, io.Discard, io.Discard)
	}
	require.NoError(t, probe(), "-healthcheck while the worker serves")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	require.Error(t, probe(), "-healthcheck once the worker has stopped")
}
