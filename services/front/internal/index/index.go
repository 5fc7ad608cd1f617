package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/signoff/signoff/shared/event"
)

// Index is the session index. It is safe for concurrent use: readers see
// consistent snapshots and never block writers.
type Index struct {
	db    *memdb.MemDB
	count atomic.Int64 // sessions in the index
}

// New returns an empty index.
func New() (*Index, error) {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return nil, fmt.Errorf("creating session index: %w", err)
	}
	return &Index{db: db}, nil
}

// Client is a participant of a session as the API shows it.
type Client struct {
	ClientID string `json:"client_id"`
	Sub      string `json:"sub"`
}

// Delivery is the progress of one delivery as the API shows it.
type Delivery struct {
	ClientID  string       `json:"client_id"`
	Channel   string       `json:"channel"`
	Status    event.Status `json:"status"`
	Attempts  int          `json:"attempts"`
	LastError string       `json:"last_error"`
	// LogoutID is set on the deliveries of a later logout of the session
	// (a late participant's): the others are of the session's LogoutID.
	LogoutID string `json:"logout_id,omitempty"`
}

// Session is a snapshot of one session with its clients and deliveries.
type Session struct {
	SID        string       `json:"sid"`
	Sub        string       `json:"sub"`
	Clients    []Client     `json:"clients"`
	Created    time.Time    `json:"created_at"`
	EndedAt    *time.Time   `json:"ended_at"`
	LogoutID   string       `json:"logout_id,omitempty"`
	Reason     event.Reason `json:"reason,omitempty"`
	Deliveries []Delivery   `json:"deliveries"`
	// Later are the logouts of the session after it ended (its late
	// participants'); their deliveries are in Deliveries.
	Later []string `json:"-"`
}

// Ended reports whether the session has ended.
func (s *Session) Ended() bool { return s.EndedAt != nil }

// HasClient reports whether clientID took part in the session.
func (s *Session) HasClient(clientID string) bool {
	_, ok := s.ClientSub(clientID)
	return ok
}

// ClientSub returns the sub that clientID was given in the session, and
// whether it took part in it.
func (s *Session) ClientSub(clientID string) (string, bool) {
	for _, c := range s.Clients {
		if c.ClientID == clientID {
			return c.Sub, true
		}
	}
	return "", false
}

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
	err := ix.applyState(rs)
	if err == nil || len(rs) == 1 {
		return err
	}
	var errs []error
	for i := range rs {
		if err := ix.applyState(rs[i : i+1]); err != nil {
			errs = append(errs, fmt.Errorf("state record %d: %w", rs[i].Seq, err))
		}
	}
	return errors.Join(errs...)
}

func (ix *Index) applyState(rs []Record) error {
	txn := ix.db.Txn(true)
	defer txn.Abort()
	added, changed := 0, false
	for _, r := range rs {
		var ok bool
		if r.Joined != nil {
			isNew, c, err := applyJoined(txn, r.Joined, r.Seq)
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
	}
	return nil
}

// applyJoined applies one participation; it reports whether it created a
// session and whether it changed anything.
func applyJoined(txn *memdb.Txn, j *event.Joined, seq uint64) (created, changed bool, err error) {
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
	err := ix.applyEndedBatch(es)
	if err == nil || len(es) == 1 {
		return err
	}
	var errs []error
	for i := range es {
		if err := ix.applyEndedBatch(es[i : i+1]); err != nil {
			errs = append(errs, fmt.Errorf("logout %s: %w", es[i].LogoutID, err))
		}
	}
	return errors.Join(errs...)
}

func (ix *Index) applyEndedBatch(es []*event.SessionEnded) error {
	txn := ix.db.Txn(true)
	defer txn.Abort()
	added := 0
	for _, e := range es {
		n, err := applyEnded(txn, e)
		if err != nil {
			return err
		}
		added += n
	}
	txn.Commit()
	ix.count.Add(int64(added))
	return nil
}

// applyEnded applies one logout; it returns how many sessions it added.
func applyEnded(txn *memdb.Txn, e *event.SessionEnded) (int, error) {
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
				if err := txn.Insert(tableSessions, &ns); err != nil {
					return 0, fmt.Errorf("inserting session: %w", err)
				}
				continue
			}
			ns = *s
		}
		ns.EndedAt, ns.LogoutID, ns.Reason = e.Time, e.LogoutID, e.Reason
		if e.Time.After(ns.Updated) {
			ns.Updated = e.Time
		}
		if err := txn.Insert(tableSessions, &ns); err != nil {
			return 0, fmt.Errorf("inserting session: %w", err)
		}
		if err := addInitiator(txn, e); err != nil {
			return 0, err
		}
	}
	return added, nil
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

