package propagate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signoff/signoff/shared/event"
)

// batchLinger is how long the first outcome of a logout waits for the
// others before the batch is written anyway, so that a slow target never
// delays the progress of the fast ones by more than this.
const batchLinger = 25 * time.Millisecond

// batch collects the final outcomes (delivered, failed, skipped) of one
// logout's first attempts and writes them as one progress record: one
// JetStream message and one index update per logout, not per client. Each
// write holds every outcome so far, so the last one supersedes the others.
// Parked deliveries are not batched: their records precede their tasks.
type batch struct {
	ctx    context.Context
	ledger *ledger
	e      *event.SessionEnded
	n      int // the event's delivery count: each delivery has its own subject

	// First attempts handed to the retry stage, and (on a redelivered
	// event) targets settled by an earlier handling.
	parked, settledBefore atomic.Int32

	mu      sync.Mutex
	entries []event.BatchDelivery
	written int // entries already in the stream
	timer   *time.Timer
	err     error
}

func (l *ledger) newBatch(ctx context.Context, e *event.SessionEnded, n int) *batch {
	return &batch{ctx: ctx, ledger: l, e: e, n: max(n, 1)}
}

// add records an outcome; it is written within batchLinger.
func (b *batch) add(clientID string, st event.Status, attempts int, lastErr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.entries = append(b.entries, event.BatchDelivery{ClientID: clientID, Status: st, Attempts: attempts,
		LastError: truncate(lastErr, 512)})
	if b.timer == nil {
		b.timer = time.AfterFunc(batchLinger, func() { _ = b.flush() })
	}
}

// flush writes what is not written yet; it returns the first write error.
// The metrics count the outcomes it wrote: an outcome whose write failed
// is made again when the event comes back, and counted then.
func (b *batch) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if b.err != nil || len(b.entries) == b.written {
		return b.err
	}
	data, err := json.Marshal(event.DeliveryBatch{LogoutID: b.e.LogoutID, SID: b.e.SID, Channel: b.ledger.kind,
		Deliveries: b.entries, Time: time.Now().UTC()})
	if err == nil {
		_, err = b.ledger.js.Publish(b.ctx, event.BatchSubject(b.e.LogoutID, b.ledger.kind, b.n), data)
	}
	if err != nil {
		b.err = fmt.Errorf("recording delivery progress: %w", err)
		return b.err
	}
	for _, e := range b.entries[b.written:] {
		b.ledger.m.status(b.ledger.kind, e.ClientID, e.Status)
	}
	b.written = len(b.entries)
	return nil
}

// counts are the attributes of the line that sums up one handling of
// the logout's event: of its targets, how many were delivered, failed or
// skipped at the first attempt, parked (handed to the retry stage: to be
// retried, deferred behind an open breaker, or waiting for a free slot),
// or settled by an earlier handling (redelivered events only), and how
// long the fan-out took. When every outcome was stored, the five counts
// add up to targets. Each delivery also has lines of its own: at debug
// when delivered at the first attempt, at info or warn otherwise.
func (b *batch) counts(targets int, redelivered bool, took time.Duration) []any {
	b.mu.Lock()
	var delivered, failed, skipped int
	for _, e := range b.entries {
		switch e.Status {
		case event.StatusDelivered:
			delivered++
		case event.StatusFailed:
			failed++
		case event.StatusSkipped:
			skipped++
		}
	}
	b.mu.Unlock()
	return []any{"targets", targets, "delivered", delivered, "failed", failed, "skipped", skipped,
		"parked", int(b.parked.Load()), "settled_before", int(b.settledBefore.Load()),
		"redelivered", redelivered, slog.Duration("duration", took)}
}
