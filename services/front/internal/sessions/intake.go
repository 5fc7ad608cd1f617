package sessions

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
)

// IntakeConsumer is the durable consumer that every front shares to take
// participation reports from signoff.v1.session.joined: each report is
// recorded once, by whichever front takes it.
const IntakeConsumer = "front-intake"

// Intake records the reports published on signoff.v1.session.joined.
type Intake struct {
	js     jetstream.JetStream
	svc    *Service
	ready  <-chan struct{}
	logger *slog.Logger

	quit chan struct{} // closed by Stop
	done chan struct{} // closed once consuming started, or will not

	mu      sync.Mutex
	cc      jetstream.ConsumeContext
	started bool // the goroutine that consumes runs, and closes done
	stopped bool
}

// NewIntake returns an Intake; Start runs it. It takes no report before
// ready is closed (Feed.Ready): until the index holds what the streams
// hold, a report for a session that ended would be recorded as a live
// participation, and its client never logged out.
func NewIntake(js jetstream.JetStream, svc *Service, ready <-chan struct{}, logger *slog.Logger) *Intake {
	return &Intake{js: js, svc: svc, ready: ready, logger: logger,
		quit: make(chan struct{}), done: make(chan struct{})}
}

// Start creates or binds the shared durable consumer, and consumes from it
// once ready is closed: a front that rebuilds its index takes no report
// (it would only hand it back, and hold a place of the consumer's
// MaxAckPending meanwhile, slowing the fronts that can record).
func (in *Intake) Start(ctx context.Context) error {
	cons, err := natsconn.RetryTransient(ctx, in.logger, "binding consumer "+IntakeConsumer, func() (jetstream.Consumer, error) {
		return in.js.CreateOrUpdateConsumer(ctx, natsconn.StreamIntake, jetstream.ConsumerConfig{
			Durable:       IntakeConsumer,
			Description:   "signoff fronts: record participation reports",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       30 * time.Second,
			MaxAckPending: 1000,
		})
	})
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		return nil
	}
	in.started = true
	// Reports are handled to the end even once ctx ends: Stop drains.
	handleCtx := context.WithoutCancel(ctx)
	go func() {
		defer close(in.done)
		select {
		case <-in.ready:
		case <-in.quit:
			return
		case <-ctx.Done():
			return
		}
		cc, err := cons.Consume(func(m jetstream.Msg) { in.handle(handleCtx, m) })
		if err != nil {
			in.logger.Error("consuming intake: this front takes no participation reports from NATS", "err", err)
			return
		}
		in.mu.Lock()
		defer in.mu.Unlock()
		if in.stopped {
			cc.Stop()
			return
		}
		in.cc = cc
	}()
	return nil
}

func (in *Intake) handle(ctx context.Context, m jetstream.Msg) {
	j, err := event.Decode[event.Joined](m.Data())
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = in.svc.Join(ctx, j)
		cancel()
	}
	switch {
	case err == nil:
		_ = m.Ack()
	case errors.Is(err, ErrSessionEnded):
		// A late participant got a logout of its own; nothing to record.
		_ = m.Ack()
	case errors.Is(err, ErrUnavailable):
		in.logger.Warn("participation report not recorded yet, will retry", "err", err)
		_ = m.NakWithDelay(time.Second)
	default:
		// A report that can never be recorded: say so once and drop it.
		in.logger.Error("rejecting participation report", "err", err, "data_len", len(m.Data()))
		_ = m.Term()
	}
}

// Stop drains the consumer: reports in flight finish, no new ones start.
// It waits until the drain completes or ctx ends.
func (in *Intake) Stop(ctx context.Context) {
	in.mu.Lock()
	if in.stopped {
		in.mu.Unlock()
		return
	}
	in.stopped = true
	started := in.started
	in.mu.Unlock()
	close(in.quit)
	if !started {
		return // Start never ran, failed, or will not start anything now
	}
	select {
	case <-in.done:
	case <-ctx.Done():
		return
	}
	in.mu.Lock()
	cc := in.cc
	in.mu.Unlock()
	if cc == nil {
		return
	}
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-ctx.Done():
		cc.Stop()
	}
}
