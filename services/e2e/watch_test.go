//go:build unix

package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
)

// deliveryKey names one delivery: a logout to a client on a channel.
type deliveryKey struct{ logoutID, channel, client string }

// stateWatch reads every delivery progress record that the SIGNOFF_STATE
// stream stores, in order, as it is stored, with an ordered consumer
// (which survives the loss of a node: it resumes after the last sequence
// it saw). The stream keeps only the last record of each subject, so a
// record replaced before the consumer reads it is missed; a delivered
// record is final on its subject, and a batch's later versions repeat its
// earlier entries, so no delivered record can be missed that way.
//
// It counts the stored records that say "delivered" for each delivery:
// one per batch subject (signoff.v1.state.batch.<logout>.<channel>.d<n>,
// rewritten with every outcome so far while a worker handles the event the
// n-th time) in which the client's entry is delivered, plus one per
// delivered message on the delivery's own subject
// (signoff.v1.state.delivery.<logout>.<channel>.<client>).
type stateWatch struct {
	nc *nats.Conn
	cc jetstream.ConsumeContext
	cs jetstream.Consumer

	mu        sync.Mutex
	batches   map[deliveryKey]map[string]bool // batch subjects that say delivered
	records   map[deliveryKey]int             // delivered records on the delivery subject
	statuses  map[string]int                  // every status seen, for the report
	messages  int
	lastSeq   uint64
	bad       []string
	connLosts int
	// retrying holds the deliveries seen retrying: the receivers fail some
	// once, so it tells how complete the watch was.
	retrying map[receiptKey]bool
}

func watchState(ctx context.Context, urls string, logger *slog.Logger) (*stateWatch, error) {
	w := &stateWatch{batches: map[deliveryKey]map[string]bool{}, records: map[deliveryKey]int{},
		statuses: map[string]int{}, retrying: map[receiptKey]bool{}}
	nc, err := nats.Connect(urls, nats.Name("signoff-e2e-watch"), nats.MaxReconnects(-1),
		nats.ReconnectWait(200*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			w.mu.Lock()
			w.connLosts++
			w.mu.Unlock()
			logger.Info("watch: nats disconnected", "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("connecting the watch: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cs, err := js.OrderedConsumer(ctx, natsconn.StreamState, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{event.DeliveryPrefix + ">", event.BatchPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("creating the watch's consumer: %w", err)
	}
	// Short pulls with frequent heartbeats: a pull lost with a node is
	// noticed, and the consumer recreated, within a second or two.
	cc, err := cs.Consume(w.handle, jetstream.PullExpiry(2*time.Second), jetstream.PullHeartbeat(500*time.Millisecond))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("consuming the state stream: %w", err)
	}
	w.nc, w.cc, w.cs = nc, cc, cs
	return w, nil
}

func (w *stateWatch) stop() {
	if w.cc != nil {
		w.cc.Stop()
	}
	if w.nc != nil {
		w.nc.Close()
	}
}

func (w *stateWatch) handle(msg jetstream.Msg) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages++
	if md, err := msg.Metadata(); err == nil {
		w.lastSeq = md.Sequence.Stream
	}
	subj := msg.Subject()
	switch {
	case len(subj) > len(event.BatchPrefix) && subj[:len(event.BatchPrefix)] == event.BatchPrefix:
		b, err := event.Decode[event.DeliveryBatch](msg.Data())
		if err != nil {
			w.bad = append(w.bad, fmt.Sprintf("%s: %v", subj, err))
			return
		}
		for _, d := range b.Deliveries {
			w.statuses[string(d.Status)]++
			if d.Status != event.StatusDelivered {
				continue
			}
			k := deliveryKey{logoutID: b.LogoutID, channel: b.Channel, client: d.ClientID}
			if w.batches[k] == nil {
				w.batches[k] = map[string]bool{}
			}
			w.batches[k][subj] = true
		}
	default:
		d, err := event.Decode[event.Delivery](msg.Data())
		if err != nil {
			w.bad = append(w.bad, fmt.Sprintf("%s: %v", subj, err))
			return
		}
		w.statuses[string(d.Status)]++
		if d.Status == event.StatusRetrying {
			w.retrying[receiptKey{client: d.ClientID, channel: d.Channel, sid: d.SID}] = true
		}
		if d.Status == event.StatusDelivered {
			w.records[deliveryKey{logoutID: d.LogoutID, channel: d.Channel, client: d.ClientID}]++
		}
	}
}

// caughtUp is nil once the consumer has nothing pending.
func (w *stateWatch) caughtUp(ctx context.Context) error {
	info, err := w.cs.Info(ctx)
	if err != nil {
		return fmt.Errorf("watch consumer info: %w", err)
	}
	if info.NumPending > 0 {
		return fmt.Errorf("watch has %d records to read", info.NumPending)
	}
	return nil
}

// delivered returns how many stored records say k was delivered.
func (w *stateWatch) delivered(k deliveryKey) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.batches[k]) + w.records[k]
}

// deliveredKeys lists every delivery that some record says delivered.
func (w *stateWatch) deliveredKeys() []deliveryKey {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[deliveryKey]bool{}
	for k := range w.batches {
		seen[k] = true
	}
	for k := range w.records {
		seen[k] = true
	}
	out := make([]deliveryKey, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	return out
}
