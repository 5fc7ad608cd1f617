//go:build unix

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

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
// logout id, the webhooks and client logouts carried it, every delivery
// was recorded delivered exactly once, each client logout was stored once
// on its client's subject, receivers saw nothing invalid, and repeats at
// the receivers stay within what the failures explain.
func finalChecks(ctx context.Context, a *api, tp *topology, plan []*plannedSession, recv *receivers,
	watch *stateWatch, apps *logoutSubscriber, ch *chaos, rep *report) []string {
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
		for k := range s.expectedDeliveries() {
			rk := receiptKey{client: k[0], channel: k[1], sid: s.sid}
			if k[1] != chanBackchannel && recv.logoutID[rk] != s.logoutID {
				out = append(out, fmt.Sprintf("session %s: %s's %s said logout %q, the ledger %q",
					s.sid, k[0], k[1], recv.logoutID[rk], s.logoutID))
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
	out = append(out, apps.checkStored(ctx, recv.rps, plan)...)
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
	if st := repeats(plan, recv, ch); st.unexplained > 0 {
		out = append(out, fmt.Sprintf("receivers got %d repeated deliveries that no failure explains, such as: %s",
			st.unexplained, strings.Join(st.examples, "; ")))
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

// Repeats that the failures explain. Delivery is at least once: a worker
// that dies between a POST and the record of its outcome, or whose record
// cannot be stored while JetStream elects a new leader for a stream of the
// killed node, leaves the event (or retry task) unacknowledged, and
// whoever takes it again POSTs again; that may come a whole AckWait later.
// So a repeated delivery is explained when its first POST came while
// things were failing: from a moment before the kill (a POST whose record
// the killed worker had not written yet) until a while after the restart
// (the restarted node catching up). A repeat of a delivery first made
// outside that window has no failure to blame: the test fails.
const (
	repeatWindowBefore = 3 * time.Second
	repeatWindowAfter  = 10 * time.Second
)

// repeatStats are the repeated deliveries at the receivers.
type repeatStats struct {
	explained, unexplained int
	examples               []string // the first few unexplained ones
	// earliest and latest first POST of a repeated delivery, from the kill.
	earliest, latest time.Duration
}

// repeats counts the repeated deliveries, explained or not (see above).
func repeats(plan []*plannedSession, recv *receivers, ch *chaos) repeatStats {
	var st repeatStats
	from, to := ch.killedAt.Add(-repeatWindowBefore), ch.restarted.Add(repeatWindowAfter)
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, s := range plan {
		for k := range s.expectedDeliveries() {
			rk := receiptKey{client: k[0], channel: k[1], sid: s.sid}
			n := recv.receipts[rk] - 1
			if n <= 0 {
				continue
			}
			first := recv.firstAt[rk]
			off := first.Sub(ch.killedAt)
			if st.explained+st.unexplained == 0 || off < st.earliest {
				st.earliest = off
			}
			if st.explained+st.unexplained == 0 || off > st.latest {
				st.latest = off
			}
			if ch.node != nil && !first.Before(from) && !first.After(to) {
				st.explained += n
				continue
			}
			st.unexplained += n
			if len(st.examples) < 5 {
				st.examples = append(st.examples, fmt.Sprintf("%s %s for %s (%s), %d times, first %.1fs after the kill",
					k[0], k[1], s.sid, s.phase, n+1, off.Seconds()))
			}
		}
	}
	return st
}
