package index

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"

	"github.com/signoff/signoff/shared/event"
)

// The index's writes: what the feed applies from the streams, and what a
// front applies of its own logouts.

// ApplyJoined records that j.ClientID took part in j.SID. seq is the state
// stream sequence of the record; an older or equal sequence than the one
// already applied is ignored, so replays are harmless.
func (ix *Index) ApplyJoined(j *event.Joined, seq uint64) error {
	return ix.ApplyState([]Record{{Seq: seq, Joined: j}})
}

// Record is one message of the state stream: a participation, or the
// progress of the deliveries it carries.
type Record struct {
	// Seq is the message's sequence in the state stream: a record older
	// than what the index holds for the same participation or delivery is
	// ignored.
	Seq uint64
	// Joined is the participation; nil for progress.
	Joined *event.Joined
	// Deliveries are the progress the message carries, when Joined is nil.
	Deliveries []event.Delivery
}

// ApplyState applies state-stream records, in order, in one write
// transaction: a rebuild applies hundreds at a time, not one transaction
// each (a transaction's copy-on-write leaves kilobytes of garbage). When
// a record cannot be applied, the others still are, each in its own
// transaction, and the error names the records that could not.
func (ix *Index) ApplyState(rs []Record) error {
	return eachOnFailure(rs, ix.applyState, func(r Record) string { return fmt.Sprintf("state record %d", r.Seq) })
}

// eachOnFailure applies items with apply, in one transaction; when that
// fails, it applies each on its own, so that one that cannot be applied
// leaves the others applied, and returns the errors of those that could
// not, each named by name.
func eachOnFailure[T any](items []T, apply func([]T) error, name func(T) string) error {
	err := apply(items)
	if err == nil || len(items) == 1 {
		return err
	}
	var errs []error
	for i := range items {
		if err := apply(items[i : i+1]); err != nil {
			errs = append(errs, fmt.Errorf("applying %s: %w", name(items[i]), err))
		}
	}
	return errors.Join(errs...)
}

func (ix *Index) applyState(rs []Record) error {
	txn := ix.db.Txn(true)
	defer txn.Abort()
	added, changed := 0, false
	var uncovered []Uncovered
	for _, r := range rs {
		var ok bool
		if r.Joined != nil {
			isNew, c, err := applyJoined(txn, r.Joined, r.Seq, &uncovered)
			if err != nil {
				return err
			}
			if isNew {
				added++
			}
			ok = c
		} else {
			c, err := applyDeliveries(txn, r.Deliveries, r.Seq)
			if err != nil {
				return err
			}
			ok = c
		}
		changed = changed || ok
	}
	if changed {
		txn.Commit()
		ix.count.Add(int64(added))
		ix.report(uncovered)
	}
	return nil
}

// applyJoined applies one participation; it reports whether it created a
// session and whether it changed anything. A participant of an ended
// session that none of its logouts named is appended to uncovered.
func applyJoined(txn *memdb.Txn, j *event.Joined, seq uint64, uncovered *[]Uncovered) (created, changed bool, err error) {
	raw, err := txn.First(tableParticipations, indexID, j.SID, j.ClientID)
	if err != nil {
		return false, false, fmt.Errorf("reading participation: %w", err)
	}
	if old, ok := raw.(*participation); ok && old.Seq >= seq {
		return false, false, nil
	}
	p := &participation{SID: j.SID, ClientID: j.ClientID, Sub: j.Sub, JoinedAt: j.Time, Seq: seq}
	if err := txn.Insert(tableParticipations, p); err != nil {
		return false, false, fmt.Errorf("inserting participation: %w", err)
	}
	s, err := getSession(txn, j.SID)
	if err != nil {
		return false, false, err
	}
	if s != nil && !s.EndedAt.IsZero() && !slices.Contains(s.Covered, Client{ClientID: j.ClientID, Sub: j.Sub}) {
		*uncovered = append(*uncovered, Uncovered{SID: j.SID, ClientID: j.ClientID, Sub: j.Sub})
	}
	var ns session
	if s == nil {
		ns = session{SID: j.SID, Sub: j.Sub, SubSeq: seq, Created: j.Time, Updated: j.Time}
	} else {
		ns = *s
		changed := false
		// The session's sub is the first reported one: the lowest sequence.
		if seq < ns.SubSeq || ns.SubSeq == 0 {
			ns.Sub, ns.SubSeq, changed = j.Sub, seq, true
		}
		if j.Time.Before(ns.Created) || ns.Created.IsZero() {
			ns.Created, changed = j.Time, true
		}
		if j.Time.After(ns.Updated) {
			ns.Updated, changed = j.Time, true
		}
		if !changed {
			return false, true, nil // the session row is unchanged: no write
		}
	}
	if err := txn.Insert(tableSessions, &ns); err != nil {
		return false, false, fmt.Errorf("inserting session: %w", err)
	}
	return s == nil, true, nil
}

