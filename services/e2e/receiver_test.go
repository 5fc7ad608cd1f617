//go:build unix

package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Delivery channels, as the ledger names them.
const (
	chanBackchannel = "backchannel"
	chanWebhook     = "webhook"
	chanEvents      = "events"
)

// backchannelEvent is the one member of a logout token's events claim.
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// relyingParty is one registered client, played by an HTTP server in the
// test process: a back-channel logout receiver when alg is set, a webhook
// receiver when secret is set. When events is set, the client has
// logout_events and the test also follows its logouts on NATS, as an app
// would (see logoutSubscriber).
type relyingParty struct {
	id     string
	alg    string // logout token algorithm; "" for no back-channel URI
	secret string // webhook secret; "" for no webhook
	events bool   // logout_events: its logouts on signoff.v1.logout.<id>
	// failFirst makes the first POST of a session on a channel answer 503
	// when it returns true for the session's number, so that some
	// deliveries go through the retry stage.
	failFirst func(channel string, n int) bool
	pairwise  bool // the client gets its own sub, not the session's
	srv       *httptest.Server
}

func (rp *relyingParty) base() string         { return rp.srv.URL }
func (rp *relyingParty) signedOutURL() string { return rp.base() + "/signed-out" }

// channels are the deliveries this client expects for each logout.
func (rp *relyingParty) channels() []string {
	var chs []string
	if rp.alg != "" {
		chs = append(chs, chanBackchannel)
	}
	if rp.secret != "" {
		chs = append(chs, chanWebhook)
	}
	if rp.events {
		chs = append(chs, chanEvents)
	}
	return chs
}

// expectation is what the receivers know of one session before it ends.
type expectation struct {
	n        int               // the session's number
	subs     map[string]string // client_id -> the sub reported for it
	reason   string            // end_session or api
	logoutID string            // from the ending call's answer, when it said
}

// receiptKey names what one client received for one session on one
// channel.
type receiptKey struct{ client, channel, sid string }

// receivers is the state of every relying party's server: what arrived,
// what was wrong with it.
type receivers struct {
	issuer string
	rps    []*relyingParty

	mu       sync.Mutex
	keys     map[string]jwk           // kid -> public key, from jwks_uri
	expect   map[string]*expectation  // sid -> expectation
	receipts map[receiptKey]int       // valid requests
	firstAt  map[receiptKey]time.Time // when the first valid request came
	logoutID map[receiptKey]string    // the logout_id of a webhook or client logout
	failed   map[receiptKey]bool      // the injected 503 was answered
	injected int                      // injected 503s
	problems []string                 // invalid requests
	jtis     map[string]receiptKey    // every logout token's jti
	posts    int                      // requests, valid or not
}

func newReceivers(rps []*relyingParty) *receivers {
	r := &receivers{rps: rps, expect: map[string]*expectation{}, receipts: map[receiptKey]int{}, firstAt: map[receiptKey]time.Time{},
		logoutID: map[receiptKey]string{}, failed: map[receiptKey]bool{}, jtis: map[string]receiptKey{}}
	for _, rp := range rps {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /backchannel-logout", func(w http.ResponseWriter, req *http.Request) {
			r.backchannel(rp, w, req)
		})
		mux.HandleFunc("POST /webhook", func(w http.ResponseWriter, req *http.Request) {
			r.webhook(rp, w, req)
		})
		rp.srv = httptest.NewServer(mux)
	}
	return r
}

func (r *receivers) close() {
	for _, rp := range r.rps {
		rp.srv.Close()
	}
}

// expectSession records what a session's logout must carry. It is called
// before the session ends.
func (r *receivers) expectSession(sid string, e *expectation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expect[sid] = e
}

func (r *receivers) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) < 1000 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

