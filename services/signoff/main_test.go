package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/service"
	"github.com/signoff/signoff/shared/testports"
)

// recorder is a relying party that records what reaches it.
type recorder struct {
	mu       sync.Mutex
	hits     map[string][]string      // path -> bodies
	answered map[string]int           // path -> requests answered
	delay    map[string]time.Duration // path -> how long it takes to answer
	status   map[string]int           // path -> its answer's status, 200 if not set
	srv      *httptest.Server
	hang     chan struct{}
	release  func()
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{hits: map[string][]string{}, answered: map[string]int{}, delay: map[string]time.Duration{},
		status: map[string]int{}, hang: make(chan struct{})}
	var release sync.Once
	r.release = func() { release.Do(func() { close(r.hang) }) }
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.hits[req.URL.Path] = append(r.hits[req.URL.Path], string(b))
		delay := r.delay[req.URL.Path]
		r.mu.Unlock()
		if strings.HasSuffix(req.URL.Path, "/hang") {
			select {
			case <-r.hang:
			case <-req.Context().Done():
			}
		}
		time.Sleep(delay)
		r.mu.Lock()
		r.answered[req.URL.Path]++
		status := cmp.Or(r.status[req.URL.Path], http.StatusOK)
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(func() { r.release(); r.srv.Close() })
	return r
}

func (r *recorder) body(path string, i int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path][i]
}

// answers is how many requests to path were answered.
func (r *recorder) answers(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answered[path]
}

func (r *recorder) setStatus(path string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[path] = status
}

func (r *recorder) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.hits[path])
}

// TestAllInOne runs signoff as `make run` does, with real relying parties,
// and signs a person out of three of them.
func TestAllInOne(t *testing.T) {
	rp := newRecorder(t)
	rp.delay["/app2/bc"] = 300 * time.Millisecond // slower than the front alone
	rp.status["/broken/bc"] = http.StatusBadRequest
	listen := testports.Addr(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "signoff.yaml")
	cfg := fmt.Sprintf(`
issuer: http://%[1]s
listen: %[1]s
nats: {store_dir: %[2]s/nats}
api: {token: t0ken}
keys: {generate_dir: %[2]s/keys}
logout: {wait: 3s}
clients:
  - client_id: app1
    post_logout_redirect_uris: [%[3]s/signed-out]
    backchannel_logout_uri: %[3]s/app1/bc
    logout_events: true
  - client_id: app2
    id_token_signed_response_alg: ES256
    backchannel_logout_uri: %[3]s/app2/bc
  - client_id: app3
    webhook_uri: %[3]s/app3/hook
    webhook_secret: s3cret
  - client_id: slow
    backchannel_logout_uri: %[3]s/slow/hang
  - client_id: broken
    backchannel_logout_uri: %[3]s/broken/bc
`, listen, dir, rp.srv.URL)
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))

	ctx, cancel := context.WithCancel(t.Context())
	var out bytes.Buffer
	done := make(chan error, 1)
	opsAddr := testports.Addr(t)
	go func() {
		done <- run(ctx, []string{"signoff", "-config", cfgPath, "-metrics-listen", opsAddr}, os.Getenv, &out, io.Discard)
	}()
	base := "http://" + listen
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 20*time.Second, 50*time.Millisecond)

	api := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t0ken")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []string{"app1", "app2", "app3", "slow", "broken"} {
		status, body := api(http.MethodPut, "/api/v1/sessions/s-1/clients/"+c, `{"sub":"alice-`+c+`"}`)
		require.Equal(t, 204, status, body)
	}

	var hint bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"signoff", "hint", "-config", cfgPath, "-client", "app1", "-sub", "alice-app1", "-sid", "s-1"}, os.Getenv, &hint, io.Discard))
	// The browser gives up long after the wait: a front that waited for the
	// hanging client would fail here, not hang the test.
	browser := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"id_token_hint": {strings.TrimSpace(hint.String())}, "post_logout_redirect_uri": {rp.srv.URL + "/signed-out"}, "state": {"xyz"}}
	start := time.Now()
	resp, err := browser.Get(base + "/connect/endsession?" + q.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, rp.srv.URL+"/signed-out?state=xyz", resp.Header.Get("Location"))
	t.Logf("browser waited %s with one hanging client (logout.wait 3s)", time.Since(start))
	// The front waited for the healthy back-channel clients (RIL-26: the
	// redirect comes after the logout reached them), not for the hanging one.
	assert.Equal(t, 1, rp.answers("/app1/bc"), "app1 had answered before the redirect")
	assert.Equal(t, 1, rp.answers("/app2/bc"), "app2 had answered before the redirect")

	require.Eventually(t, func() bool {
		return rp.count("/app1/bc") == 1 && rp.count("/app2/bc") == 1 && rp.count("/app3/hook") == 1
	}, 20*time.Second, 20*time.Millisecond)
	assert.True(t, strings.HasPrefix(rp.body("/app1/bc", 0), "logout_token="))

	var sess struct {
		EndedAt    *time.Time `json:"ended_at"`
		LogoutID   string     `json:"logout_id"`
		Deliveries []struct {
			ClientID string `json:"client_id"`
			Channel  string `json:"channel"`
			Status   string `json:"status"`
		} `json:"deliveries"`
	}
	require.Eventually(t, func() bool {
		_, body := api(http.MethodGet, "/api/v1/sessions/s-1", "")
		require.NoError(t, json.Unmarshal([]byte(body), &sess))
		got := map[string]string{}
		for _, d := range sess.Deliveries {
			got[d.ClientID+"/"+d.Channel] = d.Status
		}
		return got["app1/backchannel"] == "delivered" && got["app2/backchannel"] == "delivered" &&
			got["app3/webhook"] == "delivered" && got["app1/events"] == "delivered" && got["broken/backchannel"] == "failed"
	}, 20*time.Second, 50*time.Millisecond, "the session's deliveries")
	t.Logf("deliveries: %+v", sess.Deliveries)
	require.NotNil(t, sess.EndedAt)

	// The client that answered 400 is fixed; its dead letter is replayed,
	// once: a second replay (a double click) changes nothing.
	rp.setStatus("/broken/bc", http.StatusOK)
	replay := "/api/v1/deadletters/backchannel/broken/" + sess.LogoutID + "/replay"
	status, body := api(http.MethodPost, replay, "")
	require.Equal(t, http.StatusAccepted, status, body)
	require.Eventually(t, func() bool { return rp.answers("/broken/bc") == 2 }, 20*time.Second, 20*time.Millisecond)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		status, body := api(http.MethodPost, replay, "")
		assert.Equal(c, http.StatusConflict, status, body)
		assert.Contains(c, body, "it is delivered")
	}, 20*time.Second, 50*time.Millisecond, "a replay of a delivered delivery")
	assert.Equal(t, 2, rp.count("/broken/bc"), "no third call")

	// The hanging client answers at last: its delivery, retried in the
	// background, completes.
	rp.release()
	require.Eventually(t, func() bool {
		_, body := api(http.MethodGet, "/api/v1/sessions/s-1", "")
		require.NoError(t, json.Unmarshal([]byte(body), &sess))
		for _, d := range sess.Deliveries {
			if d.ClientID == "slow" && d.Channel == "backchannel" {
				return d.Status == "delivered"
			}
		}
		return false
	}, 60*time.Second, 100*time.Millisecond, "the hanging client is delivered once it answers")

	// /metrics: with the API token on the public listener, without it on
	// the ops listener (-metrics-listen).
	status, metrics := api(http.MethodGet, "/metrics", "")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, metrics, `signoff_deliveries_total{channel="backchannel",client_id="app1",status="delivered"} 1`)
	resp, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, err = http.Get("http://" + opsAddr + "/metrics")
	require.NoError(t, err)
	ops, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(ops), `signoff_deliveries_total{channel="backchannel",client_id="app1",status="delivered"} 1`)
	require.NoError(t, run(t.Context(), []string{"signoff", "-healthcheck", "http://" + opsAddr + "/healthz"}, os.Getenv, io.Discard, io.Discard))

	probe := func() error {
		return run(t.Context(), []string{"signoff", "-healthcheck", base + "/readyz"}, os.Getenv, io.Discard, io.Discard)
	}
	require.NoError(t, probe(), "-healthcheck while signoff serves")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("signoff did not stop")
	}
	assert.Contains(t, out.String(), "signoff stopped")
	require.Error(t, probe(), "-healthcheck once signoff has stopped")
}

