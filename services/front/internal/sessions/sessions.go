package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
)

// Errors of the session service.
var (
	// ErrUnknownClient reports a participation of a client that is not
	// registered.
	ErrUnknownClient = errors.New("sessions: unknown client")
	// ErrTooManyClients reports a session that already has
	// sessions.max_clients clients.
	ErrTooManyClients = errors.New("sessions: too many clients in the session")
	// ErrSessionEnded reports a participation in a session that has ended:
	// a new login gets a new sid.
	ErrSessionEnded = errors.New("sessions: the session has ended")
	// ErrUnavailable reports that NATS did not acknowledge a write: nothing
	// was recorded.
	ErrUnavailable = errors.New("sessions: nats unavailable")
)

// Publisher is the part of JetStream the service writes with (and reads
// a logout it published back from).
type Publisher interface {
	Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
	Stream(ctx context.Context, name string) (jetstream.Stream, error)
}

// Service records participations and logouts in JetStream and applies them
// to the local index at once, so that the same front sees its own writes
// before the projection brings them back. The delivery progress it records
// (RecordBatch, Record) comes back through the projection only.
type Service struct {
	js         Publisher
	ix         *index.Index
	clients    *config.Registry
	maxClients int
	issuer     string
	now        func() time.Time
	own        *ownEnds
}

// NewService returns a Service. clients are the registered clients; issuer
// is the iss of the logouts it publishes.
func NewService(js Publisher, ix *index.Index, clients *config.Registry, maxClients int, issuer string) *Service {
	return &Service{js: js, ix: ix, clients: clients, maxClients: maxClients, issuer: issuer, now: time.Now, own: newOwnEnds()}
}

// Join records that j.ClientID took part in session j.SID.
func (s *Service) Join(ctx context.Context, j *event.Joined) error {
	if err := j.Validate(); err != nil {
		return err
	}
	if !event.ValidText(j.SID) || !event.ValidText(j.Sub) {
		return fmt.Errorf("%w: sid, sub: a control character, or U+FFFD (a byte that is not UTF-8, or a lone surrogate escape such as \\udc80)", event.ErrInvalid)
	}
	if _, known := s.clients.Client(j.ClientID); !known {
		return fmt.Errorf("%w: %s", ErrUnknownClient, j.ClientID)
	}
	if cur, ok := s.ix.Session(j.SID); ok {
		if cur.Ended() {
			// The client joined a session that has ended (a report that
			// raced the logout, or came late): it holds tokens for a dead
			// session, so it gets a logout of its own. A report the session
			// had already (an IdP retrying its PUT) was in the logout, or
			// has its own late logout already.
			if s.needsLateLogout(cur, j) {
				if err := s.endLate(ctx, cur, j); err != nil {
					return err
				}
			}
			return fmt.Errorf("%w: %s", ErrSessionEnded, j.SID)
		}
		if slices.Contains(cur.Clients, index.Client{ClientID: j.ClientID, Sub: j.Sub}) {
			// Reported before: keep the first record, so that the session's
			// sub stays the first reported one. PUT is idempotent.
			return nil
		}
		if !cur.HasClient(j.ClientID) && len(cur.Clients) >= s.maxClients {
			return fmt.Errorf("%w: %d", ErrTooManyClients, s.maxClients)
		}
	}
	// The time orders the session's retention: an IdP's clock may say
	// when, within reason, never the future nor the far past.
	now := s.now().UTC()
	if j.Time.IsZero() || j.Time.After(now.Add(time.Minute)) || j.Time.Before(now.Add(-time.Hour)) {
		j.Time = now
	}
	data, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encoding participation: %w", err)
	}
	ack, err := s.js.Publish(ctx, event.ParticipationSubject(j.SID, j.ClientID), data)
	if err != nil {
		return fmt.Errorf("%w: publishing participation: %w", ErrUnavailable, err)
	}
	return s.ix.ApplyJoined(j, ack.Sequence)
}

// needsLateLogout reports whether j's client, in session cur, which has
// ended, needs a logout of its own: none of the session's logouts named it
// (index.Index.Covered), and its own late logout is not out yet. The
// reports that come after the logout (Join) and those that raced it
// (Mender) are judged alike.
func (s *Service) needsLateLogout(cur *index.Session, j *event.Joined) bool {
	return !s.ix.Covered(j.SID, j.ClientID, j.Sub) && !slices.Contains(cur.Later, lateLogoutID(j))
}

// lateLogoutID is the logout id of a late participant's own logout.
func lateLogoutID(j *event.Joined) string {
	return SessionLogoutID(j.SID + "\x00late\x00" + j.ClientID)
}

