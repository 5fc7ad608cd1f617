package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natstest"
	"github.com/signoff/signoff/shared/service/servicetest"
)

// TestRun runs the worker's main against a NATS server and a signoff
// configuration, publishes a logout as a front does, and waits for the
// chat message.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs NATS")
	}
	got := make(chan message, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m message
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &m) == nil {
			got <- m
		}
	}))
	t.Cleanup(hook.Close)
	s := natstest.RunServer(t, "")
	_, js := natstest.Connect(t, s)

	cfgPath := filepath.Join(t.TempDir(), "signoff.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`
issuer: http://127.0.0.1:8080
keys:
  generate_dir: `+t.TempDir()+`
nats:
  url: `+s.ClientURL()+`
clients:
  - client_id: app1
    name: App One
  - client_id: app2
`), 0o600))

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"notify-worker", "-config", cfgPath, "-metrics-listen", "127.0.0.1:0", "-hook", "app1=" + hook.URL},
			func(string) string { return "" }, io.Discard, io.Discard)
	}()

	e := event.SessionEnded{
		LogoutID: "L1", SID: "s1", Sub: "alice", Iss: "http://127.0.0.1:8080", Reason: event.ReasonEndSession,
		Time: time.Now().UTC(), Clients: []event.Participant{{ClientID: "app1", Sub: "alice"}, {ClientID: "app2", Sub: "bob"}},
	}
	data, err := json.Marshal(e)
	require.NoError(t, err)
	require.Eventually(t, func() bool { // the worker declares the streams when it starts
		_, err := js.Publish(t.Context(), event.SubjectSessionEnded, data, jetstream.WithMsgID(e.LogoutID))
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)

	select {
	case m := <-got:
		assert.Equal(t, "L1", m.LogoutID)
		assert.Equal(t, "alice was signed out of App One (session s1, reason end_session, logout L1)", m.Text)
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("the worker did not stop")
	}
	assert.Empty(t, got, "app2 has no hook")
}

func TestRunNeedsNATSURL(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "signoff.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("issuer: http://127.0.0.1:8080\nkeys:\n  generate_dir: "+t.TempDir()+"\n"), 0o600))
	err := run(t.Context(), []string{"notify-worker", "-config", cfgPath}, func(string) string { return "" }, io.Discard, io.Discard)
	require.ErrorContains(t, err, "nats.url is required")
}

// TestWorkerMain: built on service.RunWorker, the worker serves /healthz,
// /readyz and /metrics, answers -healthcheck, and stops with its context.
func TestWorkerMain(t *testing.T) {
	servicetest.WorkerMain(t, "notify-worker", "", run)
}
