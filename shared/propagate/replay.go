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

// Replay sends a dead-lettered delivery back to its worker with a fresh
// budget: the delivery is marked pending and the worker's retry stage
// attempts it again. It returns the task as replayed.
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
	l := &ledger{js: js, kind: kind}
	// Progress first, then the task: the worker may finish it at once.
	if err := l.record(ctx, task.Event, clientID, event.StatusPending, 0, "replayed from dead letter"); err != nil {
		return nil, err
	}
	if err := l.handOff(ctx, &task); err != nil {
		return nil, err
	}
	return &task, nil
}
