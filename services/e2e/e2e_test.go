//go:build unix

package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/natsconn"
)

// The scenario's size and pace.
const (
	numSessions     = 300
	joinConcurrency = 16
	endConcurrency  = 12
	// minOutage is how long the killed NATS node and worker stay down at
	// least, so that the system runs degraded for a while whatever the
	// machine's speed.
	minOutage = 8 * time.Second
	// convergeWithin bounds the wait for every delivery after the last
	// logout: a killed worker's unacknowledged events come back after the
	// workers' AckWait (40 s), and retries back off from 1 s.
	convergeWithin = 3 * time.Minute
)

// Phases of the run, by when a logout started.
const (
	phaseBefore = "before" // all processes up
	phaseOutage = "outage" // a NATS node and a back-channel worker killed
	phaseAfter  = "after"  // both restarted
)

var phases = []string{phaseBefore, phaseOutage, phaseAfter}

// plannedSession is one session of the run and how it ends.
type plannedSession struct {
	n        int
	sid      string
	rps      []*relyingParty
	subs     map[string]string // client_id -> sub
	front    int               // the front that ends it
	viaHint  bool              // end-session endpoint with a hint, else DELETE
	hintRP   *relyingParty     // the client the hint was issued to
	phase    string
	logoutID string // from the DELETE's answer, else from the ledger
}

func (s *plannedSession) reason() string {
	if s.viaHint {
		return "end_session"
	}
	return "api"
}

// relyingParties are the clients of the run: every back-channel algorithm,
// a client that also takes webhooks and has pairwise subjects, and one that
// takes webhooks only. Two of them fail the first request of some logouts.
func relyingParties() []*relyingParty {
	return []*relyingParty{
		{id: "rp-rs256", alg: "RS256"},
		{id: "rp-es256", alg: "ES256", failFirst: func(ch string, n int) bool { return ch == chanBackchannel && n%10 == 3 }},
		{id: "rp-eddsa", alg: "EdDSA", secret: "e2e-webhook-secret-eddsa", pairwise: true,
			failFirst: func(ch string, n int) bool { return ch == chanWebhook && n%10 == 7 }},
		{id: "rp-hook", secret: "e2e-webhook-secret-hook"},
	}
}

// planSessions decides every session's participants, subs and ending: the
// fronts alternate, and so do the endpoint with a hint and the API.
func planSessions(rps []*relyingParty) []*plannedSession {
	out := make([]*plannedSession, numSessions)
	for n := range out {
		s := &plannedSession{n: n, sid: fmt.Sprintf("e2e-sid-%04d", n), subs: map[string]string{},
			front: n % 2, viaHint: (n/2)%2 == 0}
		for _, rp := range rps {
			if (n%4 == 1 && rp.id == "rp-rs256") || (n%4 == 3 && rp.id == "rp-hook") {
				continue // three clients in half of the sessions, four in the others
			}
			s.rps = append(s.rps, rp)
			s.subs[rp.id] = fmt.Sprintf("user-%04d", n)
			if rp.pairwise {
				s.subs[rp.id] = fmt.Sprintf("pairwise-%s-%04d", rp.id, n)
			}
		}
		s.hintRP = s.rps[n%len(s.rps)]
		out[n] = s
	}
	return out
}

// expectedDeliveries are the (client, channel) pairs a session's logout
// must deliver.
func (s *plannedSession) expectedDeliveries() map[[2]string]bool {
	m := map[[2]string]bool{}
	for _, rp := range s.rps {
		for _, ch := range rp.channels() {
			m[[2]string{rp.id, ch}] = true
		}
	}
	return m
}

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
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Minute)
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

	ch := &chaos{tp: tp, probe: probe, watch: watch, bc: tp.workers[0]}
	endAll(ctx, t, a, tp, plan, hints, ch, rep)
	rep.mark("every session ended")
	lastEnd := time.Now()

	if err := waitFor(ctx, convergeWithin, 500*time.Millisecond, func() error {
		return converged(ctx, a, tp, plan, recv, watch)
	}); err != nil {
		ch.waitHealthy()
		rep.log(t, tp, plan, recv, watch, a, ch)
		t.Fatalf("not every logout reached every client: %v", err)
	}
	rep.converged = time.Since(lastEnd)
	rep.mark("converged")
	ch.waitHealthy()

	failures := finalChecks(ctx, a, tp, plan, recv, watch, rep)
	for _, p := range tp.procs() {
		failures = append(failures, p.unexpectedExits()...)
	}
	rep.log(t, tp, plan, recv, watch, a, ch)
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