// answer writes the receiver's answer: 400 for an invalid request (a
// permanent failure: the delivery would never be delivered and the test
// fails), 503 once for the sessions that rp.failFirst picks, else 200.
// A short delay keeps deliveries in flight, as a real application's
// processing would, so that a killed worker has some.
func (r *receivers) answer(w http.ResponseWriter, rp *relyingParty, k receiptKey, bad error) {
	time.Sleep(20 * time.Millisecond)
	if bad != nil {
		r.problem("%s %s: %v", k.client, k.channel, bad)
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	e := r.expect[k.sid]
	inject := e != nil && rp.failFirst != nil && rp.failFirst(k.channel, e.n) && !r.failed[k]
	if inject {
		r.failed[k] = true
		r.injected++
	} else {
		r.receipts[k]++
		if r.receipts[k] == 1 {
			r.firstAt[k] = time.Now()
		}
	}
	r.mu.Unlock()
	if inject {
		http.Error(w, "injected failure, try again", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (r *receivers) countPost() {
	r.mu.Lock()
	r.posts++
	r.mu.Unlock()
}

// backchannel receives a logout token (Back-Channel Logout 1.0 §2.5) and
// validates it as §2.6 asks of a relying party.
func (r *receivers) backchannel(rp *relyingParty, w http.ResponseWriter, req *http.Request) {
	r.countPost()
	k := receiptKey{client: rp.id, channel: chanBackchannel}
	if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		r.answer(w, rp, k, fmt.Errorf("content type %q", ct))
		return
	}
	if err := req.ParseForm(); err != nil {
		r.answer(w, rp, k, err)
		return
	}
	sid, err := r.verifyLogoutToken(rp, req.PostForm.Get("logout_token"))
	k.sid = sid
	r.answer(w, rp, k, err)
}

// verifyLogoutToken checks a logout token's signature (against the key
// named by its kid at jwks_uri, with the client's registered algorithm),
// header and claims, and returns its sid.
func (r *receivers) verifyLogoutToken(rp *relyingParty, raw string) (string, error) {
	if raw == "" {
		return "", errors.New("no logout_token")
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		r.mu.Lock()
		k, ok := r.keys[kid]
		r.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("kid %q is not at jwks_uri", kid)
		}
		if k.alg != rp.alg {
			return nil, fmt.Errorf("kid %q is a %s key, the client registered %s", kid, k.alg, rp.alg)
		}
		return k.pub, nil
	},
		jwt.WithValidMethods([]string{rp.alg}),
		jwt.WithIssuer(r.issuer),
		jwt.WithAudience(rp.id),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		return "", fmt.Errorf("logout token: %w", err)
	}
	if typ, _ := tok.Header["typ"].(string); typ != "logout+jwt" {
		return "", fmt.Errorf("logout token typ %q", typ)
	}
	events, _ := claims["events"].(map[string]any)
	if ev, ok := events[backchannelEvent].(map[string]any); !ok || len(ev) != 0 || len(events) != 1 {
		return "", fmt.Errorf("logout token events %v", claims["events"])
	}
	if _, ok := claims["nonce"]; ok {
		return "", errors.New("logout token has a nonce")
	}
	jti, _ := claims["jti"].(string)
	sid, _ := claims["sid"].(string)
	sub, _ := claims["sub"].(string)
	if jti == "" || sid == "" {
		return sid, fmt.Errorf("logout token jti %q, sid %q: both required", jti, sid)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.expect[sid]
	switch {
	case !ok:
		return sid, fmt.Errorf("logout token for unknown sid %q", sid)
	case e.subs[rp.id] == "":
		return sid, fmt.Errorf("logout token for sid %q, in which the client took no part", sid)
	case sub != "" && sub != e.subs[rp.id]:
		return sid, fmt.Errorf("logout token sub %q for sid %q, want %q", sub, sid, e.subs[rp.id])
	}
	if prev, ok := r.jtis[jti]; ok {
		return sid, fmt.Errorf("logout token jti %q reused (first for %v)", jti, prev)
	}
	r.jtis[jti] = receiptKey{client: rp.id, channel: chanBackchannel, sid: sid}
	return sid, nil
}

// webhookPayload is the JSON body of a webhook (services/webhook).
type webhookPayload struct {
	Type     string    `json:"type"`
	LogoutID string    `json:"logout_id"`
	SID      string    `json:"sid"`
	Sub      string    `json:"sub"`
	Iss      string    `json:"iss"`
	ClientID string    `json:"client_id"`
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
}

// webhook receives a signed webhook and checks it as a receiver must:
// Signoff-Signature is "t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)>",
// t within five minutes of now; then the payload.
func (r *receivers) webhook(rp *relyingParty, w http.ResponseWriter, req *http.Request) {
	r.countPost()
	k := receiptKey{client: rp.id, channel: chanWebhook}
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<10))
	if err != nil {
		r.answer(w, rp, k, err)
		return
	}
	if err := verifySignature([]byte(rp.secret), req.Header.Get("Signoff-Signature"), body, time.Now()); err != nil {
		r.answer(w, rp, k, err)
		return
	}
	var p webhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		r.answer(w, rp, k, fmt.Errorf("webhook body: %w", err))
		return
	}
	k.sid = p.SID
	r.answer(w, rp, k, r.checkPayload(rp, &p, req.Header.Get("Signoff-Event-Id")))
}

func (r *receivers) checkPayload(rp *relyingParty, p *webhookPayload, eventID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.expect[p.SID]
	switch {
	case !ok:
		return fmt.Errorf("webhook for unknown sid %q", p.SID)
	case p.Type != "signoff.logout" || p.Iss != r.issuer || p.ClientID != rp.id:
		return fmt.Errorf("webhook type %q, iss %q, client_id %q", p.Type, p.Iss, p.ClientID)
	case e.subs[rp.id] == "" || p.Sub != e.subs[rp.id]:
		return fmt.Errorf("webhook sub %q for sid %q, want %q", p.Sub, p.SID, e.subs[rp.id])
	case p.LogoutID == "" || eventID != p.LogoutID:
		return fmt.Errorf("webhook logout_id %q, Signoff-Event-Id %q", p.LogoutID, eventID)
	case p.Reason != e.reason:
		return fmt.Errorf("webhook reason %q for sid %q, want %q", p.Reason, p.SID, e.reason)
	case p.Time.IsZero():
		return errors.New("webhook without time")
	}
	k := receiptKey{client: rp.id, channel: chanWebhook, sid: p.SID}
	if prev, ok := r.logoutID[k]; ok && prev != p.LogoutID {
		return fmt.Errorf("webhook logout_id %q for sid %q, earlier %q", p.LogoutID, p.SID, prev)
	}
	r.logoutID[k] = p.LogoutID
	return nil
}

// verifySignature is a receiver's check of Signoff-Signature.
func verifySignature(secret []byte, header string, body []byte, now time.Time) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		key, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch key {
		case "t":
			if ts != "" {
				return errors.New("signature: two t")
			}
			ts = value
		case "v1":
			if sig, err := hex.DecodeString(value); err == nil {
				sigs = append(sigs, sig)
			}
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("signature header %q: want t=<unix>,v1=<hex>", header)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	ok := false
	for _, sig := range sigs {
		ok = ok || hmac.Equal(sig, want)
	}
	if !ok {
		return errors.New("signature does not match the body")
	}
	if age := now.Sub(time.Unix(unix, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return fmt.Errorf("signature timestamp %s off", age)
	}
	return nil
}
