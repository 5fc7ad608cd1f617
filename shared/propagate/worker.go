package propagate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
)

// worker is one running worker kind.
type worker struct {
	o       Options
	m       *metrics
	ledger  *ledger
	targets map[string]*target // built once: read without a lock
	slots   chan struct{}      // Concurrency slots, shared by both stages
	busy    sync.WaitGroup     // handlers in flight
	fanOut  *runner            // goroutines of first attempts
	// stopping is closed when the worker stops: a handler that has not
	// made its call yet leaves the message to JetStream instead.
	stopping chan struct{}
}

// errStopping is the outcome of a first attempt not made because the
// worker stops: the event comes back, to this replica restarted or to
// another.
var errStopping = errors.New("propagate: the worker is stopping")

// takeSlot waits for one of the worker's slots. It takes none (false)
// when the worker stops first, or meanwhile.
func (w *worker) takeSlot() bool {
	select {
	case w.slots <- struct{}{}:
	case <-w.stopping:
		return false
	}
	select {
	case <-w.stopping:
		<-w.slots
		return false
	default:
		return true
	}
}

// Run runs a worker until ctx ends, then drains: deliveries in flight
// finish or are left to redelivery, nothing is lost. The durable consumers
// are shared by every replica that runs the same kind. It returns nil once
// ctx has ended, also when that stopped it while it started (a SIGTERM
// then is a stop, not a failure), and otherwise the error that stopped it
// from starting.
func Run(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	m, err := newMetrics(o.Metrics)
	if err != nil {
		return err
	}
	// notStarted is the error that stopped the start, nil when ctx did.
	notStarted := func(err error) error {
		if ctx.Err() != nil {
			o.Logger.Info("worker stopped while it started", "err", err)
			return nil
		}
		return err
	}
	l, err := newLedger(ctx, o.JS, o.Kind, m, o.Logger)
	if err != nil {
		return notStarted(err)
	}
	w := &worker{o: o, m: m, ledger: l, targets: map[string]*target{}, slots: make(chan struct{}, o.Concurrency),
		fanOut: newRunner(time.Minute), stopping: make(chan struct{})}
	defer w.fanOut.stop()
	if err := w.fitRetryAge(ctx); err != nil {
		return notStarted(err)
	}
	for _, c := range o.Clients.Clients() {
		if o.Wants(&c) {
			w.targets[c.ClientID] = newTarget(&c, &w.o, m)
		}
	}

	var ccs []jetstream.ConsumeContext
	// stopAll stops taking messages and waits for the handlers. A handler
	// whose call has not started gives its message back to JetStream (to
	// another replica, or this one restarted): no call starts once the
	// worker stops, and the ones in flight finish.
	stopAll := func() {
		close(w.stopping)
		for _, cc := range ccs {
			cc.Stop()
		}
		for _, cc := range ccs {
			<-cc.Closed()
		}
		w.busy.Wait()
	}
	for id := range w.targets {
		cc, err := w.consumeTasks(ctx, id)
		if err != nil {
			stopAll()
			return notStarted(err)
		}
		ccs = append(ccs, cc)
	}
	// A kind with no target in the configuration has nothing to deliver:
	// it does not take events at all (its durable consumer, if an earlier
	// configuration had targets, keeps its place for a later one).
	if len(w.targets) > 0 {
		cc, err := w.consumeEvents(ctx)
		if err != nil {
			stopAll()
			return notStarted(err)
		}
		ccs = append(ccs, cc)
	}
	o.Logger.Info("worker running", "targets", len(w.targets))
	o.Ready()
	<-ctx.Done()
	o.Logger.Info("worker stopping: finishing the calls in flight, leaving the rest to JetStream", "at_most", o.Timeout)
	stopAll()
	o.Logger.Info("worker stopped")
	return nil
}

