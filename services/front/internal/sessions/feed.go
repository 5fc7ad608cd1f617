package sessions

import (
	"context"
	"errors"
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
	// Messages buffered while more are pending (a catch-up), each kind
	// touched by its consumer's goroutine only.
	records []index.Record
	ends    []*event.SessionEnded
	batch   int      // messages per index transaction while catching up
	own     *ownEnds // logouts a Service applied itself; nil: none
}

// NewFeed returns a Feed; Start runs it.
func NewFeed(js jetstream.JetStream, ix *index.Index, retention time.Duration, logger *slog.Logger) *Feed {
	return &Feed{js: js, ix: ix, retention: retention, logger: logger, ready: make(chan struct{}), batch: batchSize}
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
		handle func(jetstream.Msg, *jetstream.MsgMetadata, bool) error
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

// consume runs a consumer whose messages handle applies, given each one's
// metadata (nil when it cannot be read) and whether to flush what it
// buffers.
func (f *Feed) consume(ctx context.Context, stream string, cfg jetstream.OrderedConsumerConfig, handle func(jetstream.Msg, *jetstream.MsgMetadata, bool) error) error {
	cons, err := f.js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("creating %s projection consumer: %w", stream, err)
	}
	var once sync.Once
	var caughtUp atomic.Bool
	done := func() {
		caughtUp.Store(true)
		once.Do(f.caughtUp)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, _ := m.Metadata() // nil when it cannot be read
		// While catching up, messages are applied in batches; a message
		// with nothing behind it flushes the batch. Once caught up, each
		// is applied as it comes: a logout waits on its progress.
		last := md == nil || md.NumPending == 0 || caughtUp.Load()
		if err := handle(m, md, last); err != nil {
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

// batchSize is how many messages a catch-up applies per index
// transaction (Feed.batch; tests make it smaller).
const batchSize = 512

// applyState applies one state-stream message, a participation or the
// progress of deliveries. flush says that nothing is pending behind it:
// buffered messages are applied now.
func (f *Feed) applyState(m jetstream.Msg, md *jetstream.MsgMetadata, flush bool) error {
	r, ok, err := decodeState(m, md)
	return errors.Join(err, buffer(&f.records, r, ok, flush, f.batch, f.ix.ApplyState))
}

// buffer appends item to buf when add is set, and applies buf with apply
// when flush is set or it holds size items.
func buffer[T any](buf *[]T, item T, add, flush bool, size int, apply func([]T) error) error {
	if add {
		*buf = append(*buf, item)
	}
	if len(*buf) == 0 || !flush && len(*buf) < size {
		return nil
	}
	err := apply(*buf)
	clear(*buf) // let the decoded messages go
	*buf = (*buf)[:0]
	return err
}

// decodeState decodes a state-stream message; ok is false for one the
// index does not apply (another subject, or an error).
func decodeState(m jetstream.Msg, md *jetstream.MsgMetadata) (r index.Record, ok bool, err error) {
	if md == nil {
		return r, false, errors.New("reading metadata: unreadable")
	}
	r.Seq = md.Sequence.Stream
	switch subj := m.Subject(); {
	case strings.HasPrefix(subj, event.ParticipationPrefix):
		r.Joined, err = event.Decode[event.Joined](m.Data())
	case strings.HasPrefix(subj, event.DeliveryPrefix):
		var d *event.Delivery
		if d, err = event.Decode[event.Delivery](m.Data()); err == nil {
			r.Deliveries = []event.Delivery{*d}
		}
	case strings.HasPrefix(subj, event.BatchPrefix):
		var b *event.DeliveryBatch
		if b, err = event.Decode[event.DeliveryBatch](m.Data()); err == nil {
			r.Deliveries = make([]event.Delivery, len(b.Deliveries))
			for i := range r.Deliveries {
				r.Deliveries[i] = b.Delivery(i)
			}
		}
	default:
		return r, false, nil
	}
	return r, err == nil, err
}

// SkipOwnEnds makes the feed skip the session-ended events that s
// published and applied to the index itself, instead of applying them a
// second time. Call it before Start.
func (f *Feed) SkipOwnEnds(s *Service) { f.own = s.own }

// applyEnded applies one session-ended event, buffered as applyState
// buffers.
func (f *Feed) applyEnded(m jetstream.Msg, _ *jetstream.MsgMetadata, flush bool) error {
	var e *event.SessionEnded
	var err error
	own := f.own != nil && f.own.take(m.Headers().Get(jetstream.MsgIDHeader))
	if !own {
		e, err = event.Decode[event.SessionEnded](m.Data())
	}
	return errors.Join(err, buffer(&f.ends, e, !own && err == nil, flush, f.batch, f.ix.ApplyEndedBatch))
}
