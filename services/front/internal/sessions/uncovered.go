package sessions

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/event"
)

// Mender gives a logout of its own to each participant of an ended
// session that the session's logouts did not name (index.Uncovered): a
// report recorded while the logout was decided, on another front, or on
// this one between the logout's snapshot and its event. Every front that
// notices publishes the same late logout, which JetStream stores once.
type Mender struct {
	svc    *Service
	ix     *index.Index
	logger *slog.Logger

	mu      sync.Mutex
	pending []index.Uncovered
	wake    chan struct{}
}

// NewMender returns a Mender that the index reports to; Run publishes.
func NewMender(svc *Service, ix *index.Index, logger *slog.Logger) *Mender {
	m := &Mender{svc: svc, ix: ix, logger: logger, wake: make(chan struct{}, 1)}
	ix.OnUncovered(m.add)
	return m
}

// add queues them; it runs in the index writer's goroutine and never blocks.
func (m *Mender) add(us []index.Uncovered) {
	m.mu.Lock()
	m.pending = append(m.pending, us...)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run publishes the queued late logouts until ctx ends, once ready is
// closed (Feed.Ready): while the index is rebuilt, a participant may look
// uncovered only because the late logout that named it is not read yet,
// so each is looked at again then. When one cannot be published (NATS
// unavailable), it and those after it are tried again later, from a
// second up to a minute.
func (m *Mender) Run(ctx context.Context, ready <-chan struct{}) {
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}
	const minBackoff, maxBackoff = time.Second, time.Minute
	backoff := minBackoff
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-retry.C:
		}
		m.mu.Lock()
		batch := m.pending
		m.pending = nil
		m.mu.Unlock()
		for i, u := range batch {
			err := m.mend(ctx, u)
			if err == nil {
				backoff = minBackoff
				continue
			}
			if ctx.Err() != nil {
				return // stopping: a restarted front looks again
			}
			m.logger.Warn("late logouts not published yet, will retry", "waiting", len(batch)-i,
				"sid", u.SID, "client_id", u.ClientID, "retry_in", backoff, "err", err)
			m.mu.Lock()
			m.pending = append(batch[i:], m.pending...)
			m.mu.Unlock()
			retry.Reset(backoff)
			backoff = min(2*backoff, maxBackoff)
			break
		}
	}
}

// mend publishes u's late logout, unless a logout of its session named it
// since.
func (m *Mender) mend(ctx context.Context, u index.Uncovered) error {
	cur, ok := m.ix.Session(u.SID)
	j := &event.Joined{SID: u.SID, ClientID: u.ClientID, Sub: u.Sub}
	if !ok || !cur.Ended() || !m.svc.needsLateLogout(cur, j) {
		return nil
	}
	m.logger.Info("participant reported as its session's logout was decided: it gets a logout of its own",
		"sid", u.SID, "client_id", u.ClientID, "logout_id", cur.LogoutID)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return m.svc.endLate(ctx, cur, j)
}
