package endsession

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

// HintVerifier checks an id_token_hint.
type HintVerifier interface {
	Verify(ctx context.Context, raw string) (*keys.Hint, error)
}

// Sessions is the part of the session index the decision reads.
type Sessions interface {
	Session(sid string) (*index.Session, bool)
	LiveSessionsOf(clientID, sub string) []string
}

// Decider decides end-session requests. It is safe for concurrent use.
type Decider struct {
	cfg      *config.Config
	clients  *config.Registry
	verifier HintVerifier
	sessions Sessions
}

// NewDecider returns a Decider.
func NewDecider(cfg *config.Config, clients *config.Registry, v HintVerifier, s Sessions) *Decider {
	return &Decider{cfg: cfg, clients: clients, verifier: v, sessions: s}
}

// Decision is what an accepted request leads to.
type Decision struct {
	// Client is the identified client, nil when none is.
	Client *config.Client
	// Hint is the verified id_token_hint, nil when there was none.
	Hint *keys.Hint
	// Redirect is where the browser ends, state included; "" means
	// signoff's own signed-out page.
	Redirect string
	// SIDs are the live sessions that end.
	SIDs []string
	// Confirm says the person must confirm before anything ends.
	Confirm bool
	// Suspect says why confirming matters: the request may not be theirs.
	Suspect bool
}

// Decide validates r and decides. cookieSID is the browser's current
// session from the IdP's session cookie ("" when none). A returned *Error
// means: answer 400, end nothing, redirect nowhere (RIL-31).
func (d *Decider) Decide(ctx context.Context, r Request, cookieSID string) (*Decision, *Error) {
	dec := &Decision{}

	// Identify the client: the hint's audience, the client_id, or both,
	// which must agree (RIL-8..17).
	if r.IDTokenHint != "" {
		h, err := d.verifier.Verify(ctx, r.IDTokenHint)
		if err != nil {
			// RIL-14: none of a failed hint's claims is used.
			return nil, invalidRequest(hintReason(err))
		}
		dec.Hint = h
	}
	if r.ClientID != "" {
		c, ok := d.clients.Client(r.ClientID)
		if !ok {
			return nil, invalidRequest("client_id " + quote(r.ClientID) + " is not a registered client")
		}
		if dec.Hint != nil && !dec.Hint.IssuedTo(c.ClientID) {
			return nil, invalidRequest("client_id " + quote(r.ClientID) + " does not match the client the id_token_hint was issued to")
		}
		dec.Client = c
	} else if dec.Hint != nil {
		c, err := d.hintClient(dec.Hint)
		if err != nil {
			return nil, err
		}
		dec.Client = c
	}
	if dec.Client == nil && d.cfg.Logout.RequireClientOrHint {
		return nil, invalidRequest("either id_token_hint or client_id must be present")
	}

	// The redirect: only for an identified client and an exact match of a
	// registered URI (RIL-22, RIL-23, RIL-24).
	if r.PostLogoutRedirectURI != "" {
		switch {
		case dec.Client == nil:
			return nil, invalidRequest("post_logout_redirect_uri needs id_token_hint or client_id to identify the client")
		case dec.Hint == nil && !d.cfg.ClientIDRedirectAllowed():
			return nil, invalidRequest("post_logout_redirect_uri needs an id_token_hint")
		case !dec.Client.HasPostLogoutRedirectURI(r.PostLogoutRedirectURI):
			return nil, invalidRequest("post_logout_redirect_uri is not registered for client " + dec.Client.ClientID)
		}
		dec.Redirect = RedirectTo(r.PostLogoutRedirectURI, r.State, r.HasState)
	}

	d.chooseSessions(dec, r, cookieSID)
	return dec, nil
}

// hintClient is the registered client a hint was issued to: its azp, or
// its single registered audience.
func (d *Decider) hintClient(h *keys.Hint) (*config.Client, *Error) {
	var found *config.Client
	for _, id := range h.ClientIDs() {
		c, ok := d.clients.Client(id)
		if !ok {
			continue
		}
		if found != nil && found.ClientID != c.ClientID {
			return nil, invalidRequest("id_token_hint names several registered clients: send client_id too")
		}
		found = c
	}
	if found == nil {
		return nil, invalidRequest("id_token_hint was not issued to a registered client")
	}
	return found, nil
}

