//go:build unix

package e2e

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/clientevents"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
)

// logoutSubscriber is the app of every client with logout_events: it
// follows that client's logouts on signoff.v1.logout.<client_id> as
// docs/events.md tells a Go app to, with clientevents.Subscribe and a
// durable consumer of its own, and hands each one to the receivers as a
// delivery on the events channel.
type logoutSubscriber struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	ccs []jetstream.ConsumeContext

	mu        sync.Mutex
	connLosts int
}

// durableFor is the durable consumer of the app of client id.
func durableFor(id string) string { return "e2e-app-" + id }

func subscribeLogouts(ctx context.Context, urls string, recv *receivers) (*logoutSubscriber, error) {
	s := &logoutSubscriber{}
	nc, err := nats.Connect(urls, nats.Name("signoff-e2e-app"), nats.MaxReconnects(-1),
		nats.ReconnectWait(200*time.Millisecond),
		nats.DisconnectErrHandler(func(*nats.Conn, error) {
			s.mu.Lock()
			s.connLosts++
			s.mu.Unlock()
		}))
	if err != nil {
		return nil, fmt.Errorf("connecting the app: %w", err)
	}
	s.nc = nc
	s.js, err = jetstream.New(nc)
	if err != nil {
		s.stop()
		return nil, err
	}
	for _, rp := range recv.rps {
		if !rp.events {
			continue
		}
		cc, err := clientevents.Subscribe(ctx, s.js, rp.id, durableFor(rp.id),
			func(_ context.Context, l *event.ClientLogout) error {
				recv.clientLogout(rp, l)
				return nil
			})
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("subscribing to %s's logouts: %w", rp.id, err)
		}
		s.ccs = append(s.ccs, cc)
	}
	return s, nil
}

func (s *logoutSubscriber) stop() {
	for _, cc := range s.ccs {
		cc.Stop()
	}
	if s.nc != nil {
		s.nc.Close()
	}
}

// stored returns how many messages SIGNOFF_EVENTS holds on each per-client
// logout subject: the ClientLogouts the events worker published, repeated
// publishes that JetStream dropped as duplicates not counted.
func (s *logoutSubscriber) stored(ctx context.Context) (map[string]uint64, error) {
	st, err := s.js.Stream(ctx, natsconn.StreamEvents)
	if err != nil {
		return nil, fmt.Errorf("looking up %s: %w", natsconn.StreamEvents, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(event.LogoutPrefix+"*"))
	if err != nil {
		return nil, fmt.Errorf("reading %s's subjects: %w", natsconn.StreamEvents, err)
	}
	return info.State.Subjects, nil
}

// checkStored checks that SIGNOFF_EVENTS holds, on each client's logout
// subject, one ClientLogout per session the client took part in when it
// has logout_events, and none otherwise. Once each of those sessions'
// logouts has reached the app, this says that none was stored twice.
func (s *logoutSubscriber) checkStored(ctx context.Context, rps []*relyingParty, plan []*plannedSession) []string {
	got, err := s.stored(ctx)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, rp := range rps {
		subj, want := event.LogoutSubject(rp.id), 0
		if rp.events {
			for _, ps := range plan {
				if ps.subs[rp.id] != "" {
					want++
				}
			}
		}
		if n := got[subj]; n != uint64(want) {
			out = append(out, fmt.Sprintf("%s holds %d messages on %s, want %d: one per session %s took part in (logout_events %t)",
				natsconn.StreamEvents, n, subj, want, rp.id, rp.events))
		}
		delete(got, subj)
	}
	for subj, n := range got {
		out = append(out, fmt.Sprintf("%s holds %d messages on %s, a subject of no client", natsconn.StreamEvents, n, subj))
	}
	return out
}

// summary is the report's line on client logouts: what the stream
// holds, what the apps received.
func (s *logoutSubscriber) summary(ctx context.Context, recv *receivers) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	held := "stored by subject "
	if stored, err := s.stored(ctx); err != nil {
		held += err.Error()
	} else {
		held += fmt.Sprint(stored)
	}
	received, repeated := 0, 0
	recv.mu.Lock()
	for k, n := range recv.receipts {
		if k.channel == chanEvents {
			received += n
			repeated += min(n, 2) - 1
		}
	}
	recv.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("client logouts: %s; the apps received %d, %d of them more than once; app disconnects %d",
		held, received, repeated, s.connLosts)
}

// clientLogout receives one logout on rp's subject and checks it as an app
// would: its own client id, a session it took part in, the sub it was
// given there, the issuer and the reason; then counts it like a request
// at a receiver. A logout may come more than once (a lost
// acknowledgement): each time is counted, as a repeated request is.
func (r *receivers) clientLogout(rp *relyingParty, l *event.ClientLogout) {
	k := receiptKey{client: rp.id, channel: chanEvents, sid: l.SID}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts++
	var bad error
	e, ok := r.expect[l.SID]
	switch {
	case l.ClientID != rp.id || l.Type != event.ClientLogoutType || l.Iss != r.issuer:
		bad = fmt.Errorf("client logout type %q, iss %q, client_id %q", l.Type, l.Iss, l.ClientID)
	case !ok:
		bad = fmt.Errorf("client logout for unknown sid %q", l.SID)
	case e.subs[rp.id] == "" || l.Sub != e.subs[rp.id]:
		bad = fmt.Errorf("client logout sub %q for sid %q, want %q", l.Sub, l.SID, e.subs[rp.id])
	case string(l.Reason) != e.reason:
		bad = fmt.Errorf("client logout reason %q for sid %q, want %q", l.Reason, l.SID, e.reason)
	case l.LogoutID == "" || l.Time.IsZero():
		bad = fmt.Errorf("client logout for sid %q: logout_id %q, time %s", l.SID, l.LogoutID, l.Time)
	}
	if prev, seen := r.logoutID[k]; bad == nil && seen && prev != l.LogoutID {
		bad = fmt.Errorf("client logout logout_id %q for sid %q, earlier %q", l.LogoutID, l.SID, prev)
	}
	if bad != nil {
		if len(r.problems) < 1000 {
			r.problems = append(r.problems, fmt.Sprintf("%s %s: %v", rp.id, chanEvents, bad))
		}
		return
	}
	r.logoutID[k] = l.LogoutID
	r.receipts[k]++
	if r.receipts[k] == 1 {
		r.firstAt[k] = time.Now()
	}
}