// ApplyEnded marks every session of e as ended by e. The first logout of a
// session wins: a second one for the same sid does not end it again (spec
// DES-3), and is listed in its Later logouts, whose deliveries the
// session's view shows with its own.
// A sid the index does not know is recorded as ended, so that a repeated
// logout is recognised, and so that its participations, when a rebuild
// reads them after the logout, do not bring it back to life.
func (ix *Index) ApplyEnded(e *event.SessionEnded) error {
	return ix.ApplyEndedBatch([]*event.SessionEnded{e})
}

// ApplyEndedBatch applies logouts, in order, in one write transaction, as
// ApplyEnded applies each. When one cannot be applied, the others still
// are, as ApplyState's records.
func (ix *Index) ApplyEndedBatch(es []*event.SessionEnded) error {
	return eachOnFailure(es, ix.applyEndedBatch, func(e *event.SessionEnded) string { return "logout " + e.LogoutID })
}

func (ix *Index) applyEndedBatch(es []*event.SessionEnded) error {
	txn := ix.db.Txn(true)
	defer txn.Abort()
	added := 0
	var uncovered []Uncovered
	for _, e := range es {
		n, err := applyEnded(txn, e, &uncovered)
		if err != nil {
			return err
		}
		added += n
	}
	txn.Commit()
	ix.count.Add(int64(added))
	ix.report(uncovered)
	return nil
}

// applyEnded applies one logout; it returns how many sessions it added.
// The participants of a session it ends that it does not name are
// appended to uncovered.
func applyEnded(txn *memdb.Txn, e *event.SessionEnded, uncovered *[]Uncovered) (int, error) {
	added := 0
	for _, sid := range e.SIDs() {
		if sid == "" {
			continue // no session: nothing the index could key
		}
		s, err := getSession(txn, sid)
		if err != nil {
			return 0, err
		}
		var ns session
		if s == nil {
			ns = session{SID: sid, Sub: e.Sub, Created: e.Time, Updated: e.Time}
			added++
		} else {
			if !s.EndedAt.IsZero() {
				// Ended already: the first logout stays the session's; a
				// later one (a late participant's) is listed with it.
				if e.LogoutID == s.LogoutID || slices.Contains(s.Later, e.LogoutID) {
					continue
				}
				ns = *s
				ns.Later = append(slices.Clip(s.Later), e.LogoutID)
				ns.Covered = append(slices.Clip(s.Covered), covered(e, sid)...)
				if err := txn.Insert(tableSessions, &ns); err != nil {
					return 0, fmt.Errorf("inserting session: %w", err)
				}
				continue
			}
			ns = *s
		}
		ns.EndedAt, ns.LogoutID, ns.Reason = e.Time, e.LogoutID, e.Reason
		ns.Covered = covered(e, sid)
		if e.Time.After(ns.Updated) {
			ns.Updated = e.Time
		}
		if err := txn.Insert(tableSessions, &ns); err != nil {
			return 0, fmt.Errorf("inserting session: %w", err)
		}
		if err := addInitiator(txn, e); err != nil {
			return 0, err
		}
		if s != nil {
			if err := findUncovered(txn, &ns, uncovered); err != nil {
				return 0, err
			}
		}
	}
	return added, nil
}

// covered returns the participants that e names in session sid: every one
// of a logout of that session, those that took part in it for a logout of
// a subject's sessions.
func covered(e *event.SessionEnded, sid string) []Client {
	out := make([]Client, 0, len(e.Clients))
	for _, p := range e.Clients {
		if e.SID != "" || slices.Contains(p.SIDs, sid) {
			out = append(out, Client{ClientID: p.ClientID, Sub: p.Sub})
		}
	}
	return out
}