// fitRetryAge shortens the age budget to what the streams keep. JetStream
// removes a task older than the work stream's MaxAge (nats.event_retention)
// and a progress record older than the state stream's (twice
// sessions.retention): the budget has to end first, with a turn to spare,
// so that a delivery that cannot be made fails and is dead-lettered
// instead of vanishing, and its attempts are never read from a record
// that is gone.
func (w *worker) fitRetryAge(ctx context.Context) error {
	work, err := natsconn.RetryTransient(ctx, w.o.Logger, "opening the work stream", func() (jetstream.Stream, error) {
		return w.o.JS.Stream(ctx, natsconn.StreamWork)
	})
	if err != nil {
		return err
	}
	var keep time.Duration
	for _, age := range []time.Duration{work.CachedInfo().Config.MaxAge, w.ledger.state.CachedInfo().Config.MaxAge} {
		if age > 0 && (keep == 0 || age < keep) {
			keep = age
		}
	}
	if keep == 0 {
		return nil
	}
	// The longest wait between two turns of a task.
	limit := keep - max(w.o.Retry.Max, w.o.Breaker.OpenFor) - w.o.AckWait
	if limit <= 0 {
		limit = keep / 2
	}
	if w.o.Retry.MaxAge > limit {
		w.o.Logger.Warn("retry age budget shortened to what the streams keep: raise nats.event_retention or sessions.retention to keep it",
			"max_age", w.o.Retry.MaxAge, "shortened_to", limit, "streams_keep", keep)
		w.o.Retry.MaxAge = limit
	}
	return nil
}

// EventsConsumer is the name of a worker kind's durable consumer of
// session-ended events.
func EventsConsumer(kind string) string { return "worker-" + kind }

// consumeEvents binds the kind's durable consumer of session-ended events
// and consumes them.
func (w *worker) consumeEvents(ctx context.Context) (jetstream.ConsumeContext, error) {
	name := EventsConsumer(w.o.Kind)
	cons, err := natsconn.RetryTransient(ctx, w.o.Logger, "binding consumer "+name, func() (jetstream.Consumer, error) {
		return w.bindEvents(ctx, name)
	})
	if err != nil {
		return nil, err
	}
	every := checkInEvery(w.o.AckWait, cons.CachedInfo())
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		w.busy.Go(func() { w.handleEvent(context.WithoutCancel(ctx), msg, every) })
	})
	if err != nil {
		return nil, fmt.Errorf("consuming %s: %w", name, err)
	}
	return cc, nil
}

// bindEvents returns the durable consumer name, creating it on first
// start from the oldest event still within the age budget, so a kind added
// later still delivers recent logouts. An existing one is bound as it is,
// with the AckWait it was made with (40 s before AckWait stopped following
// Timeout): replicas of several versions may share it, and each checks in
// often enough for the shorter of its own AckWait and the consumer's.
func (w *worker) bindEvents(ctx context.Context, name string) (jetstream.Consumer, error) {
	cons, err := w.o.JS.Consumer(ctx, natsconn.StreamEvents, name)
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return cons, err
	}
	start := time.Now().Add(-w.o.Retry.MaxAge)
	cons, err = w.o.JS.CreateConsumer(ctx, natsconn.StreamEvents, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "signoff " + w.o.Kind + " worker: session-ended events",
		FilterSubject: event.SubjectSessionEnded,
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  &start,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.o.AckWait,
		MaxAckPending: 256,
		MaxDeliver:    -1,
	})
	if errors.Is(err, jetstream.ErrConsumerExists) { // another replica was first
		return w.o.JS.Consumer(ctx, natsconn.StreamEvents, name)
	}
	return cons, err
}

