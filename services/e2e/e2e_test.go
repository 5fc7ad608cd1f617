//go:build unix

package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

// workDir is where binaries, configuration, stores and logs go: a test
// temporary directory, or one that is kept with E2E_KEEP=1.
func workDir(t *testing.T) string {
	if os.Getenv("E2E_KEEP") == "" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "signoff-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("E2E_KEEP: logs and data stay in %s", dir)
	return dir
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: the multi-process end-to-end test is skipped with -short; run make e2e")
	}
	runStart := time.Now()
	// Everything ends before go test's own timeout would panic, so that
	// the cleanup kills the processes and the logs are shown.
	deadline := runStart.Add(12 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Add(-30*time.Second).Before(deadline) {
		deadline = d.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	dir := workDir(t)
	rep := &report{start: runStart}

	rps := relyingParties()
	recv := newReceivers(rps)
	t.Cleanup(recv.close)

	binDir := filepath.Join(dir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bins := buildBinaries(ctx, t, binDir)
	rep.mark("built binaries")

	tp := newTopology(t, dir, bins, rps)
	t.Cleanup(func() {
		for _, p := range tp.procs() {
			p.kill()
		}
		if t.Failed() {
			for _, p := range tp.procs() {
				t.Logf("---- last lines of %s (%s)\n%s", p.name, p.log, p.tail(40))
			}
		}
	})
	probe := &http.Client{Timeout: 2 * time.Second}
	if err := tp.startNATS(ctx, probe); err != nil {
		t.Fatalf("starting the NATS cluster: %v", err)
	}
	rep.mark("NATS cluster healthy")
	if err := tp.startServices(ctx, probe); err != nil {
		t.Fatalf("starting fronts and workers: %v", err)
	}
	rep.mark("fronts ready, workers healthy")

	a := newAPI(tp.token)
	setupReceivers(ctx, t, a, tp, recv)
	watch, err := watchState(ctx, tp.natsURLs(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(watch.stop)
	apps, err := subscribeLogouts(ctx, tp.natsURLs(), recv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(apps.stop)
	hints, err := keys.Load(config.Keys{Files: tp.keyFiles}, []string{"RS256"}, nil)
	if err != nil {
		t.Fatalf("loading the keys to mint hints with: %v", err)
	}

	plan := planSessions(rps)
	for _, s := range plan {
		recv.expectSession(s.sid, &expectation{n: s.n, subs: s.subs, reason: s.reason()})
	}
	joinAll(ctx, t, a, tp, plan)
	rep.mark(fmt.Sprintf("%d sessions joined, seen by both fronts", len(plan)))

	ch := &chaos{tp: tp, probe: probe, watch: watch,
		workers: []*service{tp.workers[0], tp.workers[3]}} // backchannel-1, events
	endAll(ctx, t, a, tp, plan, hints, ch, rep)
	rep.mark("every session ended")
	lastEnd := time.Now()

	if err := waitFor(ctx, convergeWithin, 500*time.Millisecond, func() error {
		return converged(ctx, a, tp, plan, recv, watch)
	}); err != nil {
		ch.waitHealthy()
		rep.log(t, tp, plan, recv, watch, apps, a, ch)
		t.Fatalf("not every logout reached every client: %v", err)
	}
	rep.converged = time.Since(lastEnd)
	rep.mark("converged")

	failures := ch.waitHealthy()
	failures = append(failures, finalChecks(ctx, a, tp, plan, recv, watch, apps, ch, rep)...)
	for _, p := range tp.procs() {
		failures = append(failures, p.unexpectedExits()...)
	}
	rep.log(t, tp, plan, recv, watch, apps, a, ch)
	for _, f := range failures {
		t.Error(f)
	}
}

// setupReceivers checks discovery on both fronts and gives the receivers
// the issuer and the keys of jwks_uri, which both fronts must publish
// alike.
func setupReceivers(ctx context.Context, t *testing.T, a *api, tp *topology, recv *receivers) {
	t.Helper()
	var first map[string]jwk
	for _, f := range tp.fronts {
		issuer, jwksURI, err := a.discovery(ctx, f.base())
		if err != nil {
			t.Fatal(err)
		}
		if issuer != tp.issuer || jwksURI != tp.issuer+"/.well-known/jwks.json" {
			t.Fatalf("%s: discovery issuer %q, jwks_uri %q", f.name, issuer, jwksURI)
		}
		// Each front's own copy of the set, at the advertised path.
		ks, err := fetchKeys(ctx, a.c, f.base()+"/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		if len(ks) != 3 {
			t.Fatalf("%s publishes %d keys, want 3 (RS256, ES256, EdDSA)", f.name, len(ks))
		}
		if first == nil {
			first = ks
		}
		for kid := range first {
			if _, ok := ks[kid]; !ok {
				t.Fatalf("%s does not publish kid %q that %s does", f.name, kid, tp.fronts[0].name)
			}
		}
	}
	recv.mu.Lock()
	recv.issuer, recv.keys = tp.issuer, first
	recv.mu.Unlock()
}
