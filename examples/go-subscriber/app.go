package main

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/signoff/signoff/shared/event"
)

// app stands for the application: its local sessions, and the logouts it
// has handled already.
type app struct {
	logger *slog.Logger

	mu sync.Mutex
	// sessions are the app's local sessions: sid -> the user, as the sub
	// this client was given. A real app keeps them in its session store.
	sessions map[string]string
	// handled are the logout ids handled already. Delivery is at least
	// once, so a logout may come again. A real app keeps them in a shared
	// store for at least nats.event_retention (168h by default), since a
	// new durable consumer replays the stream.
	handled map[string]struct{}
}

func newApp(logger *slog.Logger, sessions map[string]string) *app {
	return &app{logger: logger, sessions: sessions, handled: map[string]struct{}{}}
}

// handle is the [clientevents.Handler]: it ends the local sessions that l
// names and logs l as one JSON line, once per logout id. A nil error
// acknowledges the message; an error would have it redelivered.
func (a *app) handle(_ context.Context, l *event.ClientLogout) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.handled[l.LogoutID]; dup {
		return nil
	}
	ended := a.endSessions(l)
	a.handled[l.LogoutID] = struct{}{}
	where := slog.String("sid", l.SID)
	if l.SID == "" {
		where = slog.Any("sids", l.SIDs) // all of a subject's sessions that this client was in
	}
	a.logger.Info("logout",
		"logout_id", l.LogoutID, where, "sub", l.Sub, "iss", l.Iss,
		"reason", l.Reason, "logout_time", l.Time, "ended_sessions", ended)
	return nil
}

// endSessions ends the local sessions of a logout and returns their sids:
// the session sid or, when the logout has no sid (all of a subject's
// sessions ended), the sessions that sids lists: not every session of the
// user, since a newer one may have started since (a new durable replays
// logouts up to nats.event_retention old). A logout from a signoff
// without sids ends every session of the user.
func (a *app) endSessions(l *event.ClientLogout) []string {
	ended := []string{}
	for sid, user := range a.sessions {
		if a.ends(l, sid, user) {
			delete(a.sessions, sid)
			ended = append(ended, sid)
		}
	}
	slices.Sort(ended)
	return ended
}

func (a *app) ends(l *event.ClientLogout, sid, user string) bool {
	switch {
	case l.SID != "":
		return sid == l.SID
	case len(l.SIDs) > 0:
		return slices.Contains(l.SIDs, sid)
	default:
		return user == l.Sub
	}
}

func (a *app) handledCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.handled)
}