// expiredHintGrace is how long after its exp a hint still ends its session
// without a question: "recent" in RIL-11. An older one asks the person, so a
// leaked old ID token is no remote logout switch.
const expiredHintGrace = time.Hour

// chooseSessions picks the sessions that end and whether the person must
// confirm (RIL-11, RIL-12, RIL-13, RIL-19).
func (d *Decider) chooseSessions(dec *Decision, r Request, cookieSID string) {
	h := dec.Hint
	var subject string
	switch {
	case h != nil && h.SID != "":
		dec.SIDs = d.live(h.SID)
		subject = h.Subject
		if cookieSID != "" && cookieSID != h.SID {
			// A hint from another session than this browser's: ask, and end
			// both sessions if the person agrees.
			dec.Suspect = true
			dec.SIDs = append(dec.SIDs, d.known(cookieSID)...)
		}
		switch s, ok := d.sessions.Session(h.SID); {
		case !ok:
			// RIL-12: a session the IdP never reported, or one forgotten
			// since it ended: suspect, if the policy says so, unless the
			// IdP's cookie says this browser is in it.
			dec.Suspect = dec.Suspect || d.cfg.Logout.ConfirmUnknownSessions && cookieSID != h.SID
		case !s.Ended():
			// RIL-12: the hint's session is not one this client was in;
			// RIL-13: the client was in it for another user.
			if sub, ok := s.ClientSub(dec.Client.ClientID); !ok || sub != h.Subject {
				dec.Suspect = true
			}
		}
	case h != nil:
		// A hint with only sub: that subject's live sessions that the
		// hint's client took part in, on every device. The person confirms.
		subject = h.Subject
		dec.SIDs = d.sessions.LiveSessionsOf(dec.Client.ClientID, h.Subject)
		dec.Confirm = true
		if cookieSID != "" && !slices.Contains(dec.SIDs, cookieSID) {
			dec.Suspect = true
			dec.SIDs = append(dec.SIDs, d.known(cookieSID)...)
		}
	default:
		// No hint: only a session the index knows ends, after the person
		// confirms (RIL-19); an unknown cookie value ends nothing.
		dec.SIDs = d.known(cookieSID)
		dec.Confirm = true
	}
	if h != nil && h.Expired && time.Since(h.ExpiresAt) > expiredHintGrace {
		dec.Confirm = true
	}
	if r.LogoutHint != "" && !d.logoutHintMatches(r.LogoutHint, dec.SIDs, subject) {
		dec.Suspect = true
	}
	if dec.Suspect {
		dec.Confirm = true
	}
}

// known returns sid when the index holds it as a live session.
func (d *Decider) known(sid string) []string {
	if sid == "" {
		return nil
	}
	if s, ok := d.sessions.Session(sid); ok && !s.Ended() {
		return []string{sid}
	}
	return nil
}

// live returns sid unless it is empty or the index knows it has ended. A
// sid the index does not know still ends: the IdP and the hinted client
// learn of it through the event, and the second time it is known as ended
// (RIL-32).
func (d *Decider) live(sid string) []string {
	if sid == "" {
		return nil
	}
	if s, ok := d.sessions.Session(sid); ok && s.Ended() {
		return nil
	}
	return []string{sid}
}

// logoutHintMatches reports whether logout_hint names one of the sessions
// that end or their subject (RIL-7: its meaning is the OP's to define).
func (d *Decider) logoutHintMatches(hint string, sids []string, subject string) bool {
	if hint == subject || slices.Contains(sids, hint) {
		return true
	}
	for _, sid := range sids {
		s, ok := d.sessions.Session(sid)
		if !ok {
			continue
		}
		if s.Sub == hint || slices.ContainsFunc(s.Clients, func(c index.Client) bool { return c.Sub == hint }) {
			return true
		}
	}
	return len(sids) == 0 && subject == ""
}

func hintReason(err error) string {
	var he *keys.HintError
	if errors.As(err, &he) {
		return "id_token_hint is not valid: " + he.Reason
	}
	return "id_token_hint is not valid"
}