// handleEvent is stage 1: a first attempt for every target, in parallel.
// The event is acknowledged once every target's outcome (delivered,
// failed, skipped, or handed to the retry stage) is stored.
func (w *worker) handleEvent(ctx context.Context, msg jetstream.Msg, every time.Duration) {
	// Until its outcomes are stored, however long the fan-out takes (slow
	// targets, busy slots, parking), the event stays this replica's.
	msg, release := w.hold(msg, every)
	defer release()
	e, err := event.Decode[event.SessionEnded](msg.Data())
	if err != nil {
		w.o.Logger.Error("dropping an invalid session-ended event", "err", err)
		_ = msg.Term()
		return
	}
	logger := w.o.Logger.With("logout_id", e.LogoutID, "sid", e.SID)
	if time.Since(e.Time) > w.o.Retry.MaxAge {
		logger.Warn("skipping a logout older than the retry age budget", "time", e.Time)
		_ = msg.Ack()
		return
	}
	n := 1
	if md, err := msg.Metadata(); err == nil {
		n = int(md.NumDelivered)
	}
	redelivered := n > 1

	start := time.Now()
	b := w.ledger.newBatch(ctx, e, n)
	var wg sync.WaitGroup
	errs := make([]error, len(e.Clients))
	targets := 0
	for i, p := range e.Clients {
		t, ok := w.targets[p.ClientID] // registered, and wanted by this kind
		if !ok {
			switch own, known := w.o.Clients.Channels(p.ClientID); {
			case !known:
				errs[i] = w.parkElsewhere(ctx, e, p, parkUnknownClient, logger)
			case w.wantedAtFront(p.ClientID, own, p.Channels):
				errs[i] = w.parkElsewhere(ctx, e, p, parkNotServed, logger)
			}
			continue
		}
		targets++
		wg.Add(1)
		w.fanOut.Go(func() {
			defer wg.Done()
			errs[i] = w.first(ctx, b, t, p.Sub, redelivered, logger)
		})
	}
	wg.Wait()
	errs = append(errs, b.flush())
	// One line per handling of the event, with its counts: at info when
	// every outcome is stored, at warn when the event comes back.
	counts := b.counts(targets, redelivered, time.Since(start))
	if err := errors.Join(errs...); err != nil {
		if errors.Is(err, errStopping) {
			logger.Info("logout handed back to JetStream: the worker stops", counts...)
			// Not at once: until its consumer is unsubscribed, this
			// replica could be given it again.
			_ = msg.NakWithDelay(time.Second)
			return
		}
		// What was delivered but not recorded is delivered again when the
		// event comes back: back off as for a retry, so that a state
		// stream that keeps refusing records does not have the clients
		// called every second; at most AckWait, since a logout waiting
		// here takes one of the consumer's pending places from the next
		// ones.
		delay := min(w.o.Retry.backoff(n, 0), w.o.AckWait)
		logger.Warn("logout not fully recorded, it will be redelivered", append(counts, "err", err, "retry_in", delay)...)
		_ = msg.NakWithDelay(delay)
		return
	}
	_ = msg.Ack()
	if targets > 0 {
		logger.Info("logout propagated", counts...)
	}
}

// wantedAtFront reports whether the client id, known here with channels
// own and not wanted by this kind, would be its target with the channels
// that the logout's front gives it: the fronts were given a new channel of
// the client before this replica was. A logout without channels (a client
// without any, or an older front) leaves the decision to this replica's
// configuration. Per participant of every logout, so the common case (the
// same channels) costs no more than the comparison.
func (w *worker) wantedAtFront(id string, own, channels []string) bool {
	if len(channels) == 0 || slices.Equal(own, channels) {
		return false // configured alike: not a target there either
	}
	c, _ := w.o.Clients.Client(id)
	probe := c.WithChannels(channels)
	return w.o.Wants(&probe)
}

// Why a delivery is parked for another replica: the reason label of
// signoff_unknown_clients_total.
const (
	// parkUnknownClient: the client is missing from this worker's
	// configuration.
	parkUnknownClient = "unknown_client"
	// parkNotServed: this worker knows the client but does not serve it,
	// and would with the channels that the logout's front gives it.
	parkNotServed = "not_served"
)

// parkElsewhere hands the delivery to a client this worker cannot serve
// (reason: parkUnknownClient, parkNotServed) to the retry stage, without
// a progress record: the fronts were given a newer configuration first. A
// replica that knows the client, and wants it, delivers it from there; for
// one this kind does not want, the task expires with the work stream. The
// event itself is acknowledged, so such logouts never hold up the others.
func (w *worker) parkElsewhere(ctx context.Context, e *event.SessionEnded, p event.Participant, reason string, logger *slog.Logger) error {
	if reason == parkNotServed {
		logger.Warn("logout's front gives a client channels that make it a target of this worker, whose configuration does not; parked for a worker that serves it: give every front and worker the same configuration",
			"client_id", p.ClientID, "channels", p.Channels)
	} else {
		logger.Warn("logout names a client missing from this worker's configuration; parked for a worker that knows it: restart this one with the fronts' configuration",
			"client_id", p.ClientID)
	}
	w.m.parked(w.o.Kind, p.ClientID, reason)
	return w.ledger.handOff(ctx, &Task{Kind: w.o.Kind, ClientID: p.ClientID, Sub: p.Sub, Event: e, NotBefore: time.Now()})
}

