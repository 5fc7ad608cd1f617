// Package index is the front's in-memory session index: which clients took
// part in which session, with the sub each was given, whether and how the
// session ended, and how each delivery of its logout went. It is a
// projection of the NATS JetStream state and events streams, so every front
// replica builds the same index and a restarted front rebuilds it; every
// Apply method is idempotent and ordered by stream sequence.
package index

import (
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/signoff/signoff/shared/event"
)

// Table and index names of the go-memdb schema.
const (
	tableSessions       = "sessions"
	tableParticipations = "participations"
	tableLedgers        = "ledgers"

	indexID        = "id"
	indexClientSub = "client_sub"
	indexUpdated   = "updated"
	indexSub       = "sub"
)

// session is one row of the sessions table. Rows are immutable once
// inserted: writers insert a modified copy.
type session struct {
	SID      string
	Sub      string
	SubSeq   uint64 // state-stream sequence of the participation that gave Sub
	Created  time.Time
	Updated  time.Time
	EndedAt  time.Time
	LogoutID string
	Reason   event.Reason
	// Later are the logouts of this session after it ended: each of a
	// client that reported its participation late. GET shows their
	// deliveries with the session's own.
	Later []string
	// Covered are the participants that the session's logouts named, the
	// first one's and the later ones'. A participant of an ended session
	// that is not among them was reported as the logout was decided: it
	// is Uncovered.
	Covered []Client
}

// participation is one row of the participations table.
type participation struct {
	SID      string
	ClientID string
	Sub      string
	JoinedAt time.Time
	Seq      uint64
}

// ledger is one row of the ledgers table: how every delivery of one
// logout went, sorted by channel and client. One row per logout, not one
// per delivery: a progress batch of K deliveries is one insert into the
// radix tree, not K, and the front's wait watches one key.
type ledger struct {
	LogoutID string
	Entries  []ledgerEntry
	// Updated is the time of the latest record applied, for pruning the
	// ledgers that outlive their sessions (StaleLedgers).
	Updated time.Time
}

// ledgerEntry is one delivery of a ledger, with the state-stream sequence
// of the record that set it.
type ledgerEntry struct {
	Delivery
	Seq uint64
}

// updatedIndex indexes sessions by their last change, for pruning.
type updatedIndex struct{}

func (updatedIndex) FromObject(obj any) (bool, []byte, error) {
	s := obj.(*session)
	return true, timeKey(s.Updated), nil
}

func (updatedIndex) FromArgs(args ...any) ([]byte, error) {
	return timeKey(args[0].(time.Time)), nil
}

func timeKey(t time.Time) []byte {
	n := uint64(t.UnixNano())
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	return b
}

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableSessions: {
			Name: tableSessions,
			Indexes: map[string]*memdb.IndexSchema{
				indexID:      {Name: indexID, Unique: true, Indexer: &memdb.StringFieldIndex{Field: "SID"}},
				indexUpdated: {Name: indexUpdated, Indexer: updatedIndex{}},
				indexSub:     {Name: indexSub, AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Sub"}},
			},
		},
		tableParticipations: {
			Name: tableParticipations,
			Indexes: map[string]*memdb.IndexSchema{
				indexID: {Name: indexID, Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
					&memdb.StringFieldIndex{Field: "SID"},
					&memdb.StringFieldIndex{Field: "ClientID"},
				}}},
				indexClientSub: {Name: indexClientSub, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
					&memdb.StringFieldIndex{Field: "ClientID"},
					&memdb.StringFieldIndex{Field: "Sub"},
				}}},
			},
		},
		tableLedgers: {
			Name: tableLedgers,
			Indexes: map[string]*memdb.IndexSchema{
				indexID: {Name: indexID, Unique: true, Indexer: &memdb.StringFieldIndex{Field: "LogoutID"}},
			},
		},
	}}
}
