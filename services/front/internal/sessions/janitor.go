package sessions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"log/slog"
	"strings"
	"time"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/event"
)

// Janitor removes sessions from the index once sessions.retention has
// passed since their last change. A session that is still live then has
// expired: it ends through the same pipeline as any logout, with reason
// expired, so every client hears of it, and leaves the index a retention
// period later, as every ended session does.
type Janitor struct {
	svc       *Service
	ix        *index.Index
	retention time.Duration
	issuer    string
	logger    *slog.Logger
	now       func() time.Time
}

// NewJanitor returns a Janitor; Run runs it.
func NewJanitor(svc *Service, ix *index.Index, retention time.Duration, issuer string, logger *slog.Logger) *Janitor {
	return &Janitor{svc: svc, ix: ix, retention: retention, issuer: issuer, logger: logger, now: time.Now}
}

// Run sweeps every interval until ctx ends, once ready is closed
// (Feed.Ready): a session whose latest records the index has not read yet
// looks older than it is, and would expire early.
func (j *Janitor) Run(ctx context.Context, ready <-chan struct{}, interval time.Duration) {
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			j.Sweep(ctx)
		}
	}
}

// Sweep handles every stale session once and returns how many left the
// index. A session whose expiry could not be published stays for the next
// sweep: no logout is lost.
func (j *Janitor) Sweep(ctx context.Context) int {
	removed := 0
	cutoff := j.now().Add(-j.retention)
	for {
		stale := j.ix.Stale(cutoff, 500)
		progress := false
		for _, s := range stale {
			if !s.Ended() {
				// It ends now, and stays as an ended session for another
				// retention period, as one that ends otherwise: a late
				// participation gets a logout of its own, not a new
				// session, on every front alike, and GET shows the
				// expiry's deliveries.
				e := expiredEvent(s, j.issuer, j.now().UTC())
				if err := j.svc.End(ctx, e); err != nil {
					j.logger.Warn("session expiry not published yet", "sid", s.SID, "err", err)
					continue
				}
				j.logger.Info("session expired", "sid", s.SID, "logout_id", e.LogoutID, "clients", len(e.Clients))
				// Progress once the index has it ended: another front's
				// expiry, stored first, may reach this one's index later
				// (End does not apply a duplicate it could not read back),
				// and the next page would be this one again.
				if cur, ok := j.ix.Session(s.SID); !ok || cur.Ended() {
					progress = true
				}
				continue
			}
			if err := j.ix.Remove(s.SID); err != nil {
				j.logger.Error("removing session from the index", "sid", s.SID, "err", err)
				continue
			}
			removed++
			progress = true
		}
		if len(stale) < 500 || !progress {
			break
		}
	}
	j.pruneLedgers(cutoff)
	return removed
}

// pruneLedgers removes the deliveries of logouts that have not changed
// since cutoff. Most leave with their session; records that came after
// it was removed (a failure at the end of the retry budget, a replay)
// would otherwise stay for ever. (A session that changed later than its
// logout's deliveries, such as one with a late participant, keeps its
// row a little longer than those deliveries.)
func (j *Janitor) pruneLedgers(cutoff time.Time) {
	for {
		ids := j.ix.StaleLedgers(cutoff, 500)
		if len(ids) == 0 {
			return
		}
		if err := j.ix.RemoveLedgers(ids); err != nil {
			j.logger.Error("removing deliveries from the index", "err", err)
			return
		}
		if len(ids) < 500 {
			return
		}
	}
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// expiredEvent is the session's logout with reason expired. Its logout id
// is the session's (SessionLogoutID): replicas sweeping the same session,
// or a logout racing the expiry, publish one event.
func expiredEvent(s *index.Session, issuer string, now time.Time) *event.SessionEnded {
	return Snapshot(s, SessionLogoutID(s.SID), event.ReasonExpired, issuer, now)
}

// SessionLogoutID is the logout id of ending session sid, whoever ends it:
// the end-session endpoint, the API or the expiry. Every replica and every
// concurrent request derives the same id, so JetStream's message-id
// de-duplication stores one session-ended event however many race (spec
// DES-3), and a session ends once.
func SessionLogoutID(sid string) string {
	sum := sha256.Sum256([]byte("signoff logout\x00" + sid))
	return "s" + strings.ToLower(idEncoding.EncodeToString(sum[:16]))
}

// Snapshot is the session-ended event of s: its participants as the index
// holds them, taken before the session is marked ended (spec DES-1).
func Snapshot(s *index.Session, logoutID string, reason event.Reason, issuer string, now time.Time) *event.SessionEnded {
	e := &event.SessionEnded{
		LogoutID: logoutID, SID: s.SID, Sub: s.Sub, Iss: issuer, Reason: reason, Time: now,
		Clients: make([]event.Participant, 0, len(s.Clients)),
	}
	for _, c := range s.Clients {
		e.Clients = append(e.Clients, event.Participant{ClientID: c.ClientID, Sub: c.Sub})
	}
	return e
}

// NewLogoutID returns a random logout id: 128 bits, one subject token, for
// logouts that are not one session's (a subject's sessions at once).
func NewLogoutID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.ToLower(idEncoding.EncodeToString(b))
}