// joinAll reports every participation, each through one of the fronts in
// turn, then waits until both fronts' indexes hold every session with all
// its clients: an end-session request ends what the front's index knows.
func joinAll(ctx context.Context, t *testing.T, a *api, tp *topology, plan []*plannedSession) {
	t.Helper()
	type job struct {
		s  *plannedSession
		rp *relyingParty
		i  int
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range joinConcurrency {
		wg.Go(func() {
			for j := range jobs {
				front := tp.fronts[(j.s.n+j.i)%2].base()
				if err := a.join(ctx, front, j.s.sid, j.rp.id, j.s.subs[j.rp.id]); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, s := range plan {
		for i, rp := range s.rps {
			jobs <- job{s, rp, i}
		}
	}
	close(jobs)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("reporting participation: %d failed, first: %v", len(errs), errs[0])
	}
	seen := map[string]bool{}
	err := waitFor(ctx, time.Minute, 200*time.Millisecond, func() error {
		for _, s := range plan {
			for _, f := range tp.fronts {
				key := f.name + "/" + s.sid
				if seen[key] {
					continue
				}
				got, err := a.getSession(ctx, f.base(), s.sid)
				if err != nil {
					return fmt.Errorf("%s: %w", f.name, err)
				}
				if err := sameClients(got, s); err != nil {
					return fmt.Errorf("%s: %w", f.name, err)
				}
				seen[key] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("waiting for both fronts to know every participation: %v", err)
	}
}

func sameClients(got *session, s *plannedSession) error {
	if got.EndedAt != nil {
		return fmt.Errorf("session %s ended early", s.sid)
	}
	if len(got.Clients) != len(s.rps) {
		return fmt.Errorf("session %s has %d clients, want %d", s.sid, len(got.Clients), len(s.rps))
	}
	for _, c := range got.Clients {
		if s.subs[c.ClientID] != c.Sub {
			return fmt.Errorf("session %s: client %s sub %q, want %q", s.sid, c.ClientID, c.Sub, s.subs[c.ClientID])
		}
	}
	return nil
}

// endAll ends every session, endConcurrency at a time, through both fronts
// and both ways; a third of the way in it kills a NATS node and a
// back-channel worker, two thirds of the way in it restarts them.
func endAll(ctx context.Context, t *testing.T, a *api, tp *topology, plan []*plannedSession,
	hints *keys.Set, ch *chaos, rep *report) {
	t.Helper()
	jobs := make(chan *plannedSession)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range endConcurrency {
		wg.Go(func() {
			for s := range jobs {
				if err := endOne(ctx, a, tp, s, hints); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("ending %s (%s): %w", s.sid, s.phase, err))
					mu.Unlock()
				}
			}
		})
	}
	phase := phaseBefore
	for i, s := range plan {
		switch i {
		case len(plan) / 3:
			if err := ch.kill(ctx); err != nil {
				t.Error(err)
			}
			phase = phaseOutage
			rep.mark(fmt.Sprintf("killed %s and %s", ch.node.name, ch.bc.name))
		case 2 * len(plan) / 3:
			// Scenario pacing, not an assertion: the outage lasts at
			// least minOutage, however fast the logouts went.
			select {
			case <-time.After(time.Until(ch.killedAt.Add(minOutage))):
			case <-ctx.Done():
			}
			if err := ch.restart(ctx); err != nil {
				t.Error(err)
			}
			phase = phaseAfter
			rep.mark(fmt.Sprintf("restarted %s and %s", ch.node.name, ch.bc.name))
		}
		s.phase = phase
		jobs <- s
	}
	close(jobs)
	wg.Wait()
	if len(errs) > 0 {
		for _, err := range errs[:min(len(errs), 10)] {
			t.Error(err)
		}
		t.Fatalf("%d of %d logouts failed", len(errs), len(plan))
	}
}

// endOne ends one session as planned.
func endOne(ctx context.Context, a *api, tp *topology, s *plannedSession, hints *keys.Set) error {
	front := tp.fronts[s.front].base()
	if !s.viaHint {
		id, err := a.deleteSession(ctx, s.phase, front, s.sid)
		s.logoutID = id
		return err
	}
	now := time.Now()
	hint, err := hints.IDToken("RS256", tp.issuer, s.hintRP.id, s.subs[s.hintRP.id], s.sid, now, now.Add(time.Hour))
	if err != nil {
		return fmt.Errorf("minting a hint: %w", err)
	}
	return a.endSession(ctx, s.phase, front, hint, s.hintRP.signedOutURL(), "st-"+s.sid)
}

// chaos kills and restarts a NATS node and a back-channel worker.
type chaos struct {
	tp    *topology
	probe *http.Client
	watch *stateWatch
	bc    *service

	node                *natsNode
	killedAt, restarted time.Time
	done                sync.WaitGroup

	mu                   sync.Mutex
	nodeHealthy, bcReady time.Duration // from the restart
}

// kill SIGKILLs the node that leads the events stream (the stream every
// logout is published to) and the back-channel worker.
func (c *chaos) kill(ctx context.Context) error {
	c.node = c.tp.nats[1]
	if leader, err := streamLeader(ctx, c.watch.nc, natsconn.StreamEvents); err == nil {
		for _, n := range c.tp.nats {
			if n.name == leader {
				c.node = n
			}
		}
	}
	c.killedAt = time.Now()
	var wg sync.WaitGroup
	wg.Go(c.node.proc.kill)
	wg.Go(c.bc.proc.kill)
	wg.Wait()
	return nil
}

// restart starts both again, on the same ports and store, and measures in
// the background how long they take to be healthy.
func (c *chaos) restart(ctx context.Context) error {
	c.restarted = time.Now()
	if err := c.node.proc.start(); err != nil {
		return err
	}
	if err := c.bc.proc.start(); err != nil {
		return err
	}
	c.done.Go(func() {
		if waitFor(ctx, 2*time.Minute, 100*time.Millisecond, func() error { return c.node.healthz(ctx, c.probe) }) == nil {
			c.mu.Lock()
			c.nodeHealthy = time.Since(c.restarted)
			c.mu.Unlock()
		}
	})
	c.done.Go(func() {
		if waitFor(ctx, 2*time.Minute, 100*time.Millisecond, func() error { return c.bc.ready(ctx, c.probe) }) == nil {
			c.mu.Lock()
			c.bcReady = time.Since(c.restarted)
			c.mu.Unlock()
		}
	})
	return nil
}

func (c *chaos) waitHealthy() { c.done.Wait() }

func streamLeader(ctx context.Context, nc *nats.Conn, stream string) (string, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return "", err
	}
	info := st.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", errors.New("no leader")
	}
	return info.Cluster.Leader, nil
}

// errFatal marks a state that waiting cannot mend: an invalid request at
// a receiver, a delivery that failed for good.
var errFatal = errors.New("fatal")

// converged is nil once every expected delivery reached its receiver, both
// fronts show every logout delivered, and the watch has read every record.
func converged(ctx context.Context, a *api, tp *topology, plan []*plannedSession, recv *receivers, watch *stateWatch) error {
	missing := 0
	var example string
	recv.mu.Lock()
	if len(recv.problems) > 0 {
		defer recv.mu.Unlock()
		return fmt.Errorf("%w: a receiver got an invalid request: %s", errFatal, recv.problems[0])
	}
	for _, s := range plan {
		for k := range s.expectedDeliveries() {
			if recv.receipts[receiptKey{client: k[0], channel: k[1], sid: s.sid}] == 0 {
				missing++
				example = fmt.Sprintf("%s %s for %s", k[0], k[1], s.sid)
			}
		}
	}
	recv.mu.Unlock()
	if missing > 0 {
		return fmt.Errorf("%d deliveries not received yet, such as %s", missing, example)
	}
	for _, f := range tp.fronts {
		for _, s := range plan {
			got, err := a.getSession(ctx, f.base(), s.sid)
			if err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			if err := ledgerDone(got, s); err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
		}
	}
	return watch.caughtUp(ctx)
}

// ledgerDone checks one front's view of an ended session: ended for the
// planned reason, and exactly the expected deliveries, each delivered.
func ledgerDone(got *session, s *plannedSession) error {
	if got.EndedAt == nil || got.LogoutID == "" {
		return fmt.Errorf("session %s not ended", s.sid)
	}
	if got.Reason != s.reason() {
		return fmt.Errorf("session %s reason %q, want %q", s.sid, got.Reason, s.reason())
	}
	if s.logoutID != "" && got.LogoutID != s.logoutID {
		return fmt.Errorf("session %s logout_id %q, the DELETE said %q", s.sid, got.LogoutID, s.logoutID)
	}
	want := s.expectedDeliveries()
	seen := map[[2]string]bool{}
	for _, d := range got.Deliveries {
		k := [2]string{d.ClientID, d.Channel}
		switch {
		case !want[k]:
			return fmt.Errorf("session %s: unexpected delivery %s %s (%s)", s.sid, d.ClientID, d.Channel, d.Status)
		case seen[k]:
			return fmt.Errorf("session %s: delivery %s %s listed twice", s.sid, d.ClientID, d.Channel)
		case d.Status == "failed":
			return fmt.Errorf("%w: session %s: %s %s failed after %d attempts (%s)", errFatal, s.sid, d.ClientID,
				d.Channel, d.Attempts, d.LastError)
		case d.Status != "delivered" || d.Attempts < 1:
			return fmt.Errorf("session %s: %s %s is %s after %d attempts (%s)", s.sid, d.ClientID, d.Channel,
				d.Status, d.Attempts, d.LastError)
		}
		seen[k] = true
	}
	if len(seen) != len(want) {
		return fmt.Errorf("session %s: %d of %d deliveries listed", s.sid, len(seen), len(want))
	}
	return nil
}

// finalChecks runs once everything converged: both fronts agree on each
// logout id, the webhooks carried it, every delivery was recorded
// delivered exactly once, receivers saw nothing invalid, and repeats at
// the receivers stay within what the failures explain.
func finalChecks(ctx context.Context, a *api, tp *topology, plan []*plannedSession, recv *receivers,
	watch *stateWatch, rep *report) []string {
	var out []string
	logouts := map[string]*plannedSession{}
	rep.attempts = map[int]int{}
	for _, s := range plan {
		var ids []string
		for i, f := range tp.fronts {
			got, err := a.getSession(ctx, f.base(), s.sid)
			if err == nil {
				err = ledgerDone(got, s)
			}
			if err != nil {
				out = append(out, fmt.Sprintf("%s: %v", f.name, err))
				continue
			}
			ids = append(ids, got.LogoutID)
			for _, d := range got.Deliveries {
				if i == 0 {
					rep.attempts[d.Attempts]++
				}
			}
		}
		if len(ids) != len(tp.fronts) {
			continue
		}
		if ids[0] != ids[1] {
			out = append(out, fmt.Sprintf("session %s: the fronts disagree on its logout id: %v", s.sid, ids))
			continue
		}
		s.logoutID = ids[0]
		logouts[s.logoutID] = s
		recv.mu.Lock()
		for _, rp := range s.rps {
			k := receiptKey{client: rp.id, channel: chanWebhook, sid: s.sid}
			if rp.secret != "" && recv.hookIDs[k] != s.logoutID {
				out = append(out, fmt.Sprintf("session %s: %s's webhook said logout %q, the ledger %q",
					s.sid, rp.id, recv.hookIDs[k], s.logoutID))
			}
		}
		recv.mu.Unlock()
		for k := range s.expectedDeliveries() {
			if n := watch.delivered(deliveryKey{logoutID: s.logoutID, channel: k[1], client: k[0]}); n != 1 {
				out = append(out, fmt.Sprintf("session %s: %s %s recorded delivered %d times in SIGNOFF_STATE, want once",
					s.sid, k[0], k[1], n))
			}
		}
	}
	for _, k := range watch.deliveredKeys() {
		if s, ok := logouts[k.logoutID]; !ok || !s.expectedDeliveries()[[2]string{k.client, k.channel}] {
			out = append(out, fmt.Sprintf("unexpected delivery recorded: %+v", k))
		}
	}
	recv.mu.Lock()
	for _, p := range recv.problems {
		out = append(out, "receiver: "+p)
	}
	recv.mu.Unlock()
	watch.mu.Lock()
	for _, b := range watch.bad {
		out = append(out, "state record: "+b)
	}
	watch.mu.Unlock()
	if dups, limit := duplicates(plan, recv, ""), maxDuplicates(plan); dups > limit {
		out = append(out, fmt.Sprintf("receivers got %d repeated deliveries, more than the %d that the failures can explain", dups, limit))
	}
	return out
}

// duplicates counts the requests a receiver got beyond the first valid
// one, for the sessions of phase (every phase when "").
func duplicates(plan []*plannedSession, recv *receivers, phase string) int {
	recv.mu.Lock()
	defer recv.mu.Unlock()
	n := 0
	for _, s := range plan {
		if phase != "" && s.phase != phase {
			continue
		}
		for k := range s.expectedDeliveries() {
			if c := recv.receipts[receiptKey{client: k[0], channel: k[1], sid: s.sid}]; c > 1 {
				n += c - 1
			}
		}
	}
	return n
}

// maxDuplicates is how many repeated deliveries the two failures can
// explain. Delivery is at least once: a worker that dies between a POST
// and the record of its outcome, or whose record fails while a NATS node
// is down, leaves the event (or retry task) unacknowledged, and whoever
// takes it again repeats the POST. Only the logouts in flight at a failure
// can be repeated; the test ends at most endConcurrency of them at a time,
// and the workers run behind the fronts by a few logouts at most, so each
// of the two failures can repeat the deliveries of a few dozen logouts.
// A fifth of the deliveries of the logouts that started before the
// restart is a generous bound of that; more means deliveries are repeated
// wholesale (a lost ledger, redelivery that ignores it).
func maxDuplicates(plan []*plannedSession) int {
	n := 0
	for _, s := range plan {
		if s.phase != phaseAfter {
			n += len(s.expectedDeliveries())
		}
	}
	return n / 5
}

// report collects the run's milestones and prints the summary.
type report struct {
	start     time.Time
	marks     []string
	converged time.Duration
	attempts  map[int]int // deliveries by attempts, as front-1's ledger shows them
}

func (r *report) mark(what string) {
	r.marks = append(r.marks, fmt.Sprintf("%6.1fs  %s", time.Since(r.start).Seconds(), what))
}

func (r *report) log(t *testing.T, tp *topology, plan []*plannedSession, recv *receivers, watch *stateWatch, a *api, ch *chaos) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "signoff e2e report\n")
	fmt.Fprintf(&b, "topology: 3 nats-server (JetStream, replicas 3), 2 fronts, 2 backchannel workers, 1 webhook worker; %d clients\n", len(recv.rps))
	deliveries, viaHint := 0, 0
	for _, s := range plan {
		deliveries += len(s.expectedDeliveries())
		if s.viaHint {
			viaHint++
		}
	}
	fmt.Fprintf(&b, "logouts: %d (%d end-session with id_token_hint, %d DELETE), expected deliveries: %d\n",
		len(plan), viaHint, len(plan)-viaHint, deliveries)
	if ch.node != nil {
		ch.mu.Lock()
		fmt.Fprintf(&b, "chaos: SIGKILL %s (events stream leader) and %s; restarted after %.1fs; healthy again after %.1fs (node) and %.1fs (worker)\n",
			ch.node.name, ch.bc.name, ch.restarted.Sub(ch.killedAt).Seconds(), ch.nodeHealthy.Seconds(), ch.bcReady.Seconds())
		ch.mu.Unlock()
	}
	fmt.Fprintf(&b, "%-8s %8s %8s %10s %12s %12s\n", "phase", "logouts", "hint", "retried5xx", "dup-receipts", "attempts>1")
	for _, ph := range phases {
		n, h := 0, 0
		for _, s := range plan {
			if s.phase == ph {
				n++
				if s.viaHint {
					h++
				}
			}
		}
		fmt.Fprintf(&b, "%-8s %8d %8d %10d %12d %12d\n", ph, n, h, a.retriedBy(ph), duplicates(plan, recv, ph), retriedDeliveries(plan, recv, ph))
	}
	recv.mu.Lock()
	fmt.Fprintf(&b, "receivers: %d requests, %d valid receipts, %d injected 503s, %d invalid\n",
		recv.posts, sum(recv.receipts), recv.injected, len(recv.problems))
	recv.mu.Unlock()
	a.mu.Lock()
	fmt.Fprintf(&b, "fronts: 5xx answers %v, retried requests %v\n", a.codes, a.retried)
	a.mu.Unlock()
	recv.mu.Lock()
	watch.mu.Lock()
	seenRetrying := 0
	for k := range recv.failed {
		if watch.retrying[k] {
			seenRetrying++
		}
	}
	fmt.Fprintf(&b, "state records read: %d (entries by status %v), watch disconnects %d, deliveries recorded delivered twice: %d\n",
		watch.messages, watch.statuses, watch.connLosts, recordedTwice(watch))
	fmt.Fprintf(&b, "watch completeness: it read the retrying record of %d of the %d deliveries that a receiver failed once\n",
		seenRetrying, len(recv.failed))
	watch.mu.Unlock()
	recv.mu.Unlock()
	if len(r.attempts) > 0 {
		fmt.Fprintf(&b, "ledger attempts per delivery (front-1): %v\n", r.attempts)
	}
	if r.converged > 0 {
		fmt.Fprintf(&b, "converged %.1fs after the last logout\n", r.converged.Seconds())
	}
	var errLines []string
	for _, p := range tp.procs() {
		if n := p.errorLines(); n > 0 {
			errLines = append(errLines, fmt.Sprintf("%s %d", p.name, n))
		}
		for _, why := range p.startupRestarts() {
			fmt.Fprintf(&b, "startup restart: %s\n", why)
		}
	}
	if len(errLines) == 0 {
		errLines = []string{"none"}
	}
	fmt.Fprintf(&b, "error-level log lines: %s\n", strings.Join(errLines, ", "))
	b.WriteString("timeline:\n")
	for _, m := range r.marks {
		b.WriteString("  " + m + "\n")
	}
	fmt.Fprintf(&b, "total %.1fs", time.Since(r.start).Seconds())
	t.Log(b.String())
}

// retriedDeliveries counts the deliveries of phase's logouts that needed
// more than one request, as the receivers saw it (injected 503s included).
func retriedDeliveries(plan []*plannedSession, recv *receivers, phase string) int {
	recv.mu.Lock()
	defer recv.mu.Unlock()
	n := 0
	for _, s := range plan {
		if s.phase != phase {
			continue
		}
		for k := range s.expectedDeliveries() {
			rk := receiptKey{client: k[0], channel: k[1], sid: s.sid}
			if recv.receipts[rk] > 1 || recv.failed[rk] {
				n++
			}
		}
	}
	return n
}

func recordedTwice(w *stateWatch) int {
	n := 0
	keys := map[deliveryKey]bool{}
	for k := range w.batches {
		keys[k] = true
	}
	for k := range w.records {
		keys[k] = true
	}
	for k := range keys {
		if len(w.batches[k])+w.records[k] > 1 {
			n++
		}
	}
	return n
}

func sum(m map[receiptKey]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
