package propagate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
)

// TasksConsumer is the name of the durable consumer of one kind's retry
// tasks for one client: retry-<kind>-<client_id> when that names only this
// pair and JetStream takes it, which it does when kind has no '-' and the
// client id no '/' or '\', and the name fits in 255 characters. Otherwise
// retry-<32 hex digits of a SHA-256 of kind and client id>, a name with one
// '-' where the first form has two or more. (Kind "notify" with client
// "team-a" and kind "notify-team" with client "a" would both have
// retry-notify-team-a, and the second to bind it would take the first's
// tasks away.) The consumer's description names the kind and the client.
func TasksConsumer(kind, clientID string) string {
	if name := plainTasksConsumer(kind, clientID); !strings.Contains(kind, "-") && natsconn.ValidConsumerName(name) {
		return name
	}
	sum := sha256.Sum256([]byte(kind + "." + clientID)) // '.' is in neither
	return "retry-" + hex.EncodeToString(sum[:16])
}

func plainTasksConsumer(kind, clientID string) string { return "retry-" + kind + "-" + clientID }

// tasksConsumer is the name this worker binds for clientID's tasks:
// TasksConsumer, or the plain name that a worker of a kind with a '-' had
// before signoff named them apart, when such a consumer of this pair's
// tasks exists. (Its tasks are on a work queue stream, where JetStream
// refuses a second consumer of the same subject.)
func (w *worker) tasksConsumer(ctx context.Context, clientID string) (string, error) {
	name, plain := TasksConsumer(w.o.Kind, clientID), plainTasksConsumer(w.o.Kind, clientID)
	if name == plain || !natsconn.ValidConsumerName(plain) {
		return name, nil
	}
	c, err := natsconn.RetryTransient(ctx, w.o.Logger, "looking up consumer "+plain, func() (jetstream.Consumer, error) {
		c, err := w.o.JS.Consumer(ctx, natsconn.StreamWork, plain)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, nil
		}
		return c, err
	})
	if err != nil {
		return "", err
	}
	if c != nil && c.CachedInfo().Config.FilterSubject == event.WorkSubject(w.o.Kind, clientID) {
		return plain, nil
	}
	return name, nil
}

// consumeTasks binds the retry stage of one target: a durable consumer of
// its tasks with at most PerTarget in flight, so that one slow client
// cannot take every slot of the worker.
func (w *worker) consumeTasks(ctx context.Context, clientID string) (jetstream.ConsumeContext, error) {
	name, err := w.tasksConsumer(ctx, clientID)
	if err != nil {
		return nil, err
	}
	cons, err := natsconn.RetryTransient(ctx, w.o.Logger, "binding consumer "+name, func() (jetstream.Consumer, error) {
		return w.o.JS.CreateOrUpdateConsumer(ctx, natsconn.StreamWork, jetstream.ConsumerConfig{
			Durable:       name,
			Description:   "signoff " + w.o.Kind + " worker: retries for " + clientID,
			FilterSubject: event.WorkSubject(w.o.Kind, clientID),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       w.o.AckWait,
			MaxAckPending: w.o.PerTarget,
			MaxDeliver:    -1,
		})
	})
	if err != nil {
		return nil, err
	}
	t := w.targets[clientID]
	every := checkInEvery(w.o.AckWait, cons.CachedInfo())
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		w.busy.Go(func() { w.handleTask(context.WithoutCancel(ctx), msg, t, every) })
	})
	if err != nil {
		return nil, fmt.Errorf("consuming %s: %w", name, err)
	}
	return cc, nil
}

