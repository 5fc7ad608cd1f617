package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/services/front/internal/sessions"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/propagate"
)

// endResponse is the answer of the API calls that end sessions.
type endResponse struct {
	LogoutID string `json:"logout_id,omitempty"`
	// LogoutIDs lists every logout when a subject's sessions did not fit
	// one event (see subjectLogouts); LogoutID is the first.
	LogoutIDs []string `json:"logout_ids,omitempty"`
	Sessions  []string `json:"sessions"`
	// AlreadyEnded is true when the session had ended before the call.
	AlreadyEnded bool `json:"already_ended,omitempty"`
	// Unknown is true when the index knew no participant of the session.
	Unknown bool `json:"unknown,omitempty"`
}

// deleteSession ends one session: DELETE /api/v1/sessions/{sid}. It goes
// through the same pipeline as a logout at the endpoint, with reason api,
// and never redirects anyone (RIL-25). A sid the index does not know ends
// too, with no participant: its participations may be on their way (a
// report on another front a moment ago, or in the intake queue), and
// when they come, each gets a logout of its own.
func (h *handler) deleteSession(c *gin.Context) {
	sid := pathParam(c, "sid")
	s, ok := h.Index.Session(sid)
	if !ok {
		if sid == "" || len(sid) > 255 || !event.ValidText(sid) {
			problem(c, http.StatusBadRequest, "invalid_request", "sid: at most 255 bytes of UTF-8 text")
			return
		}
		s = &index.Session{SID: sid}
		e := sessions.Snapshot(s, sessions.SessionLogoutID(sid), event.ReasonAPI, h.Config.Issuer, h.Now().UTC())
		if !h.publishEnded(c, e) {
			return
		}
		c.JSON(http.StatusAccepted, endResponse{LogoutID: e.LogoutID, Sessions: []string{sid}, Unknown: true})
		return
	}
	if s.Ended() {
		c.JSON(http.StatusOK, endResponse{LogoutID: s.LogoutID, Sessions: []string{s.SID}, AlreadyEnded: true})
		return
	}
	e := sessions.Snapshot(s, sessions.SessionLogoutID(s.SID), event.ReasonAPI, h.Config.Issuer, h.Now().UTC())
	if !h.publishEnded(c, e) {
		return
	}
	c.JSON(http.StatusAccepted, endResponse{LogoutID: e.LogoutID, Sessions: []string{s.SID}})
}

// deleteSubject ends all live sessions of a subject:
// DELETE /api/v1/subjects/{sub}/sessions: those whose first reported sub
// is sub, and those where any client was given sub. One event carries them all,
// without a sid, so back-channel logout tokens name only the sub
// (Back-Channel Logout 1.0 §2.4); each participant lists its sessions, for
// the clients that require a sid in every token. A subject with more
// sessions than one NATS message holds gets several such events.
func (h *handler) deleteSubject(c *gin.Context) {
	sub := pathParam(c, "sub")
	clients := h.Clients.Clients()
	ids := make([]string, len(clients))
	for i := range clients {
		ids[i] = clients[i].ClientID
	}
	live := h.Index.LiveSessionsBySub(sub, ids...)
	if len(live) == 0 {
		c.JSON(http.StatusOK, endResponse{Sessions: []string{}})
		return
	}
	es := subjectLogouts(sub, h.Config.Issuer, h.Now().UTC(), live, maxEventBytes)
	resp := endResponse{LogoutID: es[0].LogoutID, Sessions: []string{}}
	for i, e := range es {
		if i == 0 {
			if !h.publishEnded(c, e) {
				return
			}
		} else if err := h.Sessions.End(c.Request.Context(), e); err != nil {
			h.Logger.Error("publishing session ended", "request_id", reqID(c), "logout_id", e.LogoutID, "err", err)
			problem(c, http.StatusServiceUnavailable, "unavailable",
				fmt.Sprintf("%d of the subject's sessions ended, the others could not be published; retry to end them", len(resp.Sessions)))
			return
		}
		resp.Sessions = append(resp.Sessions, e.Sessions...)
		if len(es) > 1 {
			resp.LogoutIDs = append(resp.LogoutIDs, e.LogoutID)
		}
	}
	c.JSON(http.StatusAccepted, resp)
}

// maxEventBytes bounds the JSON of one subject-wide event, well under
// NATS's default max_payload (1 MB).
const maxEventBytes = 256 << 10

