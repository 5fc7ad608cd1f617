package backchannel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/propagate"
)

// Kind is the worker kind and the channel of its deliveries.
const Kind = config.ChannelBackchannel

// userAgent identifies signoff's requests in receivers' logs.
const userAgent = "signoff-backchannel/1"

// SkipNoSID is the reason a client that requires sid is skipped by a
// logout of all of a subject's sessions that does not say which of them it
// took part in (BCL-4); events from fronts of this version always do.
const SkipNoSID = "client requires sid; this logout of all of a subject's sessions names none of its sessions"

// Wants reports whether c receives back-channel logouts: it has a
// backchannel_logout_uri.
func Wants(c *config.Client) bool { return c.BackchannelLogoutURI != "" }

// Skip excludes a client that registered backchannel_logout_session_required
// from a logout without a sid (a logout of all of a subject's sessions)
// that lists none of the client's sessions, since every logout token it
// receives must carry one (Back-Channel Logout 1.0 §2.2, BCL-4).
func Skip(c *config.Client, e *event.SessionEnded) (reason string, skip bool) {
	if c.BackchannelLogoutSessionRequired && len(e.SIDsOf(c.ClientID, "")) == 0 {
		return SkipNoSID, true
	}
	return "", false
}

var _ propagate.Propagator = (*Propagator)(nil)

// Propagator delivers logout tokens. It holds no mutable state and takes
// no lock, so one Propagator serves every delivery concurrently.
type Propagator struct {
	keys   *keys.Set
	issuer string
	client *http.Client
	// Header values shared, read-only, by every request.
	contentType, userAgent []string
}

// New returns a Propagator that signs with ks as issuer and sends with
// client, which should not follow redirects (see [NewHTTPClient]); a nil
// client means NewHTTPClient().
func New(ks *keys.Set, issuer string, client *http.Client) *Propagator {
	if client == nil {
		client = NewHTTPClient()
	}
	return &Propagator{
		keys:        ks,
		issuer:      issuer,
		client:      client,
		contentType: []string{"application/x-www-form-urlencoded"},
		userAgent:   []string{userAgent},
	}
}

// Propagate POSTs a logout token to d.Client's backchannel_logout_uri
// (Back-Channel Logout 1.0 §2.5). Every call mints a new token (new jti,
// iat and exp), so a retry, however late, never replays an expired or
// already seen token (BCL-30). The token has aud = client_id, sub = d.Sub
// when not empty and sid = the event's sid when it has one.
//
// A logout of all of a subject's sessions has no sid: the token names the
// sub only (BCL-12), except for a client that requires a sid
// (backchannel_logout_session_required), which gets one token per session
// it took part in, a few at a time. Every session is sent whatever the
// others' answers; the delivery succeeds when every one was accepted. It
// is retried (all of them again, fresh) when any failure was transient,
// and fails when the failures were all permanent: one session refused
// never keeps the others from their tokens.
//
// The error is permanent when the token cannot be minted (no key for the
// client's algorithm, neither sub nor sid) or the client answered a 3xx or
// a 4xx other than 408 and 429; otherwise a failure is transient.
func (p *Propagator) Propagate(ctx context.Context, d *propagate.Delivery) error {
	if d.Event.SID == "" && d.Client.BackchannelLogoutSessionRequired {
		sids := d.Event.SIDsOf(d.Client.ClientID, d.Sub)
		if len(sids) == 0 {
			return propagate.Permanent(fmt.Errorf("the client requires a sid and this logout names none of its sessions"))
		}
		return p.postEach(ctx, d, sids)
	}
	return p.post(ctx, d, d.Event.SID)
}

// sessionsInFlight bounds the tokens of one delivery sent at once.
const sessionsInFlight = 4

// postEach posts one token per sid, sessionsInFlight at a time, and joins
// the failures: transient when any is, so that the delivery is retried.
func (p *Propagator) postEach(ctx context.Context, d *propagate.Delivery, sids []string) error {
	errs := make([]error, len(sids))
	sem := make(chan struct{}, sessionsInFlight)
	var wg sync.WaitGroup
	for i, sid := range sids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := p.post(ctx, d, sid); err != nil {
				errs[i] = fmt.Errorf("session %s: %w", sid, err)
			}
		})
	}
	wg.Wait()
	var failed []error
	transient := false
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
			transient = transient || !propagate.IsPermanent(err)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case !transient:
		return propagate.Permanent(errors.Join(failed...))
	}
	// Retried: the permanent failures among them must not make the whole
	// permanent (IsPermanent looks through a join), so they keep only
	// their text; a transient one keeps its Retry-After.
	for i, err := range failed {
		if propagate.IsPermanent(err) {
			failed[i] = errors.New(err.Error())
		}
	}
	return errors.Join(failed...)
}

// post mints one logout token for sid (none when empty) and POSTs it.
func (p *Propagator) post(ctx context.Context, d *propagate.Delivery, sid string) error {
	c := d.Client
	// A compact JWS is base64url and dots: nothing to form-encode.
	form := append(make([]byte, 0, 1024), "logout_token="...)
	form, err := p.keys.AppendLogoutToken(form, c.SigningAlg(), p.issuer, c.ClientID, d.Sub, sid, time.Time{})
	if err != nil {
		return propagate.Permanent(fmt.Errorf("minting logout token: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI, bytes.NewReader(form))
	if err != nil {
		return propagate.Permanent(fmt.Errorf("building back-channel logout request: %w", err))
	}
	req.Header = http.Header{"Content-Type": p.contentType, "User-Agent": p.userAgent}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting logout token: %w", propagate.TransportError(err))
	}
	if err := propagate.CheckResponse(resp); err != nil {
		return fmt.Errorf("posting logout token: %w", err)
	}
	return nil
}
