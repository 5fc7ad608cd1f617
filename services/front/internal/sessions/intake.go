package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	cc     jetstream.ConsumeContext
}

// NewIntake returns an Intake; Start runs it. It records nothing before
// ready is closed (Feed.Ready): until the index holds what the streams
// hold, a report for a session that ended would be recorded as a live
// participation, and its client never logged out.
func NewIntake(js jetstream.JetStream, svc *Service, ready <-chan struct{}, logger *slog.Logger) *Intake {
	return &Intake{js: js, svc: svc, ready: ready, logger: logger}
}

// Start creates or binds the shared durable consumer and consumes.
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
	cc, err := cons.Consume(func(m jetstream.Msg) { in.handle(ctx, m) })
	if err != nil {
		return fmt.Errorf("consuming intake: %w", err)
	}
	in.cc = cc
	return nil
}

func (in *Intake) handle(ctx context.Context, m jetstream.Msg) {
	select {
	case <-in.ready:
	default:
		_ = m.NakWithDelay(time.Second) // for this front once its index is built, or another
		return
	}
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
	if in.cc == nil {
		return
	}
	in.cc.Drain()
	select {
	case <-in.cc.Closed():
	case <-ctx.Done():
		in.cc.Stop()
	}
}
