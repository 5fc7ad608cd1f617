package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/signoff/signoff/services/front/internal/endsession"
	"github.com/signoff/signoff/services/front/internal/pages"
	"github.com/signoff/signoff/shared/event"
)

// Front-Channel Logout 1.0: after a logout the browser loads every
// participating client's frontchannel_logout_uri in a hidden iframe, on a
// page that then continues where the logout would have gone (spec FCL-7,
// FCL-15, RIL-26).

// fcFrame is one iframe of the front-channel page: its URL and the
// deliveries it stands for.
type fcFrame struct {
	Src     string
	Targets []fcTarget
}

// frontchannelFrames returns the iframes for the ended sessions: one per
// participant of each session that registered a frontchannel_logout_uri,
// the initiating client included, in the order of the sessions and their
// participants (FCL-7). Clients not in a session get none. Identical URLs
// are loaded once: a client without frontchannel_logout_session_required
// gets the same URL for every session, and loading it twice tells it
// nothing more; that iframe stands for each of those deliveries.
func (h *handler) frontchannelFrames(ended []*event.SessionEnded) []fcFrame {
	var frames []fcFrame
	for _, e := range ended {
		for _, p := range e.Clients {
			c, ok := h.Clients.Client(p.ClientID)
			if !ok || c.FrontchannelLogoutURI == "" {
				continue
			}
			src := FrontchannelURI(c.FrontchannelLogoutURI, h.Config.Issuer, e.SID, c.FrontchannelLogoutSessionRequired)
			t := fcTarget{LogoutID: e.LogoutID, SID: e.SID, ClientID: p.ClientID}
			if i := slices.IndexFunc(frames, func(f fcFrame) bool { return f.Src == src }); i >= 0 {
				frames[i].Targets = append(frames[i].Targets, t)
				continue
			}
			frames = append(frames, fcFrame{Src: src, Targets: []fcTarget{t}})
		}
	}
	return frames
}

// FrontchannelURI returns the iframe URL for a client's registered
// frontchannel_logout_uri. With withSession it adds iss and sid, both or
// neither (FCL-8, FCL-9), percent-encoded as query values (FCL-10), and
// nothing else (FCL-12); a query the URI already has is kept and they join
// it with '&'.
//
// signoff adds iss and sid exactly when the client registered
// frontchannel_logout_session_required, although FCL-9 would allow them
// always: the client asked for them or it did not, the sid does not land in
// the access logs of clients that have no use for it, and a client that
// does not expect parameters gets none. An empty sid adds neither.
func FrontchannelURI(registered, iss, sid string, withSession bool) string {
	if !withSession || sid == "" {
		return registered
	}
	return endsession.WithQuery(registered, "iss="+url.QueryEscape(iss)+"&sid="+url.QueryEscape(sid))
}

// frontchannelPage answers a logout whose sessions have front-channel
// clients: the page that loads their iframes, then continues to the
// post_logout_redirect_uri (state included) or the configured signed-out
// URL, or stays as the signed-out page when there is neither. The
// deliveries are recorded as pending first, and each iframe carries the
// token with which the page reports how it went.
func (h *handler) frontchannelPage(c *gin.Context, req endsession.Request, dec *endsession.Decision,
	frames []fcFrame, apps, pending []string) {
	next := dec.Redirect
	if next == "" {
		next = h.Config.Logout.SignedOutURL
	}
	h.recordPending(c, frames)
	timeout := h.Config.Logout.FrontchannelTimeout
	exp := h.Now().Add(timeout + reportGrace)
	pageFrames := make([]pages.Frame, len(frames))
	for i, f := range frames {
		pageFrames[i] = pages.Frame{Src: f.Src, Name: h.frameName(f), Report: h.reportToken(f.Targets, timeout, exp)}
	}
	h.Logger.Info("front-channel logout page", "request_id", reqID(c), "iframes", len(frames),
		"continues", next != "")
	h.Pages.Render(c.Writer, http.StatusOK, pages.FrontChannel, pages.Data{
		Lang: h.lang(c, req.UILocales), Apps: apps, Pending: pending,
		Frames: pageFrames, ReportURL: h.Config.PublicBaseURL() + FrontchannelReportPath,
		Continue: next, FrameTimeout: timeout,
	})
}

// frameName names the applications an iframe signs out of.
func (h *handler) frameName(f fcFrame) string {
	var names []string
	for _, t := range f.Targets {
		if name := h.appName(t.ClientID); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}