func getLedger(txn *memdb.Txn, logoutID string) (*ledger, error) {
	raw, err := txn.First(tableLedgers, indexID, logoutID)
	if err != nil {
		return nil, fmt.Errorf("reading deliveries: %w", err)
	}
	l, _ := raw.(*ledger)
	return l, nil
}

func putLedger(txn *memdb.Txn, l *ledger) error {
	if l == nil {
		return nil
	}
	if err := txn.Insert(tableLedgers, l); err != nil {
		return fmt.Errorf("inserting deliveries: %w", err)
	}
	return nil
}

func getSession(txn *memdb.Txn, sid string) (*session, error) {
	raw, err := txn.First(tableSessions, indexID, sid)
	if err != nil {
		return nil, fmt.Errorf("reading session: %w", err)
	}
	s, _ := raw.(*session)
	return s, nil
}

// Session returns a snapshot of session sid.
func (ix *Index) Session(sid string) (*Session, bool) {
	txn := ix.db.Txn(false)
	s, err := getSession(txn, sid)
	if err != nil || s == nil {
		return nil, false
	}
	return view(txn, s), true
}

func view(txn *memdb.Txn, s *session) *Session {
	v := &Session{SID: s.SID, Sub: s.Sub, Created: s.Created, LogoutID: s.LogoutID, Reason: s.Reason,
		Clients: []Client{}, Deliveries: []Delivery{}, Later: slices.Clone(s.Later)}
	if !s.EndedAt.IsZero() {
		t := s.EndedAt
		v.EndedAt = &t
	}
	it, err := txn.Get(tableParticipations, indexID+"_prefix", s.SID, "")
	if err == nil {
		for raw := it.Next(); raw != nil; raw = it.Next() {
			// The compound key ends the sid with a NUL: only this sid's.
			p := raw.(*participation)
			v.Clients = append(v.Clients, Client{ClientID: p.ClientID, Sub: p.Sub})
		}
	}
	switch {
	case s.LogoutID == "":
	case s.Reason == event.ReasonAPISubject:
		// A logout of all of a subject's sessions is one ledger: show
		// this session's clients' deliveries only.
		for _, d := range deliveries(txn, s.LogoutID, nil) {
			if slices.ContainsFunc(v.Clients, func(c Client) bool { return c.ClientID == d.ClientID }) {
				v.Deliveries = append(v.Deliveries, d)
			}
		}
	default:
		// One session's logout: its ledger, whole, even when this
		// front's participations lag the event's snapshot.
		v.Deliveries = deliveries(txn, s.LogoutID, nil)
	}
	for _, id := range s.Later {
		for _, d := range deliveries(txn, id, nil) {
			d.LogoutID = id
			v.Deliveries = append(v.Deliveries, d)
		}
	}
	return v
}

func deliveries(txn *memdb.Txn, logoutID string, ws memdb.WatchSet) []Delivery {
	ch, raw, err := txn.FirstWatch(tableLedgers, indexID, logoutID)
	if err != nil {
		return []Delivery{}
	}
	if ws != nil {
		ws.Add(ch) // fires when the ledger is inserted or replaced
	}
	l, _ := raw.(*ledger)
	if l == nil {
		return []Delivery{}
	}
	out := make([]Delivery, len(l.Entries))
	for i := range l.Entries {
		out[i] = l.Entries[i].Delivery
	}
	return out
}

// LiveSessionsOf returns the sids of the live sessions in which clientID
// took part with the given sub.
func (ix *Index) LiveSessionsOf(clientID, sub string) []string {
	txn := ix.db.Txn(false)
	it, err := txn.Get(tableParticipations, indexClientSub, clientID, sub)
	if err != nil {
		return nil
	}
	var sids []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		p := raw.(*participation)
		if s, _ := getSession(txn, p.SID); s != nil && s.EndedAt.IsZero() {
			sids = append(sids, p.SID)
		}
	}
	return sids
}

// Target is a delivery the front waits for.
type Target struct {
	ClientID string
	Channel  string
}

