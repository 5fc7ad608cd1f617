package propagate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
)

// ledger reads and writes delivery progress in the state stream and hands
// tasks and dead letters to their streams. Every write waits for
// JetStream's acknowledgement: a worker acknowledges its input only after
// its output is stored.
type ledger struct {
	js    jetstream.JetStream
	state jetstream.Stream
	kind  string
	m     *metrics
}

func newLedger(ctx context.Context, js jetstream.JetStream, kind string, m *metrics, logger *slog.Logger) (*ledger, error) {
	st, err := natsconn.RetryTransient(ctx, logger, "opening the state stream", func() (jetstream.Stream, error) {
		return js.Stream(ctx, natsconn.StreamState)
	})
	if err != nil {
		return nil, err
	}
	return &ledger{js: js, state: st, kind: kind, m: m}, nil
}

// last returns the latest progress of one delivery, nil when there is none:
// its own record, or else its entry in the batch of one of the event's
// first `deliveries` deliveries to the worker.
func (l *ledger) last(ctx context.Context, logoutID, clientID string, deliveries int) (*event.Delivery, error) {
	d, _, err := l.lastRecord(ctx, logoutID, clientID, deliveries)
	return d, err
}

// allBatches, as lastRecord's deliveries, looks in every progress batch of
// the logout: for a task whose delivery has no record of its own (parked
// by a replica that did not know the client), which a later handling of
// the event may have delivered meanwhile.
const allBatches = -1

// lastRecord is last, with the stream sequence of the delivery's own
// record (0 when it has none): the sequence that a write of its next
// status expects (recordAfter).
func (l *ledger) lastRecord(ctx context.Context, logoutID, clientID string, deliveries int) (*event.Delivery, uint64, error) {
	msg, err := l.state.GetLastMsgForSubject(ctx, event.DeliverySubject(logoutID, l.kind, clientID))
	if err == nil {
		d, err := event.Decode[event.Delivery](msg.Data)
		if err != nil {
			return nil, 0, fmt.Errorf("reading delivery progress: %w", err)
		}
		return d, msg.Sequence, nil
	}
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, fmt.Errorf("reading delivery progress: %w", err)
	}
	if deliveries == allBatches {
		if deliveries, err = l.batches(ctx, logoutID); err != nil {
			return nil, 0, err
		}
	}
	d, err := l.lastInBatches(ctx, logoutID, clientID, deliveries)
	return d, 0, err
}

// batches is the highest delivery count of the logout's event that wrote
// a progress batch of this kind, 0 when none did.
func (l *ledger) batches(ctx context.Context, logoutID string) (int, error) {
	msg, err := l.state.GetLastMsgForSubject(ctx, event.BatchSubjects(logoutID, l.kind))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading delivery progress: %w", err)
	}
	n, ok := event.BatchNumber(msg.Subject)
	if !ok {
		return 0, fmt.Errorf("reading delivery progress: %q is not a batch subject", msg.Subject)
	}
	return n, nil
}

func (l *ledger) lastInBatches(ctx context.Context, logoutID, clientID string, deliveries int) (*event.Delivery, error) {
	for n := deliveries; n >= 1; n-- {
		msg, err := l.state.GetLastMsgForSubject(ctx, event.BatchSubject(logoutID, l.kind, n))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading delivery progress: %w", err)
		}
		b, err := event.Decode[event.DeliveryBatch](msg.Data)
		if err != nil {
			return nil, fmt.Errorf("reading delivery progress: %w", err)
		}
		for i, e := range b.Deliveries {
			if e.ClientID == clientID {
				d := b.Delivery(i)
				return &d, nil
			}
		}
	}
	return nil, nil
}

// record stores one delivery's progress and returns the record's stream
// sequence.
func (l *ledger) record(ctx context.Context, e *event.SessionEnded, clientID string, st event.Status, attempts int, lastErr string,
	opts ...jetstream.PublishOpt) (uint64, error) {
	d := event.Delivery{
		LogoutID: e.LogoutID, SID: e.SID, ClientID: clientID, Channel: l.kind,
		Status: st, Attempts: attempts, LastError: truncate(lastErr, 512), Time: time.Now().UTC(),
	}
	data, err := json.Marshal(d)
	if err != nil {
		return 0, fmt.Errorf("encoding delivery progress: %w", err)
	}
	ack, err := l.js.Publish(ctx, event.DeliverySubject(e.LogoutID, l.kind, clientID), data, opts...)
	if err != nil {
		return 0, fmt.Errorf("recording delivery %s: %w", st, err)
	}
	l.m.status(l.kind, clientID, st)
	return ack.Sequence, nil
}

// errChanged reports a record not written because another one of the same
// delivery was written after the one its writer had read.
var errChanged = errors.New("propagate: the delivery's progress changed meanwhile")

// recordAfter stores one delivery's progress if the delivery's own record
// is still the one of sequence after (0: none). Two tasks of one delivery
// can be alive at once (a redelivered event hands its task off again, and
// JetStream's duplicate window has passed): neither then writes over a
// status it has not seen, such as retrying over delivered.
func (l *ledger) recordAfter(ctx context.Context, after uint64, e *event.SessionEnded, clientID string, st event.Status, attempts int, lastErr string) (uint64, error) {
	seq, err := l.record(ctx, e, clientID, st, attempts, lastErr, jetstream.WithExpectLastSequencePerSubject(after))
	if wrongLastSequence(err) {
		return 0, fmt.Errorf("recording delivery %s: %w", st, errChanged)
	}
	return seq, err
}

func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// handOff stores a task for the retry stage.
func (l *ledger) handOff(ctx context.Context, t *Task) error {
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encoding task: %w", err)
	}
	if _, err := l.js.Publish(ctx, event.WorkSubject(t.Kind, t.ClientID), data, jetstream.WithMsgID(t.msgID())); err != nil {
		return fmt.Errorf("handing off delivery: %w", err)
	}
	return nil
}

// deadLetter publishes a failed delivery. One that JetStream has already
// (the same failure, published again after its record was refused) is not
// counted twice.
func (l *ledger) deadLetter(ctx context.Context, t *Task) error {
	data, err := json.Marshal(DeadLetter{Task: *t, FailedAt: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("encoding dead letter: %w", err)
	}
	subj := event.DeadLetterSubject(t.Kind, t.ClientID, t.Event.LogoutID)
	ack, err := l.js.Publish(ctx, subj, data, jetstream.WithMsgID("dl."+t.msgID()))
	if err != nil {
		return fmt.Errorf("publishing dead letter: %w", err)
	}
	if !ack.Duplicate {
		l.m.deadLetter(t.Kind, t.ClientID)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
