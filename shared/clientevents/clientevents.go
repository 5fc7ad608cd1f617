// Package clientevents gives custom apps their logouts on NATS. The
// built-in "events" worker publishes each logout, as that client sees it
// ([event.ClientLogout]), on the client's own subject
// signoff.v1.logout.<client_id>, so that NATS permissions can restrict an
// app to its own logouts. [Subscribe] is how a Go app consumes them.
package clientevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/propagate"
)

// Kind is the worker kind and delivery channel of per-client events.
const Kind = config.ChannelEvents

// Publisher is the events worker's Propagator: it publishes one
// ClientLogout on the client's subject and waits for JetStream to store it.
// The message id makes a repeated publish of the same logout a no-op.
type Publisher struct {
	js jetstream.JetStream
}

// NewPublisher returns a Publisher.
func NewPublisher(js jetstream.JetStream) *Publisher { return &Publisher{js: js} }

// Propagate implements propagate.Propagator.
func (p *Publisher) Propagate(ctx context.Context, d *propagate.Delivery) error {
	data, err := json.Marshal(d.Event.ForClient(event.Participant{ClientID: d.Client.ClientID, Sub: d.Sub}))
	if err != nil {
		return propagate.Permanent(fmt.Errorf("encoding client logout: %w", err))
	}
	_, err = p.js.Publish(ctx, event.LogoutSubject(d.Client.ClientID), data,
		jetstream.WithMsgID(d.Event.LogoutID+"."+d.Client.ClientID))
	if err != nil {
		return fmt.Errorf("publishing client logout: %w", err)
	}
	return nil
}

// Wants is every client with logout_events: true.
func Wants(c *config.Client) bool { return c.LogoutEvents }

// Options returns the events worker's options; the caller adds JS,
// Clients, Logger and Metrics.
func Options(js jetstream.JetStream) propagate.Options {
	return propagate.Options{Kind: Kind, Wants: Wants, Propagator: NewPublisher(js), JS: js}
}

// ErrDurableInUse reports a durable consumer that follows another subject.
var ErrDurableInUse = errors.New("clientevents: durable consumer in use for other logouts")

// Handler handles one logout. A nil error acknowledges it; an error has it
// redelivered after a delay.
type Handler func(ctx context.Context, l *event.ClientLogout) error

// Subscribe consumes the logouts of clientID with the durable consumer
// durable (shared by every replica of the app), calling handle for each,
// until the returned ConsumeContext is stopped. A new durable starts with
// the logouts still in the stream. Logouts may come more than once: handle
// de-duplicates on LogoutID.
func Subscribe(ctx context.Context, js jetstream.JetStream, clientID, durable string, handle Handler) (jetstream.ConsumeContext, error) {
	// A durable that follows another client's logouts is someone else's:
	// refuse it rather than silently refilter it.
	if existing, err := js.Consumer(ctx, natsconn.StreamEvents, durable); err == nil {
		if f := existing.CachedInfo().Config.FilterSubject; f != event.LogoutSubject(clientID) {
			return nil, fmt.Errorf("consumer %s follows %q, not %s's logouts: %w", durable, f, clientID, ErrDurableInUse)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, natsconn.StreamEvents, jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   "logouts of " + clientID,
		FilterSubject: event.LogoutSubject(clientID),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("creating consumer %s: %w", durable, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		l, err := event.Decode[event.ClientLogout](m.Data())
		if err != nil {
			_ = m.Term() // never valid: do not redeliver
			return
		}
		if err := handle(ctx, l); err != nil {
			_ = m.NakWithDelay(time.Second)
			return
		}
		_ = m.Ack()
	})
	if err != nil {
		return nil, fmt.Errorf("consuming %s: %w", durable, err)
	}
	return cc, nil
}
