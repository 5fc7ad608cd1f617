package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signoff/signoff/services/front/internal/endsession"
	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/services/front/internal/pages"
	"github.com/signoff/signoff/services/front/internal/sessions"
	"github.com/signoff/signoff/shared/event"
)

// logout ends the decided sessions: one session-ended event per session,
// each acknowledged by JetStream before the browser gets an answer; then a
// bounded wait for the deliveries; then the front-channel page when a
// participant has a frontchannel_logout_uri, else the redirect or the
// signed-out page.
func (h *handler) logout(c *gin.Context, req endsession.Request, dec *endsession.Decision) {
	ctx := c.Request.Context()
	now := h.Now().UTC()
	var ended []*event.SessionEnded
	for _, sid := range dec.SIDs {
		e := h.endedEvent(sid, dec, now)
		if err := h.Sessions.End(ctx, e); err != nil {
			h.Logger.Error("publishing session ended", "request_id", reqID(c), "sid", sid, "err", err)
			// Nothing is half done as far as the person can tell: no
			// redirect, no signed-out page, the cookie kept. Sessions that
			// did end stay ended; trying again ends the rest (each session
			// ends once: its logout id is its own).
			status := http.StatusServiceUnavailable
			if !errors.Is(err, sessions.ErrUnavailable) {
				status = http.StatusInternalServerError
			}
			h.fail(c, status, "temporarily_unavailable", "signing out is temporarily unavailable; try again")
			return
		}
		h.Logger.Info("session ended", "request_id", reqID(c), "logout_id", e.LogoutID, "sid", sid,
			"clients", len(e.Clients), "reason", e.Reason)
		ended = append(ended, e)
	}
	h.expireSessionCookie(c)

	apps, pending := h.wait(ctx, ended)
	if frames := h.frontchannelFrames(ended); len(frames) > 0 {
		h.frontchannelPage(c, req, dec, frames, apps, pending)
		return
	}
	switch {
	case dec.Redirect != "":
		c.Redirect(redirectStatus(c), dec.Redirect)
	case h.Config.Logout.SignedOutURL != "":
		c.Redirect(redirectStatus(c), h.Config.Logout.SignedOutURL)
	default:
		h.Pages.Render(c.Writer, http.StatusOK, pages.SignedOut, pages.Data{
			Lang: h.lang(c, req.UILocales), Apps: apps, Pending: pending,
		})
	}
}

// endedEvent snapshots the session's participants (spec DES-1). The hint's
// client took part in the hint's session, whether the index knows it or
// not: it is a participant too (RIL-26, BCL-23), with the hint's sub. (A
// session the index does not know ends with it as its only participant.)
func (h *handler) endedEvent(sid string, dec *endsession.Decision, now time.Time) *event.SessionEnded {
	s, ok := h.Index.Session(sid)
	if !ok {
		s = &index.Session{SID: sid}
	}
	if dec.Hint != nil && dec.Hint.SID == sid && !s.HasClient(dec.Client.ClientID) {
		cp := *s // the index's own: not to be changed
		if cp.Sub == "" {
			cp.Sub = dec.Hint.Subject
		}
		cp.Clients = append(slices.Clip(s.Clients), index.Client{ClientID: dec.Client.ClientID, Sub: dec.Hint.Subject})
		s = &cp
	}
	e := sessions.Snapshot(s, sessions.SessionLogoutID(sid), event.ReasonEndSession, h.Config.Issuer, now)
	if dec.Client != nil {
		e.InitiatingClientID = dec.Client.ClientID
	}
	return e
}

// expireSessionCookie expires the IdP's session cookie when one is
// configured and the browser sent it.
func (h *handler) expireSessionCookie(c *gin.Context) {
	name := h.Config.SessionCookie
	if name == "" {
		return
	}
	if _, ok := cookie(c, name); !ok {
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secureCookies(), SameSite: http.SameSiteLaxMode})
}

// wait blocks until the deliveries the front waits on have settled or
// logout.wait has passed, and returns the applications signed out of and
// those still pending.
func (h *handler) wait(ctx context.Context, ended []*event.SessionEnded) (apps, pending []string) {
	ctx, cancel := context.WithTimeout(ctx, h.Config.Logout.Wait)
	defer cancel()
	for _, e := range ended {
		var targets []index.Target
		for _, p := range e.Clients {
			c, ok := h.Clients.Client(p.ClientID)
			if !ok {
				continue
			}
			for _, ch := range h.WaitFor(c) {
				targets = append(targets, index.Target{ClientID: p.ClientID, Channel: ch})
			}
		}
		ds, _ := h.Index.WaitSettled(ctx, e.LogoutID, targets)
		for _, p := range e.Clients {
			name := h.appName(p.ClientID)
			if ts := targetsOf(targets, p.ClientID); len(ts) == 0 || settledFor(ds, ts) {
				apps = append(apps, name)
			} else {
				pending = append(pending, name)
			}
		}
	}
	return apps, pending
}

// settledFor reports whether every one of a client's targets has a settled
// delivery in ds: deliveries on other channels (front-channel ones, which
// nothing waits for) do not count.
func settledFor(ds []index.Delivery, ts []index.Target) bool {
	for _, t := range ts {
		i := slices.IndexFunc(ds, func(d index.Delivery) bool { return d.ClientID == t.ClientID && d.Channel == t.Channel })
		if i < 0 || !ds[i].Status.Settled() {
			return false
		}
	}
	return len(ts) > 0
}

func targetsOf(ts []index.Target, clientID string) []index.Target {
	var out []index.Target
	for _, t := range ts {
		if t.ClientID == clientID {
			out = append(out, t)
		}
	}
	return out
}

// redirectStatus is 303 after a POST (the browser must GET the target) and
// 302 after a GET.
func redirectStatus(c *gin.Context) int {
	if c.Request.Method == http.MethodPost {
		return http.StatusSeeOther
	}
	return http.StatusFound
}

// appName is how the pages name a client to people.
func (h *handler) appName(clientID string) string {
	if c, ok := h.Clients.Client(clientID); ok {
		return c.DisplayName()
	}
	return clientID
}