// first makes the first attempt of one delivery, or hands it off. logger
// is the logout's: the lines of the common outcomes add client_id as an
// argument, and the rarer paths, which share functions with the retry
// stage, get a logger with it. (Logger.With formats its attributes anew
// on every call: once per target of every logout it cost more than the
// line it was for.)
func (w *worker) first(ctx context.Context, b *batch, t *target, sub string, redelivered bool, logger *slog.Logger) error {
	e, c := b.e, t.client
	withClient := func() *slog.Logger { return logger.With("client_id", c.ClientID) }
	if redelivered {
		// The event came back. A delivery with a final status is done; one
		// that was parked is handed off again, in case the first hand-off
		// was lost (the task's message id makes it a no-op otherwise).
		last, err := w.ledger.last(ctx, e.LogoutID, c.ClientID, b.n-1)
		if err != nil {
			return err
		}
		if last != nil {
			if last.Status.Final() {
				b.settledBefore.Add(1)
				return nil
			}
			if err := w.ledger.handOff(ctx, &Task{Kind: w.o.Kind, ClientID: c.ClientID, Sub: sub, Event: e,
				Attempts: last.Attempts, LastError: last.LastError, NotBefore: time.Now()}); err != nil {
				return err
			}
			b.parked.Add(1)
			return nil
		}
	}
	if reason, skip := w.o.Skip(c, e); skip {
		logger.Info("delivery skipped", "client_id", c.ClientID, "reason", reason)
		b.add(c.ClientID, event.StatusSkipped, 0, reason)
		return nil
	}
	// Only a delivery that goes to the retry stage needs a task.
	task := func() *Task {
		return &Task{Kind: w.o.Kind, ClientID: c.ClientID, Sub: sub, Event: e, NotBefore: time.Now()}
	}
	if t.open() {
		tk := task()
		tk.LastError = errBreakerOpen.Error()
		return w.parkFirst(ctx, b, tk, event.StatusDeferred, withClient())
	}
	if !t.tryAcquire() {
		return w.parkFirst(ctx, b, task(), event.StatusPending, withClient())
	}
	defer t.release()
	if !w.takeSlot() {
		return errStopping
	}
	defer func() { <-w.slots }()

	d := &Delivery{Event: e, Client: c, Sub: sub, Kind: w.o.Kind, Attempt: 1}
	err := t.call(ctx, w.o.Propagator, d, w.o.Timeout, w.m)
	if err == nil {
		// At debug: the logout's own line counts them (K lines per
		// logout at info would bury the ones that need attention).
		logger.Debug("delivered", "client_id", c.ClientID, "attempts", 1)
		b.add(c.ClientID, event.StatusDelivered, 1, "")
		return nil
	}
	return w.settleFirst(ctx, b, task(), err, withClient())
}

// park hands a delivery to the retry stage. Its progress is recorded
// first: once the task exists, the retry stage may record a later status
// at any moment, and an earlier one must not overwrite it.
func (w *worker) park(ctx context.Context, task *Task, st event.Status, logger *slog.Logger) error {
	if _, err := w.ledger.record(ctx, task.Event, task.ClientID, st, task.Attempts, task.LastError); err != nil {
		return err
	}
	logger.Info("delivery parked", "status", st, "attempts", task.Attempts)
	return w.ledger.handOff(ctx, task)
}

// parkFirst parks a first attempt and counts it in the logout's batch.
func (w *worker) parkFirst(ctx context.Context, b *batch, task *Task, st event.Status, logger *slog.Logger) error {
	if err := w.park(ctx, task, st, logger); err != nil {
		return err
	}
	b.parked.Add(1)
	return nil
}

// settleFirst records the outcome of a failed first attempt. A transient failure
// goes to the retry stage, to be tried again after a backoff.
func (w *worker) settleFirst(ctx context.Context, b *batch, task *Task, err error, logger *slog.Logger) error {
	switch {
	case errors.Is(err, errBreakerOpen):
		task.LastError = err.Error()
		return w.parkFirst(ctx, b, task, event.StatusDeferred, logger)
	case IsPermanent(err) || w.exhausted(task, 1):
		task.Attempts, task.LastError = 1, err.Error()
		logger.Warn("delivery failed, dead-lettered", "attempts", 1, "err", err, "permanent", IsPermanent(err))
		if err := w.ledger.deadLetter(ctx, task); err != nil {
			return err
		}
		b.add(task.ClientID, event.StatusFailed, 1, err.Error())
		return nil
	}
	task.Attempts, task.LastError = 1, err.Error()
	task.NotBefore = time.Now().Add(w.o.Retry.backoff(1, retryAfterOf(err)))
	logger.Info("delivery failed, will retry", "attempts", 1, "err", err, "retry_in", time.Until(task.NotBefore).Round(time.Millisecond))
	return w.parkFirst(ctx, b, task, event.StatusRetrying, logger)
}

