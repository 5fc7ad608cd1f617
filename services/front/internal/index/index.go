package index

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/signoff/signoff/shared/event"
)

// Index is the session index. It is safe for concurrent use: readers see
// consistent snapshots and never block writers.
type Index struct {
	db          *memdb.MemDB
	count       atomic.Int64 // sessions in the index
	onUncovered func([]Uncovered)
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

// Covered reports whether session sid has ended and one of its logouts
// named clientID with sub; false when it is live or unknown.
func (ix *Index) Covered(sid, clientID, sub string) bool {
	s, err := getSession(ix.db.Txn(false), sid)
	return err == nil && s != nil && !s.EndedAt.IsZero() && slices.Contains(s.Covered, Client{ClientID: clientID, Sub: sub})
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

// LiveSessionsBySub returns the live sessions of sub: those whose sub (the
// first one reported) is sub, and those in which one of clientIDs took
// part as sub. An IdP that gives each client its own (pairwise) sub may
// name the person by any of them. They are sorted by sid.
func (ix *Index) LiveSessionsBySub(sub string, clientIDs ...string) []*Session {
	txn := ix.db.Txn(false)
	found := map[string]*session{}
	if it, err := txn.Get(tableSessions, indexSub, sub); err == nil {
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if s := raw.(*session); s.EndedAt.IsZero() {
				found[s.SID] = s
			}
		}
	}
	for _, id := range clientIDs {
		it, err := txn.Get(tableParticipations, indexClientSub, id, sub)
		if err != nil {
			continue
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			p := raw.(*participation)
			if _, ok := found[p.SID]; ok {
				continue
			}
			if s, _ := getSession(txn, p.SID); s != nil && s.EndedAt.IsZero() {
				found[p.SID] = s
			}
		}
	}
	out := make([]*Session, 0, len(found))
	for _, sid := range slices.Sorted(maps.Keys(found)) {
		out = append(out, view(txn, found[sid]))
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
