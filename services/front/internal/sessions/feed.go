package sessions

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
)

// Feed projects the state and events streams into the index. The state
// stream is read last-message-per-subject, and session-ended events from
// the start of the retention window, so a rebuild costs what is live, not
// the whole history.
type Feed struct {
	js        jetstream.JetStream
	ix        *index.Index
	retention time.Duration
	logger    *slog.Logger

	mu      sync.Mutex
	ccs     []jetstream.ConsumeContext
	pending atomic.Int32 // consumers not yet caught up
	ready   chan struct{}
	once    sync.Once
	joins   []index.Joined // participations buffered while catching up
	own     *ownEnds       // logouts a Service applied itself; nil: none
}

// NewFeed returns a Feed; Start runs it.
func NewFeed(js jetstream.JetStream, ix *index.Index, retention time.Duration, logger *slog.Logger) *Feed {
	return &Feed{js: js, ix: ix, retention: retention, logger: logger, ready: make(chan struct{})}
}

// Start begins the projection. It returns once the consumers exist; Ready
// is closed when both have caught up with what the streams held at start.
func (f *Feed) Start(ctx context.Context) error {
	// Ended events are replayed over the window the state stream keeps
	// participations (twice the retention): a session never comes back to
	// life after a restart.
	start := time.Now().Add(-2 * f.retention)
	specs := []struct {
		stream string
		cfg    jetstream.OrderedConsumerConfig
		handle func(jetstream.Msg, bool) error
	}{
		{natsconn.StreamState, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{event.StatePrefix + ">"},
			DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		}, f.applyState},
		{natsconn.StreamEvents, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{event.SubjectSessionEnded},
			DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
			OptStartTime:   &start,
		}, f.applyEnded},
	}
	f.pending.Store(int32(len(specs)))
	for _, sp := range specs {
		if err := f.consume(ctx, sp.stream, sp.cfg, sp.handle); err != nil {
			f.Stop()
			return err
		}
	}
	return nil
}

func (f *Feed) consume(ctx context.Context, stream string, cfg jetstream.OrderedConsumerConfig, handle func(jetstream.Msg, bool) error) error {
	cons, err := f.js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("creating %s projection consumer: %w", stream, err)
	}
	var caughtUp sync.Once
	done := func() { caughtUp.Do(f.caughtUp) }
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		// While catching up, participations are applied in batches; a
		// message with nothing behind it flushes the batch.
		last := err != nil || md.NumPending == 0
		if err := handle(m, last); err != nil {
			f.logger.Warn("skipping message the index cannot apply", "subject", m.Subject(), "err", err)
		}
		if last {
			done()
		}
	})
	if err != nil {
		return fmt.Errorf("consuming %s: %w", stream, err)
	}
	f.mu.Lock()
	f.ccs = append(f.ccs, cc)
	f.mu.Unlock()
	info, err := natsconn.RetryTransient(ctx, f.logger, "reading the "+stream+" projection consumer", func() (*jetstream.ConsumerInfo, error) {
		return cons.Info(ctx)
	})
	if err != nil {
		return err
	}
	// Nothing to deliver and nothing delivered to this consumer: caught up
	// already. (Delivered.Stream is not a count: a consumer that starts by
	// time after the last message reports the stream's position there.) If
	// some was delivered, the last message says NumPending 0 itself.
	if info.NumPending == 0 && info.Delivered.Consumer == 0 {
		done()
	}
	return nil
}

func (f *Feed) caughtUp() {
	if f.pending.Add(-1) == 0 {
		f.once.Do(func() { close(f.ready) })
	}
}

// Ready is closed once the index holds everything the streams held when
// the feed started.
func (f *Feed) Ready() <-chan struct{} { return f.ready }

// Stop ends the projection.
func (f *Feed) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cc := range f.ccs {
		cc.Stop()
	}
	f.ccs = nil
}

// joinBatch is how many participations a catch-up applies per index
// transaction.
const joinBatch = 512

// applyState applies one state-stream message. flush says that nothing is
// pending behind it: buffered participations are applied now.
func (f *Feed) applyState(m jetstream.Msg, flush bool) error {
	md, err := m.Metadata()
	if err != nil {
		return fmt.Errorf("reading metadata: %w", err)
	}
	subj := m.Subject()
	switch {
	case strings.HasPrefix(subj, event.ParticipationPrefix):
		j, err := event.Decode[event.Joined](m.Data())
		if err == nil {
			f.joins = append(f.joins, index.Joined{Joined: j, Seq: md.Sequence.Stream})
		}
		if flush || len(f.joins) >= joinBatch {
			if ferr := f.flushJoins(); ferr != nil {
				return ferr
			}
		}
		return err
	case strings.HasPrefix(subj, event.DeliveryPrefix):
		if err := f.flushJoins(); err != nil {
			return err
		}
		d, err := event.Decode[event.Delivery](m.Data())
		if err != nil {
			return err
		}
		return f.ix.ApplyDelivery(d, md.Sequence.Stream)
	case strings.HasPrefix(subj, event.BatchPrefix):
		if err := f.flushJoins(); err != nil {
			return err
		}
		b, err := event.Decode[event.DeliveryBatch](m.Data())
		if err != nil {
			return err
		}
		ds := make([]event.Delivery, len(b.Deliveries))
		for i := range ds {
			ds[i] = b.Delivery(i)
		}
		return f.ix.ApplyDeliveries(ds, md.Sequence.Stream)
	}
	return f.flushJoins()
}

// flushJoins applies the buffered participations. Only the state stream's
// consumer, one message at a time, touches the buffer.
func (f *Feed) flushJoins() error {
	if len(f.joins) == 0 {
		return nil
	}
	err := f.ix.ApplyJoinedBatch(f.joins)
	f.joins = f.joins[:0]
	return err
}

// SkipOwnEnds makes the feed skip the session-ended events that s
// published and applied to the index itself, instead of applying them a
// second time. Call it before Start.
func (f *Feed) SkipOwnEnds(s *Service) { f.own = s.own }

func (f *Feed) applyEnded(m jetstream.Msg, _ bool) error {
	if f.own != nil && f.own.take(m.Headers().Get(jetstream.MsgIDHeader)) {
		return nil
	}
	e, err := event.Decode[event.SessionEnded](m.Data())
	if err != nil {
		return err
	}
	return f.ix.ApplyEnded(e)
}
