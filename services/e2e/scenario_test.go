//go:build unix

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/natsconn"
)

// The scenario's size and pace.
const (
	numSessions     = 300
	joinConcurrency = 16
	endConcurrency  = 12
	// minOutage is how long the killed NATS node and workers stay down at
	// least, so that the system runs degraded for a while whatever the
	// machine's speed.
	minOutage = 8 * time.Second
	// convergeWithin bounds the wait for every delivery after the last
	// logout: a killed worker's unacknowledged events come back after the
	// workers' AckWait (15 s), and retries back off from 1 s.
	convergeWithin = 3 * time.Minute
)

// Phases of the run, by when a logout started.
const (
	phaseBefore = "before" // all processes up
	phaseOutage = "outage" // a NATS node, a back-channel worker and the events worker killed
	phaseAfter  = "after"  // all three restarted
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
// a client that also takes webhooks and logout events and has pairwise
// subjects, and one that takes webhooks only. Two of them fail the first
// request of some logouts.
func relyingParties() []*relyingParty {
	return []*relyingParty{
		{id: "rp-rs256", alg: "RS256"},
		{id: "rp-es256", alg: "ES256", failFirst: func(ch string, n int) bool { return ch == chanBackchannel && n%10 == 3 }},
		{id: "rp-eddsa", alg: "EdDSA", secret: "e2e-webhook-secret-eddsa", pairwise: true, events: true,
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
// and both ways; a third of the way in it kills a NATS node, a
// back-channel worker and the events worker, two thirds of the way in it
// restarts them.
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
			ch.kill(ctx)
			phase = phaseOutage
			rep.mark("killed " + ch.names())
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
			rep.mark("restarted " + ch.names())
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

// chaos kills and restarts a NATS node and some workers: a back-channel
// worker, which has a replica that carries on, and the events worker,
// which has none, so that its logouts wait for its restart and a
// ClientLogout it published but did not record is published again.
type chaos struct {
	tp    *topology
	probe *http.Client
	watch *stateWatch
	// workers start again with the node: one that connects to it while
	// it is still catching up waits for it (natsconn.RetryTransient) to
	// bind its consumers.
	workers []*service

	node                *natsNode
	why                 string // why that node
	killedAt, restarted time.Time
	done                sync.WaitGroup

	mu           sync.Mutex
	nodeHealthy  time.Duration   // from the restart
	workersReady []time.Duration // from the restart, by worker
	errs         []string        // restarted, but never healthy
}

// killed lists the killed workers.
func (c *chaos) killed() []*service {
	return c.workers
}

// names lists the killed processes.
func (c *chaos) names() string {
	names := []string{c.node.name}
	for _, w := range c.killed() {
		names = append(names, w.name)
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// kill SIGKILLs the node that leads the events stream (the stream every
// logout is published to) and the workers.
func (c *chaos) kill(ctx context.Context) {
	c.node, c.why = c.tp.nats[1], "its events stream leader unknown"
	if leader, err := streamLeader(ctx, c.watch.nc, natsconn.StreamEvents); err == nil {
		for _, n := range c.tp.nats {
			if n.name == leader {
				c.node, c.why = n, "leader of "+natsconn.StreamEvents
			}
		}
	}
	c.killedAt = time.Now()
	var wg sync.WaitGroup
	wg.Go(c.node.proc.kill)
	for _, w := range c.killed() {
		wg.Go(w.proc.kill)
	}
	wg.Wait()
}

// restart starts them all again, on the same ports and store, and
// measures in the background how long they take to be healthy.
func (c *chaos) restart(ctx context.Context) error {
	c.restarted = time.Now()
	if err := c.node.proc.start(); err != nil {
		return err
	}
	c.mu.Lock()
	c.workersReady = make([]time.Duration, len(c.workers))
	c.mu.Unlock()
	for i, w := range c.workers {
		if err := w.proc.start(); err != nil {
			return err
		}
		c.done.Go(func() { c.measure(ctx, w.name, &c.workersReady[i], w.ready) })
	}
	c.done.Go(func() { c.measure(ctx, c.node.name, &c.nodeHealthy, c.node.healthz) })
	return nil
}

// measure waits until check passes and stores in took how long after the
// restart that was.
func (c *chaos) measure(ctx context.Context, name string, took *time.Duration,
	check func(context.Context, *http.Client) error) {
	err := waitFor(ctx, 2*time.Minute, 100*time.Millisecond, func() error { return check(ctx, c.probe) })
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs = append(c.errs, fmt.Sprintf("%s, restarted, is not healthy: %v", name, err))
		return
	}
	*took = time.Since(c.restarted)
}

// waitHealthy waits until every restarted process is healthy (or the
// wait gave up) and returns the failures.
func (c *chaos) waitHealthy() []string {
	c.done.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

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