// endLate publishes a logout of an ended session for one late participant.
// Its logout id derives from the session's and the client's, so repeated
// late reports publish it once.
func (s *Service) endLate(ctx context.Context, cur *index.Session, j *event.Joined) error {
	channels, _ := s.clients.Channels(j.ClientID)
	e := &event.SessionEnded{
		LogoutID: lateLogoutID(j), SID: j.SID, Sub: cur.Sub, Iss: s.issuer,
		Clients: []event.Participant{{ClientID: j.ClientID, Sub: j.Sub, Channels: channels}},
		Reason:  cur.Reason, Time: s.now().UTC(),
	}
	if e.Reason == "" {
		e.Reason = event.ReasonEndSession
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding late logout: %w", err)
	}
	if _, err := s.js.Publish(ctx, event.SubjectSessionEnded, data, jetstream.WithMsgID(e.LogoutID)); err != nil {
		return fmt.Errorf("%w: publishing late logout: %w", ErrUnavailable, err)
	}
	return nil
}

// End publishes the session-ended event e and waits for JetStream's
// acknowledgement; only then is the logout decided. The logout id is the
// message id, so a retried publish is stored once.
func (s *Service) End(ctx context.Context, e *event.SessionEnded) error {
	if err := e.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(s.stamped(e))
	if err != nil {
		return fmt.Errorf("encoding session ended: %w", err)
	}
	s.own.add(e.LogoutID)
	ack, err := s.js.Publish(ctx, event.SubjectSessionEnded, data, jetstream.WithMsgID(e.LogoutID))
	if err != nil {
		s.own.remove(e.LogoutID)
		return fmt.Errorf("%w: publishing session ended: %w", ErrUnavailable, err)
	}
	if ack.Duplicate {
		// Stored before, by this front or another, perhaps with another
		// snapshot of the session's participants: the stored one is the
		// logout, not this one (which would have the index take the
		// participants it names for covered). It is applied now, as this
		// one would have been; if it cannot be read back, the feed
		// applies it when it comes.
		s.own.remove(e.LogoutID)
		if stored, err := s.stored(ctx, ack); err == nil && stored.LogoutID == e.LogoutID {
			return s.ix.ApplyEnded(stored)
		}
		return nil // the feed applies it
	}
	if err := s.ix.ApplyEnded(e); err != nil {
		s.own.remove(e.LogoutID)
		return err
	}
	s.own.markApplied(e.LogoutID)
	return nil
}

// stored reads back the session-ended event that ack says is stored.
func (s *Service) stored(ctx context.Context, ack *jetstream.PubAck) (*event.SessionEnded, error) {
	st, err := s.js.Stream(ctx, ack.Stream)
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", ack.Stream, err)
	}
	msg, err := st.GetMsg(ctx, ack.Sequence)
	if err != nil {
		return nil, fmt.Errorf("reading logout %d: %w", ack.Sequence, err)
	}
	return event.Decode[event.SessionEnded](msg.Data)
}

// stamped returns a copy of e whose participants list their Channels in
// this front's configuration, so that a worker configured otherwise can
// tell. e itself is not changed: callers may share it.
func (s *Service) stamped(e *event.SessionEnded) *event.SessionEnded {
	out := *e
	out.Clients = slices.Clone(e.Clients)
	for i := range out.Clients {
		out.Clients[i].Channels, _ = s.clients.Channels(out.Clients[i].ClientID)
	}
	return &out
}

// ErrAlreadyRecorded reports a delivery record refused because one is
// already stored under its subject: the first one wins.
var ErrAlreadyRecorded = errors.New("sessions: delivery progress already recorded")

// RecordBatch stores the progress of several deliveries of one logout that
// the front itself observes (the front-channel iframes), as the workers
// store theirs: the indexes of every front apply it from the state stream
// (this front's too; unlike Join and End, not at once). n numbers the
// batches of that logout and channel. Only the first batch of a subject is
// stored: a second page for the same logout must not set its deliveries
// back to pending; it gets ErrAlreadyRecorded.
func (s *Service) RecordBatch(ctx context.Context, b *event.DeliveryBatch, n int) error {
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encoding delivery progress: %w", err)
	}
	return s.recordFirst(ctx, event.BatchSubject(b.LogoutID, b.Channel, n), data)
}

// Record stores the progress of one delivery the front observes; it
// supersedes the delivery's entry in a batch. Only the first record of a
// delivery is stored, so a report sent again cannot change it; a later one
// gets ErrAlreadyRecorded.
func (s *Service) Record(ctx context.Context, d *event.Delivery) error {
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encoding delivery progress: %w", err)
	}
	return s.recordFirst(ctx, event.DeliverySubject(d.LogoutID, d.Channel, d.ClientID), data)
}

// recordFirst publishes data on subject unless the state stream already
// holds a message there.
func (s *Service) recordFirst(ctx context.Context, subject string, data []byte) error {
	_, err := s.js.Publish(ctx, subject, data, jetstream.WithExpectLastSequencePerSubject(0))
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		return ErrAlreadyRecorded
	}
	return fmt.Errorf("%w: recording delivery progress: %w", ErrUnavailable, err)
}