// exhausted reports whether the task has used its budget after n attempts.
func (w *worker) exhausted(task *Task, n int) bool {
	return n >= w.o.Retry.MaxAttempts || time.Since(task.Event.Time) >= w.o.Retry.MaxAge
}

// fail marks a delivery failed for good, over its record of sequence
// after, and dead-letters it.
func (w *worker) fail(ctx context.Context, after uint64, task *Task, n int, err error, logger *slog.Logger) error {
	task.Attempts, task.LastError = n, err.Error()
	// Another task of the delivery may have ended it since this one read
	// its record: then there is nothing to dead-letter.
	last, seq, rerr := w.ledger.lastRecord(ctx, task.Event.LogoutID, task.ClientID, 0)
	if rerr == nil && seq != after && last != nil && last.Status.Final() {
		logger.Info("delivery ended by another task meanwhile", "status", last.Status)
		return nil
	}
	logger.Warn("delivery failed, dead-lettered", "attempts", n, "err", err, "permanent", IsPermanent(err))
	if err := w.ledger.deadLetter(ctx, task); err != nil {
		return err
	}
	return w.recordFinal(ctx, after, task, event.StatusFailed, n, err.Error())
}

// checkInEvery is how often a replica tells JetStream that it still works
// on a message of a consumer: a third of the shorter of its own AckWait
// and the one the consumer has (which another version of the worker may
// have set).
func checkInEvery(own time.Duration, info *jetstream.ConsumerInfo) time.Duration {
	d := own
	if info != nil && info.Config.AckWait > 0 {
		d = min(d, info.Config.AckWait)
	}
	return max(d/3, 10*time.Millisecond)
}

// hold tells JetStream every `every` that msg is still being worked on,
// until the message is acknowledged (or nak'ed, or terminated) through the
// returned Msg, or release is called: a live replica keeps an event or task
// however long its deliveries take, and one that died (or lost NATS for an
// AckWait) has it redelivered to another. A check-in that fails is logged
// once per hold: the message may then be handed out again.
//
// The returned Msg stops the check-ins, and waits for one in flight, before
// it answers JetStream: a check-in sent after a NakWithDelay would reset
// the message's timer and turn the delay into an AckWait.
func (w *worker) hold(msg jetstream.Msg, every time.Duration) (held jetstream.Msg, release func()) {
	// A timer that re-arms itself: no goroutine per message while it waits.
	var (
		mu       sync.Mutex
		t        *time.Timer
		released bool
		warned   bool
	)
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if released {
			return
		}
		if err := msg.InProgress(); err != nil && !warned && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			w.o.Logger.Warn("telling JetStream a message is in progress", "subject", msg.Subject(), "err", err)
			warned = true
		}
		t.Reset(every)
	})
	release = func() {
		mu.Lock()
		defer mu.Unlock()
		released = true
		t.Stop()
	}
	return heldMsg{Msg: msg, release: release}, release
}

// heldMsg is a message under hold: its answers to JetStream release it
// first.
type heldMsg struct {
	jetstream.Msg
	release func()
}

func (m heldMsg) Ack() error { m.release(); return m.Msg.Ack() }

func (m heldMsg) DoubleAck(ctx context.Context) error { m.release(); return m.Msg.DoubleAck(ctx) }

func (m heldMsg) Nak() error { m.release(); return m.Msg.Nak() }

func (m heldMsg) NakWithDelay(d time.Duration) error { m.release(); return m.Msg.NakWithDelay(d) }

func (m heldMsg) Term() error { m.release(); return m.Msg.Term() }

func (m heldMsg) TermWithReason(reason string) error {
	m.release()
	return m.Msg.TermWithReason(reason)
}
