package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/syncbuf"
	"github.com/signoff/signoff/shared/testports"
)

// The end-to-end tests run the demo in-process against a real signoff:
// the all-in-one binary, built from this repository, with an embedded NATS
// server, on free loopback ports.

const (
	testAPIToken      = "e2e-token"
	testWebhookSecret = "e2e-webhook-secret"
	// startTimeout bounds the start of signoff and of the demo; generous,
	// for a slow machine.
	startTimeout = 90 * time.Second
)

// stack is signoff and the demo, running.
type stack struct {
	signoff     string // signoff's base URL (issuer): http://localhost:port
	idp         string // browser URLs
	appA, appB  string
	signoffLogs *syncbuf.Buffer
	demoLogs    *syncbuf.Buffer
}

// findRoot walks up from the working directory to the folder of go.work.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getting the working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found above the working directory")
		}
		dir = parent
	}
}

// buildDir holds the signoff binary the tests build; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signoff-demo-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating build directory:", err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildSignoff builds the all-in-one binary once per test binary, from the
// repository root, so that go.work resolves it.
var buildSignoff = sync.OnceValues(func() (string, error) {
	root, err := findRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(buildDir, "signoff")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/signoff/signoff/services/signoff")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build signoff: %w\n%s", err, out)
	}
	return bin, nil
})

// startStack starts the demo, then signoff with a configuration like
// deployments/demo/signoff.yaml, and waits until both answer.
func startStack(t *testing.T) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs signoff")
	}
	bin, err := buildSignoff()
	require.NoError(t, err)
	p := testports.Free(t, 4)
	sp, ip, ap, bp := p[0], p[1], p[2], p[3]
	s := &stack{
		signoff:     fmt.Sprintf("http://localhost:%d", sp),
		idp:         fmt.Sprintf("http://localhost:%d", ip),
		appA:        fmt.Sprintf("http://localhost:%d", ap),
		appB:        fmt.Sprintf("http://localhost:%d", bp),
		signoffLogs: &syncbuf.Buffer{},
		demoLogs:    &syncbuf.Buffer{},
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("signoff logs:\n%s", s.signoffLogs)
			t.Logf("demo logs:\n%s", s.demoLogs)
		}
	})

	// The demo, in-process.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo",
			"-issuer", s.signoff,
			"-signoff-url", fmt.Sprintf("http://127.0.0.1:%d", sp),
			"-api-token", testAPIToken,
			"-idp-listen", fmt.Sprintf("127.0.0.1:%d", ip),
			"-app-a-listen", fmt.Sprintf("127.0.0.1:%d", ap),
			"-app-b-listen", fmt.Sprintf("127.0.0.1:%d", bp),
			"-webhook-secret", testWebhookSecret,
		}, func(string) string { return "" }, s.demoLogs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the demo did not stop within 30 s of its context's end")
		}
	})
	waitOK(t, s.idp+"/jwks", done)
	waitOK(t, s.appA+"/", done)
	waitOK(t, s.appB+"/", done)
	// The container health check of the demo image.
	if err := run(ctx, []string{"demo", "-healthcheck", s.idp + "/jwks"}, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatalf("demo -healthcheck while serving: %v", err)
	}
	if err := run(ctx, []string{"demo", "-healthcheck", s.idp + "/no-such-page"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Fatal("demo -healthcheck passed on a 404")
	}

	// signoff, as a process.
	dir := t.TempDir()
	cfg := fmt.Sprintf(`issuer: %[1]s
listen: 127.0.0.1:%[2]d
log: {level: info, format: text}
nats: {store_dir: %[3]s}
api: {token: %[4]s}
session_cookie: idp_session
id_token_hint: {jwks_uri: "http://127.0.0.1:%[5]d/jwks"}
keys: {generate_dir: %[6]s}
logout: {wait: 5s, frontchannel_timeout: 3s}
clients:
  - client_id: app-a
    name: App A
    redirect_uris: ["http://localhost:%[7]d/callback"]
    post_logout_redirect_uris: ["http://localhost:%[7]d/signed-out"]
    frontchannel_logout_uri: http://localhost:%[7]d/frontchannel-logout
    frontchannel_logout_session_required: true
    backchannel_logout_uri: http://127.0.0.1:%[7]d/backchannel-logout
    backchannel_logout_session_required: true
  - client_id: app-b
    name: App B
    id_token_signed_response_alg: ES256
    redirect_uris: ["http://localhost:%[8]d/callback"]
    post_logout_redirect_uris: ["http://localhost:%[8]d/signed-out"]
    frontchannel_logout_uri: http://localhost:%[8]d/frontchannel-logout
    frontchannel_logout_session_required: true
    backchannel_logout_uri: http://127.0.0.1:%[8]d/backchannel-logout
    backchannel_logout_session_required: true
    webhook_uri: http://127.0.0.1:%[8]d/webhook
    webhook_secret: %[9]s
`, s.signoff, sp, filepath.Join(dir, "nats"), testAPIToken, ip, filepath.Join(dir, "keys"), ap, bp, testWebhookSecret)
	path := filepath.Join(dir, "signoff.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	cmd := exec.Command(bin, "-config", path)
	cmd.Stdout, cmd.Stderr = s.signoffLogs, s.signoffLogs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	waitOK(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", sp), exited)
	return s
}

// waitOK polls u until it answers 200, failing on startTimeout or when
// exited delivers first (the process under test stopped).
func waitOK(t *testing.T, u string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 5 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("stopped before %s answered: %v", u, err)
		default:
		}
		resp, err := client.Get(u)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %s: %s", u, startTimeout, last)
}

// ledger is what GET /api/v1/sessions/{sid} says.
type ledger struct {
	SID     string `json:"sid"`
	Clients []struct {
		ClientID string `json:"client_id"`
		Sub      string `json:"sub"`
	} `json:"clients"`
	EndedAt    *time.Time `json:"ended_at"`
	Deliveries []struct {
		ClientID  string `json:"client_id"`
		Channel   string `json:"channel"`
		Status    string `json:"status"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	} `json:"deliveries"`
}

// session reads signoff's ledger of sid.
func (s *stack) session(t *testing.T, sid string) (ledger, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.signoff+"/api/v1/sessions/"+sid, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testAPIToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return ledger{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ledger{}, fmt.Errorf("GET session %s: %s", sid, resp.Status)
	}
	var l ledger
	return l, json.NewDecoder(resp.Body).Decode(&l)
}

// delivered returns "client_id/channel" for each delivered delivery.
func (l ledger) delivered() []string {
	var out []string
	for _, d := range l.Deliveries {
		if d.Status == "delivered" {
			out = append(out, d.ClientID+"/"+d.Channel)
		}
	}
	return out
}

// eventually polls check until it returns nil or the deadline passes, then
// fails with check's last error.
func eventually(t *testing.T, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// contains is an error unless s contains every one of want.
func contains(s string, want ...string) error {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return fmt.Errorf("no %q in:\n%s", w, s)
		}
	}
	return nil
}