// `signoff hint -h` lists the hint's own flags, not the server's.
func TestHintHelp(t *testing.T) {
	var usage bytes.Buffer
	err := run(t.Context(), []string{"signoff", "hint", "-h"}, func(string) string { return "" }, io.Discard, &usage)
	require.ErrorIs(t, err, service.ErrHelp)
	for _, f := range []string{"-config", "-client", "-sub", "-sid", "-ttl"} {
		assert.Contains(t, usage.String(), f)
	}
	for _, f := range []string{"-healthcheck", "-listen", "-nats-url"} {
		assert.NotContains(t, usage.String(), f, "a server flag")
	}
}

// `signoff -h` names the hint subcommand; a mistyped one, or any stray
// word, is an error, not a server started.
func TestUsage(t *testing.T) {
	var usage bytes.Buffer
	err := run(t.Context(), []string{"signoff", "-h"}, func(string) string { return "" }, io.Discard, &usage)
	require.ErrorIs(t, err, service.ErrHelp)
	assert.Contains(t, usage.String(), "signoff hint [flags]")
	assert.Contains(t, usage.String(), "-metrics-listen")

	for _, args := range [][]string{{"signoff", "hnit"}, {"signoff", "-config", "x.yaml", "extra"}} {
		usage.Reset()
		err = run(t.Context(), args, func(string) string { return "" }, io.Discard, &usage)
		require.Error(t, err, "%q", args)
		assert.Contains(t, err.Error(), "unexpected argument", "%q", args)
		assert.Contains(t, usage.String(), "signoff hint [flags]", "the usage follows")
	}
}

// TestTakenPort: a taken port stops signoff before it starts NATS and the
// workers, with an error that names the port.
func TestTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "signoff.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
issuer: http://%[1]s
listen: %[1]s
nats: {store_dir: %[2]s/nats}
keys: {generate_dir: %[2]s/keys}
`, l.Addr(), dir)), 0o600))
	var out bytes.Buffer
	err = run(t.Context(), []string{"signoff", "-config", cfgPath}, func(string) string { return "" }, &out, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listening on "+l.Addr().String())
	assert.NotContains(t, out.String(), "embedded nats started")
	assert.NoDirExists(t, filepath.Join(dir, "nats"), "NATS never started")
}