// findUncovered appends the participants of s, which has just ended, that
// its logout does not name to uncovered.
func findUncovered(txn *memdb.Txn, s *session, uncovered *[]Uncovered) error {
	it, err := txn.Get(tableParticipations, indexID+"_prefix", s.SID, "")
	if err != nil {
		return fmt.Errorf("reading participations: %w", err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		p := raw.(*participation)
		if !slices.Contains(s.Covered, Client{ClientID: p.ClientID, Sub: p.Sub}) {
			*uncovered = append(*uncovered, Uncovered{SID: s.SID, ClientID: p.ClientID, Sub: p.Sub})
		}
	}
	return nil
}

// Uncovered is a participant of an ended session that none of the
// session's logouts named: its participation was reported while the
// logout was decided, on another front or on this one between the
// logout's snapshot and its event. Its client needs a logout of its own.
type Uncovered struct {
	SID, ClientID, Sub string
}

// OnUncovered makes the index call f, after each write that finds
// Uncovered participants, with them. f runs in the writer's goroutine:
// it must not block, nor write to the index. Set it before the index is
// written to.
func (ix *Index) OnUncovered(f func([]Uncovered)) { ix.onUncovered = f }

func (ix *Index) report(u []Uncovered) {
	if len(u) > 0 && ix.onUncovered != nil {
		ix.onUncovered(u)
	}
}

// addInitiator records the participation of the logout's initiating
// client in the session e ends when the index does not have it: the client
// of a hint for a session the IdP never reported it in, which the logout
// notified. Its report, when it comes after all, is then a repeated
// participation, not a late one that would have it logged out a second
// time. The row has sequence 0, so that any report of the client, even one
// a rebuild reads after the logout, takes its place. Every other
// participant of an event comes from an index, so only this one is looked
// up (one lookup per logout, not one per client).
func addInitiator(txn *memdb.Txn, e *event.SessionEnded) error {
	if e.SID == "" || e.InitiatingClientID == "" {
		return nil
	}
	i := slices.IndexFunc(e.Clients, func(p event.Participant) bool { return p.ClientID == e.InitiatingClientID })
	if i < 0 || e.Clients[i].Sub == "" {
		return nil
	}
	raw, err := txn.First(tableParticipations, indexID, e.SID, e.InitiatingClientID)
	if err != nil {
		return fmt.Errorf("reading participation: %w", err)
	}
	if raw != nil {
		return nil
	}
	p := &participation{SID: e.SID, ClientID: e.InitiatingClientID, Sub: e.Clients[i].Sub, JoinedAt: e.Time}
	if err := txn.Insert(tableParticipations, p); err != nil {
		return fmt.Errorf("inserting participation: %w", err)
	}
	return nil
}

// ApplyDelivery records delivery progress; older sequences are ignored.
func (ix *Index) ApplyDelivery(d *event.Delivery, seq uint64) error {
	return ix.ApplyDeliveries([]event.Delivery{*d}, seq)
}

// ApplyDeliveries records the progress of several deliveries, carried by
// one message of sequence seq, in one transaction. An entry older than what
// the index holds for the same delivery is ignored.
func (ix *Index) ApplyDeliveries(ds []event.Delivery, seq uint64) error {
	return ix.ApplyState([]Record{{Seq: seq, Deliveries: ds}})
}

// applyDeliveries applies the deliveries of one record of sequence seq; it
// reports whether it changed anything.
func applyDeliveries(txn *memdb.Txn, ds []event.Delivery, seq uint64) (bool, error) {
	changed := false
	var cur *ledger // the ledger being updated: a message is about one logout
	for i := range ds {
		d := &ds[i]
		if cur == nil || cur.LogoutID != d.LogoutID {
			if err := putLedger(txn, cur); err != nil {
				return false, err
			}
			old, err := getLedger(txn, d.LogoutID)
			if err != nil {
				return false, err
			}
			// Rows are immutable: the update goes to a copy.
			cur = &ledger{LogoutID: d.LogoutID}
			if old != nil {
				cur.Entries, cur.Updated = slices.Clone(old.Entries), old.Updated
			}
		}
		if d.Time.After(cur.Updated) {
			cur.Updated = d.Time
		}
		e := ledgerEntry{Delivery: Delivery{ClientID: d.ClientID, Channel: d.Channel, Status: d.Status,
			Attempts: d.Attempts, LastError: d.LastError}, Seq: seq}
		j, found := slices.BinarySearchFunc(cur.Entries, e, compareEntries)
		switch {
		case !found:
			cur.Entries = slices.Insert(cur.Entries, j, e)
		case cur.Entries[j].Seq < seq:
			cur.Entries[j] = e
		default:
			continue
		}
		changed = true
	}
	if !changed {
		return false, nil
	}
	return true, putLedger(txn, cur)
}

// compareEntries orders a ledger's entries by channel, then client.
func compareEntries(a, b ledgerEntry) int {
	if c := strings.Compare(a.Channel, b.Channel); c != 0 {
		return c
	}
	return strings.Compare(a.ClientID, b.ClientID)
}
