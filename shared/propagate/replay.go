package propagate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
)

// ErrNoDeadLetter reports a replay of a delivery that was not dead-lettered.
var ErrNoDeadLetter = errors.New("propagate: no such dead letter")

// ErrNotFailed reports a replay of a dead-lettered delivery that is not
// failed any more: it was replayed already (and may be delivered).
var ErrNotFailed = errors.New("propagate: the delivery is not failed")

// replayNote is the last_error of the pending record a replay writes.
const replayNote = "replayed from dead letter"

// Replay sends a dead-lettered delivery back to its worker with a fresh
// budget: the worker's retry stage attempts it again, and the delivery is
// marked pending meanwhile. It returns the task as replayed. Only a failed
// delivery is replayed, and the pending record is written only over the
// failed one, so a second replay (a double click, a retried API call)
// neither hides a delivered status behind pending nor resets the attempts
// of a retry under way.
func Replay(ctx context.Context, js jetstream.JetStream, kind, clientID, logoutID string) (*Task, error) {
	if !event.ValidToken(kind) || !event.ValidToken(clientID) || !event.ValidToken(logoutID) {
		return nil, ErrNoDeadLetter
	}
	st, err := js.Stream(ctx, natsconn.StreamEvents)
	if err != nil {
		return nil, fmt.Errorf("opening the events stream: %w", err)
	}
	msg, err := st.GetLastMsgForSubject(ctx, event.DeadLetterSubject(kind, clientID, logoutID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrNoDeadLetter
	}
	if err != nil {
		return nil, fmt.Errorf("reading dead letter: %w", err)
	}
	var dl DeadLetter
	if err := json.Unmarshal(msg.Data, &dl); err != nil || dl.Event == nil {
		return nil, fmt.Errorf("decoding dead letter: %w", errors.Join(err, ErrNoDeadLetter))
	}
	task := dl.Task
	task.Attempts, task.LastError, task.NotBefore = 0, "", time.Now()
	task.Replay = int(msg.Sequence) // unique per dead letter message
	state, err := js.Stream(ctx, natsconn.StreamState)
	if err != nil {
		return nil, fmt.Errorf("opening the state stream: %w", err)
	}
	l := &ledger{js: js, state: state, kind: kind}
	// The failed status is the delivery's own record or, for a first
	// attempt, an entry of a progress batch.
	last, after, err := l.lastRecord(ctx, logoutID, clientID, allBatches)
	if err != nil {
		return nil, err
	}
	if last != nil && last.Status != event.StatusFailed {
		return nil, fmt.Errorf("%w: it is %s", ErrNotFailed, last.Status)
	}
	// The task first, then the pending record: a task on its way is what
	// makes the replay happen, and the worker attempts it over the failed
	// record too. Had the record come first, a hand-off that failed after
	// it would leave the delivery pending with no task, and no way to
	// replay it again.
	task.ReplayOf = after
	if err := l.handOff(ctx, &task); err != nil {
		return nil, err
	}
	// The worker may have taken the task already and written over the
	// failed record: its record stands. If this one is refused, the
	// delivery shows failed until the worker's first record, and a replay
	// meanwhile hands off the same task again (JetStream drops the
	// duplicate within its window; after it, the second task finds no
	// failed record to start over from and goes on from the first one's
	// progress, or ends if that is final).
	_, _ = l.recordAfter(ctx, after, task.Event, clientID, event.StatusPending, 0, replayNote)
	return &task, nil
}
