//go:build unix

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

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

func (r *report) log(t *testing.T, tp *topology, plan []*plannedSession, recv *receivers, watch *stateWatch,
	apps *logoutSubscriber, a *api, ch *chaos) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "signoff e2e report\n")
	fmt.Fprintf(&b, "topology: 3 nats-server (JetStream, replicas 3), 2 fronts, 2 backchannel workers, 1 webhook worker, 1 events worker; %d clients\n", len(recv.rps))
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
		fmt.Fprintf(&b, "chaos: SIGKILL %s (%s)", ch.node.name, ch.why)
		for _, w := range ch.killed() {
			fmt.Fprintf(&b, ", %s", w.name)
		}
		fmt.Fprintf(&b, "; restarted after %.1fs; healthy again after %.1fs (%s)",
			ch.restarted.Sub(ch.killedAt).Seconds(), ch.nodeHealthy.Seconds(), ch.node.name)
		for i, d := range ch.workersReady {
			fmt.Fprintf(&b, ", %.1fs (%s)", d.Seconds(), ch.killed()[i].name)
		}
		b.WriteString("\n")
		ch.mu.Unlock()
	}
	// retried5xx: requests to the fronts retried; dup-receipts: valid
	// requests at a receiver beyond the first; multi-post: deliveries that
	// took more than one request (injected 503s included).
	fmt.Fprintf(&b, "%-8s %8s %8s %10s %12s %10s\n", "phase", "logouts", "hint", "retried5xx", "dup-receipts", "multi-post")
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
		fmt.Fprintf(&b, "%-8s %8d %8d %10d %12d %10d\n", ph, n, h, a.retriedBy(ph), duplicates(plan, recv, ph), retriedDeliveries(plan, recv, ph))
	}
	rs := repeats(plan, recv, ch)
	recv.mu.Lock()
	fmt.Fprintf(&b, "receivers: %d requests, %d valid receipts, %d injected 503s, %d invalid\n",
		recv.posts, sum(recv.receipts), recv.injected, len(recv.problems))
	recv.mu.Unlock()
	b.WriteString(apps.summary(t.Context(), recv) + "\n")
	fmt.Fprintf(&b, "repeats at receivers: %d explained by the failures, %d not", rs.explained, rs.unexplained)
	if rs.explained+rs.unexplained > 0 {
		fmt.Fprintf(&b, " (first POSTs from %+.1fs to %+.1fs of the kill; window %+.1fs to %+.1fs)",
			rs.earliest.Seconds(), rs.latest.Seconds(), -repeatWindowBefore.Seconds(),
			(ch.restarted.Sub(ch.killedAt) + repeatWindowAfter).Seconds())
	}
	b.WriteString("\n")
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
