package propagate

import (
	"time"

	"github.com/signoff/signoff/shared/event"
)

// Task is a delivery handed to the durable retry stage: the work stream
// holds it until it is delivered, fails for good, or exhausts its budget.
// Its JSON is part of the contract between signoff versions sharing a
// stream.
type Task struct {
	// Kind is the worker kind (the channel).
	Kind string `json:"kind"`
	// ClientID is the target.
	ClientID string `json:"client_id"`
	// Sub is the sub that client was given.
	Sub string `json:"sub"`
	// Event is the session-ended event being propagated.
	Event *event.SessionEnded `json:"event"`
	// Attempts made before the task was written.
	Attempts int `json:"attempts"`
	// NotBefore is when the next attempt may start.
	NotBefore time.Time `json:"not_before"`
	// LastError is the error of the last attempt.
	LastError string `json:"last_error,omitempty"`
	// Replay counts manual replays of a dead letter, to give each replay its
	// own message id.
	Replay int `json:"replay,omitempty"`
	// ReplayOf is, for a replay, the state stream sequence of the failed
	// record it starts over from (0 when the failure is an entry of a
	// progress batch): the retry stage attempts a replay whose own pending
	// record is not written (yet) over that record, and no other.
	ReplayOf uint64 `json:"replay_of,omitempty"`
}

// replays reports whether t is a replay that starts over from last, the
// delivery's failed record of sequence seq.
func (t *Task) replays(last *event.Delivery, seq uint64) bool {
	return t.Replay > 0 && last.Status == event.StatusFailed && seq == t.ReplayOf
}

// msgID is the JetStream message id of the task: a redelivered event hands
// off the same task once.
func (t *Task) msgID() string {
	id := "task." + t.Event.LogoutID + "." + t.Kind + "." + t.ClientID
	if t.Replay > 0 {
		id += ".replay" + itoa(t.Replay)
	}
	return id
}

// DeadLetter is what a worker publishes on
// signoff.v1.deadletter.<channel>.<client_id>.<logout_id> when a delivery
// fails for good. An API call replays it (see [Replay]).
type DeadLetter struct {
	Task
	FailedAt time.Time `json:"failed_at"`
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