// subjectLogouts returns the session-ended events that end the live
// sessions of sub: one, unless their sids (in sessions and in every
// participant's sids) would make its JSON larger than about maxBytes; then
// as many as needed, each with its own logout id and its own participants.
// An event lists a client once: a session where a client has another sub
// than in the event's earlier sessions (an IdP that changed the sub it
// gives that client) goes into the next event. The workers record one
// delivery per client and logout.
func subjectLogouts(sub, iss string, now time.Time, live []*index.Session, maxBytes int) []*event.SessionEnded {
	var (
		out  []*event.SessionEnded
		e    *event.SessionEnded
		at   map[string]int // client id: index in e.Clients
		size int
	)
	otherSub := func(s *index.Session) bool {
		for _, p := range s.Clients {
			if i, ok := at[p.ClientID]; ok && e.Clients[i].Sub != p.Sub {
				return true
			}
		}
		return false
	}
	for _, s := range live {
		// What the session adds: its sid in sessions and in each of its
		// participants' sids, and participants not yet listed, with the
		// channels that End lists in each (64: all four of them).
		add := len(s.SID) + 3
		for _, p := range s.Clients {
			add += len(s.SID) + 3 + len(p.ClientID) + len(p.Sub) + 40 + 64
		}
		if e == nil || len(e.Sessions) > 0 && (size+add > maxBytes || otherSub(s)) {
			e = &event.SessionEnded{LogoutID: sessions.NewLogoutID(), Sub: sub, Iss: iss,
				Reason: event.ReasonAPISubject, Time: now, Clients: []event.Participant{}}
			out = append(out, e)
			at = map[string]int{}
			size = 300 + len(sub) + len(iss)
		}
		size += add
		e.Sessions = append(e.Sessions, s.SID)
		for _, p := range s.Clients {
			i, ok := at[p.ClientID]
			if !ok {
				i = len(e.Clients)
				at[p.ClientID] = i
				e.Clients = append(e.Clients, event.Participant{ClientID: p.ClientID, Sub: p.Sub})
			}
			e.Clients[i].SIDs = append(e.Clients[i].SIDs, s.SID)
		}
	}
	for _, e := range out {
		for i := range e.Clients {
			slices.Sort(e.Clients[i].SIDs)
		}
	}
	return out
}

func (h *handler) publishEnded(c *gin.Context, e *event.SessionEnded) bool {
	if err := h.Sessions.End(c.Request.Context(), e); err != nil {
		h.Logger.Error("publishing session ended", "request_id", reqID(c), "logout_id", e.LogoutID, "err", err)
		problem(c, http.StatusServiceUnavailable, "unavailable", "the logout could not be published; nothing ended; retry")
		return false
	}
	h.Logger.Info("session ended", "request_id", reqID(c), "logout_id", e.LogoutID, "sid", e.SID,
		"sessions", len(e.SIDs()), "clients", len(e.Clients), "reason", e.Reason)
	return true
}

// replay sends a dead-lettered delivery back to its worker:
// POST /api/v1/deadletters/{channel}/{client_id}/{logout_id}/replay.
func (h *handler) replay(c *gin.Context) {
	if h.Replay == nil {
		problem(c, http.StatusNotImplemented, "not_implemented", "replay is not available on this front")
		return
	}
	task, err := h.Replay(c.Request.Context(), pathParam(c, "channel"), pathParam(c, "client_id"), pathParam(c, "logout_id"))
	switch {
	case errors.Is(err, propagate.ErrNoDeadLetter):
		problem(c, http.StatusNotFound, "not_found", "no such dead letter")
	case errors.Is(err, propagate.ErrNotFailed):
		problem(c, http.StatusConflict, "not_failed", strings.TrimPrefix(err.Error(), "propagate: ")+
			": nothing to replay; GET /api/v1/sessions/{sid} shows its progress")
	case err != nil:
		h.Logger.Error("replaying dead letter", "request_id", reqID(c), "err", err)
		problem(c, http.StatusServiceUnavailable, "unavailable", "the dead letter could not be replayed; retry")
	default:
		h.Logger.Info("dead letter replayed", "request_id", reqID(c), "logout_id", task.Event.LogoutID,
			"client_id", task.ClientID, "channel", task.Kind)
		c.JSON(http.StatusAccepted, gin.H{"logout_id": task.Event.LogoutID, "client_id": task.ClientID,
			"channel": task.Kind, "status": event.StatusPending})
	}
}