// handleTask is stage 2: one more attempt of a delivery that is waiting
// for a retry, a free slot or a closed breaker.
func (w *worker) handleTask(ctx context.Context, msg jetstream.Msg, t *target, every time.Duration) {
	// Until its outcome is stored, however long the call takes, the task
	// stays this replica's.
	msg, release := w.hold(msg, every)
	defer release()
	var task Task
	if err := decodeTask(msg.Data(), &task); err != nil {
		w.o.Logger.Error("dropping an invalid task", "err", err)
		_ = msg.Term()
		return
	}
	e := task.Event
	logger := w.o.Logger.With("logout_id", e.LogoutID, "sid", e.SID, "client_id", task.ClientID)
	// A task's delivery has a record of its own, which this turn's record
	// follows (seq); a task parked for a client its replica did not know
	// has none, and a later handling of the event may have delivered it
	// in a batch.
	last, seq, err := w.ledger.lastRecord(ctx, e.LogoutID, task.ClientID, allBatches)
	if err != nil {
		logger.Warn("reading delivery progress", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	attempts := task.Attempts
	if last != nil && task.replays(last, seq) {
		// A replay that got here before its pending record (or whose
		// pending record was refused): a fresh budget from the failure.
		last = nil
	}
	if last != nil {
		if last.Status.Final() {
			_ = msg.Ack() // handled already: never a second delivery
			return
		}
		attempts = max(attempts, last.Attempts)
	}
	// Skip decides here too: the task may come from a replica that did not
	// know the client, or from before its configuration changed.
	if reason, skip := w.o.Skip(t.client, e); skip {
		logger.Info("delivery skipped", "reason", reason)
		w.finish(msg, w.recordFinal(ctx, seq, &task, event.StatusSkipped, attempts, reason), logger)
		return
	}
	if wait := time.Until(task.NotBefore); wait > 0 && attempts <= task.Attempts {
		_ = msg.NakWithDelay(wait)
		return
	}
	// A retry whose turn recorded it but did not get to answer JetStream
	// (its replica died) comes back after AckWait: its backoff is known
	// from its record only, whose time is another replica's clock, so the
	// wait is bounded by the backoff itself.
	if last != nil && last.Status == event.StatusRetrying && attempts > task.Attempts {
		backoff := w.o.Retry.minBackoff(attempts)
		if wait := min(time.Until(last.Time.Add(backoff)), backoff); wait > 0 {
			_ = msg.NakWithDelay(wait)
			return
		}
	}
	// A replay of an old logout, never attempted since, gets one attempt,
	// unless its breaker is open: then it would wait behind it past the
	// budget. Any other task past the budget fails unattempted, such as a
	// delivery parked for a replica that serves its client when none did
	// for longer than the budget: a logout that old may end sessions the
	// person started since (a sub-only token ends every one).
	if w.exhausted(&task, attempts) && !lastChance(&task, attempts, t) {
		w.finish(msg, w.fail(ctx, seq, &task, attempts, errors.New(lastError(last, &task)), logger), logger)
		return
	}
	if t.open() {
		w.deferTask(ctx, msg, &task, last, seq, attempts, logger)
		return
	}
	// The target's slots are shared with first attempts: at most PerTarget
	// calls to one client, whichever stage makes them.
	if !w.acquire(t) {
		_ = msg.NakWithDelay(time.Second)
		return
	}
	n := attempts + 1
	d := &Delivery{Event: e, Client: t.client, Sub: task.Sub, Kind: w.o.Kind, Attempt: n}
	err = t.call(ctx, w.o.Propagator, d, w.o.Timeout, w.m)
	<-w.slots
	t.release()

	switch {
	case err == nil:
		logger.Info("delivered", "attempts", n)
		w.finish(msg, w.recordFinal(ctx, seq, &task, event.StatusDelivered, n, ""), logger)
	case errors.Is(err, errBreakerOpen):
		w.deferTask(ctx, msg, &task, last, seq, attempts, logger)
	case IsPermanent(err) || w.exhausted(&task, n):
		w.finish(msg, w.fail(ctx, seq, &task, n, err, logger), logger)
	default:
		delay := w.o.Retry.backoff(n, retryAfterOf(err))
		if _, rerr := w.ledger.recordAfter(ctx, seq, e, task.ClientID, event.StatusRetrying, n, err.Error()); rerr != nil {
			// This attempt is not in the ledger, so the next turn makes
			// attempt n again: wait at least as long as since the last
			// progress stored (or the task's due time), which doubles
			// the pace at each refused record, so that a state stream
			// that refuses records does not have the client called at
			// the pace of a first retry.
			logger.Warn("recording retry", "err", rerr)
			since := task.NotBefore
			if last != nil {
				since = last.Time
			}
			delay = min(max(delay, time.Since(since)), w.o.Retry.Max)
		}
		logger.Info("delivery failed, will retry", "attempts", n, "err", err, "retry_in", delay.Round(time.Millisecond))
		_ = msg.NakWithDelay(delay)
	}
}

// acquire waits for a slot of the target, then of the worker (the task is
// held in progress meanwhile). It gives up (false) after three AckWaits,
// so that a task does not wait on one replica for slots that another has,
// and when the worker stops.
func (w *worker) acquire(t *target) bool {
	giveUp := time.NewTimer(3 * w.o.AckWait)
	defer giveUp.Stop()
	select {
	case t.slots <- struct{}{}:
	case <-giveUp.C:
		return false
	case <-w.stopping:
		return false
	}
	if !w.takeSlot() {
		t.release()
		return false
	}
	return true
}

// deferTask parks a task behind an open breaker: it is marked deferred
// once and looked at again when the breaker may let a probe through.
func (w *worker) deferTask(ctx context.Context, msg jetstream.Msg, task *Task, last *event.Delivery, seq uint64, attempts int, logger *slog.Logger) {
	if last == nil || last.Status != event.StatusDeferred {
		logger.Info("delivery deferred: circuit breaker open")
		if _, err := w.ledger.recordAfter(ctx, seq, task.Event, task.ClientID, event.StatusDeferred, attempts, errBreakerOpen.Error()); err != nil {
			logger.Warn("recording deferral", "err", err)
		}
	}
	_ = msg.NakWithDelay(w.o.deferDelay())
}

// recordFinal records a final status (delivered, failed, skipped) over the
// delivery's record of sequence after. When another task of the same
// delivery wrote meanwhile, it looks again: a final status there stands
// (this task's outcome adds nothing, and the task is done); a passing one
// (pending, retrying, deferred) gives way to this one.
func (w *worker) recordFinal(ctx context.Context, after uint64, task *Task, st event.Status, attempts int, lastErr string) error {
	for range 3 {
		_, err := w.ledger.recordAfter(ctx, after, task.Event, task.ClientID, st, attempts, lastErr)
		if !errors.Is(err, errChanged) {
			return err
		}
		last, seq, err := w.ledger.lastRecord(ctx, task.Event.LogoutID, task.ClientID, 0)
		if err != nil {
			return err
		}
		if last != nil && last.Status.Final() {
			return nil
		}
		after = seq
		if last != nil {
			attempts = max(attempts, last.Attempts)
		}
	}
	return fmt.Errorf("recording delivery %s: %w", st, errChanged)
}

// finish acknowledges a task whose outcome is stored, or lets it come back
// when storing failed. logger is the delivery's.
func (w *worker) finish(msg jetstream.Msg, err error, logger *slog.Logger) {
	if err != nil {
		logger.Warn("delivery outcome not stored, the task will come back", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	_ = msg.Ack()
}

// lastChance reports whether a task past its budget still gets one
// attempt: a replay never attempted since, whose breaker is closed.
func lastChance(task *Task, attempts int, t *target) bool {
	return task.Replay > 0 && attempts == 0 && !t.open()
}

func lastError(last *event.Delivery, task *Task) string {
	if last != nil && last.LastError != "" {
		return last.LastError
	}
	if task.LastError != "" {
		return task.LastError
	}
	return "retry budget exhausted"
}

func decodeTask(data []byte, t *Task) error {
	if err := json.Unmarshal(data, t); err != nil {
		return fmt.Errorf("decoding task: %w", err)
	}
	if t.Event == nil {
		return errors.New("decoding task: no event")
	}
	if err := t.Event.Validate(); err != nil {
		return fmt.Errorf("decoding task: %w", err)
	}
	return nil
}