// WaitSettled blocks until every target of logoutID has a settled delivery
// (delivered, failed, deferred or skipped) or ctx ends, whichever comes
// first. It watches the index (a go-memdb WatchSet): no polling. It returns
// the deliveries seen last and whether all targets settled.
func (ix *Index) WaitSettled(ctx context.Context, logoutID string, targets []Target) ([]Delivery, bool) {
	for {
		ws := memdb.NewWatchSet()
		ds := deliveries(ix.db.Txn(false), logoutID, ws)
		if allSettled(ds, targets) {
			return ds, true
		}
		if err := ws.WatchCtx(ctx); err != nil {
			return ds, false
		}
	}
}

func allSettled(ds []Delivery, targets []Target) bool {
	for _, t := range targets {
		i := slices.IndexFunc(ds, func(d Delivery) bool { return d.ClientID == t.ClientID && d.Channel == t.Channel })
		if i < 0 || !ds[i].Status.Settled() {
			return false
		}
	}
	return true
}

// Len returns the number of sessions in the index.
func (ix *Index) Len() int { return int(ix.count.Load()) }

// LiveSessionsBySub returns the live sessions whose sub (the first one
// reported) is sub.
func (ix *Index) LiveSessionsBySub(sub string) []*Session {
	txn := ix.db.Txn(false)
	it, err := txn.Get(tableSessions, indexSub, sub)
	if err != nil {
		return nil
	}
	var out []*Session
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if s := raw.(*session); s.EndedAt.IsZero() {
			out = append(out, view(txn, s))
		}
	}
	return out
}

// Stale returns the sessions whose last change is before cutoff, oldest
// first, at most limit of them.
func (ix *Index) Stale(cutoff time.Time, limit int) []*Session {
	txn := ix.db.Txn(false)
	it, err := txn.LowerBound(tableSessions, indexUpdated, time.Unix(0, 0))
	if err != nil {
		return nil
	}
	var out []*Session
	for raw := it.Next(); raw != nil && len(out) < limit; raw = it.Next() {
		s := raw.(*session)
		if !s.Updated.Before(cutoff) {
			break
		}
		out = append(out, view(txn, s))
	}
	return out
}

// StaleLedgers returns the logouts whose deliveries were last updated
// before cutoff, at most limit of them. A ledger leaves the index with its
// session (Remove), unless a record came after that (a late failure, a
// replay): this finds those. It reads every ledger: the janitor calls it
// once per sweep, not per logout.
func (ix *Index) StaleLedgers(cutoff time.Time, limit int) []string {
	txn := ix.db.Txn(false)
	it, err := txn.Get(tableLedgers, indexID)
	if err != nil {
		return nil
	}
	var out []string
	for raw := it.Next(); raw != nil && len(out) < limit; raw = it.Next() {
		if l := raw.(*ledger); l.Updated.Before(cutoff) {
			out = append(out, l.LogoutID)
		}
	}
	return out
}

// RemoveLedgers deletes the deliveries of the logouts ids.
func (ix *Index) RemoveLedgers(ids []string) error {
	txn := ix.db.Txn(true)
	defer txn.Abort()
	for _, id := range ids {
		if _, err := txn.DeleteAll(tableLedgers, indexID, id); err != nil {
			return fmt.Errorf("deleting deliveries: %w", err)
		}
	}
	txn.Commit()
	return nil
}

// Remove deletes session sid with its participations and the deliveries of
// its logout.
func (ix *Index) Remove(sid string) error {
	txn := ix.db.Txn(true)
	defer txn.Abort()
	s, err := getSession(txn, sid)
	if err != nil || s == nil {
		return err
	}
	if err := txn.Delete(tableSessions, s); err != nil {
		return fmt.Errorf("deleting session: %w", err)
	}
	if _, err := txn.DeleteAll(tableParticipations, indexID+"_prefix", sid, ""); err != nil {
		return fmt.Errorf("deleting participations: %w", err)
	}
	for _, id := range append([]string{s.LogoutID}, s.Later...) {
		if id == "" {
			continue
		}
		if _, err := txn.DeleteAll(tableLedgers, indexID, id); err != nil {
			return fmt.Errorf("deleting deliveries: %w", err)
		}
	}
	txn.Commit()
	ix.count.Add(-1)
	return nil
}
