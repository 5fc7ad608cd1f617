package rp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Back-Channel Logout 1.0 names.
const (
	// backchannelEvent is the member of a logout token's events claim.
	backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"
	// logoutTokenType is the typ header of a logout token (§2.4).
	logoutTokenType = "logout+jwt"
)

// Webhook verification (signoff's webhook worker signs
// "t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>").
const (
	webhookSignatureHeader = "Signoff-Signature"
	webhookTolerance       = 5 * time.Minute
)

// errLogoutToken prefixes every reason a logout token is rejected.
var errLogoutToken = errors.New("invalid logout token")

// errKeysUnavailable says that the token could not be checked because
// signoff's discovery or keys could not be fetched: a passing outage, not
// a bad token. The answer is 503, which signoff retries; a 400 would make
// it give up on the logout.
var errKeysUnavailable = errors.New("signoff's keys are unavailable")

// backchannelLogout is POST /backchannel-logout (Back-Channel Logout 1.0
// §2.8): it validates the logout token and ends the matching sessions. It
// answers 200, or 400 with a JSON error.
func (a *App) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		backchannelError(w, "invalid_request", "the form could not be read")
		return
	}
	raw := r.PostForm.Get("logout_token")
	claims, err := a.verifyLogoutToken(r.Context(), raw)
	if errors.Is(err, errKeysUnavailable) {
		a.log.WarnContext(r.Context(), "logout token not checked yet", "error", err)
		a.received.add(entry{Time: a.now(), Kind: "back-channel logout", Summary: "answered 503, signoff will retry: " + err.Error(), Detail: peek(raw)})
		w.Header().Set("Retry-After", "5")
		writeBackchannelError(w, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error())
		return
	}
	if err != nil {
		a.log.WarnContext(r.Context(), "logout token rejected", "error", err)
		a.received.add(entry{Time: a.now(), Kind: "back-channel logout", Summary: "rejected: " + err.Error(), Detail: peek(raw)})
		backchannelError(w, "invalid_request", err.Error())
		return
	}
	sid, _ := claims["sid"].(string)
	sub, _ := claims["sub"].(string)
	n := a.endSessions(sid, sub, "back-channel logout token from signoff")
	a.log.InfoContext(r.Context(), "back-channel logout", "sid", sid, "sub", sub, "ended", n)
	a.received.add(entry{
		Time: a.now(), Kind: "back-channel logout", OK: true,
		Summary: fmt.Sprintf("valid %s logout token for sid %s: %s", claims["_alg"], sid, endedSummary(n)),
		Detail:  indent(withoutPrivate(claims)),
	})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// verifyLogoutToken validates a logout token (Back-Channel Logout 1.0
// §2.6): signature by a key at signoff's jwks_uri with an asymmetric alg,
// typ logout+jwt, iss, aud, iat, exp, the events claim, sid and/or sub, no
// nonce, and a jti not seen before. The returned claims carry the alg as
// "_alg".
func (a *App) verifyLogoutToken(ctx context.Context, raw string) (jwt.MapClaims, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: no logout_token", errLogoutToken)
	}
	_, keys, err := a.op.discover(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errKeysUnavailable, err)
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, keys.KeyfuncCtx(ctx),
		jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA", "PS256"}),
		jwt.WithIssuer(a.cfg.Issuer),
		jwt.WithAudience(a.cfg.ClientID),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(time.Minute),
		jwt.WithTimeFunc(a.now),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errLogoutToken, err)
	}
	if typ, _ := tok.Header["typ"].(string); !strings.EqualFold(typ, logoutTokenType) && !strings.EqualFold(typ, "application/"+logoutTokenType) {
		return nil, fmt.Errorf("%w: typ %q, want %s", errLogoutToken, typ, logoutTokenType)
	}
	if _, ok := claims["iat"]; !ok {
		return nil, fmt.Errorf("%w: no iat", errLogoutToken)
	}
	events, _ := claims["events"].(map[string]any)
	if _, ok := events[backchannelEvent].(map[string]any); !ok {
		return nil, fmt.Errorf("%w: events lacks %s as an object", errLogoutToken, backchannelEvent)
	}
	sid, _ := claims["sid"].(string)
	sub, _ := claims["sub"].(string)
	if sid == "" && sub == "" {
		return nil, fmt.Errorf("%w: neither sid nor sub", errLogoutToken)
	}
	if _, ok := claims["nonce"]; ok {
		return nil, fmt.Errorf("%w: it has a nonce (an ID token?)", errLogoutToken)
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		return nil, fmt.Errorf("%w: no jti", errLogoutToken)
	}
	exp, _ := claims.GetExpirationTime()
	if !a.firstUse(jti, exp.Time) {
		return nil, fmt.Errorf("%w: jti %s was already used (replay)", errLogoutToken, jti)
	}
	claims["_alg"] = tok.Method.Alg()
	return claims, nil
}

// firstUse records jti until exp (plus leeway) and reports whether it was
// new.
func (a *App) firstUse(jti string, exp time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for j, until := range a.jtis {
		if now.After(until) {
			delete(a.jtis, j)
		}
	}
	if _, seen := a.jtis[jti]; seen {
		return false
	}
	a.jtis[jti] = exp.Add(time.Minute)
	return true
}

// backchannelError answers 400 with {"error", "error_description"} (§2.8).
func backchannelError(w http.ResponseWriter, code, description string) {
	writeBackchannelError(w, http.StatusBadRequest, code, description)
}

func writeBackchannelError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// frontchannelLogout is GET /frontchannel-logout?iss=&sid=, loaded in an
// iframe by signoff's signed-out page (Front-Channel Logout 1.0 §2-3): iss
// must be signoff's issuer; the sessions of sid end.
func (a *App) frontchannelLogout(w http.ResponseWriter, r *http.Request) {
	iss, sid := r.URL.Query().Get("iss"), r.URL.Query().Get("sid")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors "+origin(a.cfg.Issuer))
	kind := "front-channel logout"
	if iss != a.cfg.Issuer || sid == "" {
		a.received.add(entry{Time: a.now(), Kind: kind, Summary: fmt.Sprintf("rejected: iss %q, sid %q", iss, sid), Detail: "GET " + r.URL.RequestURI()})
		a.render(w, http.StatusBadRequest, "frontchannel", map[string]any{"OK": false})
		return
	}
	n := a.endSessions(sid, "", "front-channel logout from signoff's page")
	a.log.InfoContext(r.Context(), "front-channel logout", "sid", sid, "ended", n)
	a.received.add(entry{
		Time: a.now(), Kind: kind, OK: true,
		Summary: fmt.Sprintf("iframe for sid %s: %s", sid, endedSummary(n)), Detail: "GET " + r.URL.RequestURI(),
	})
	a.render(w, http.StatusOK, "frontchannel", map[string]any{"OK": true})
}

// webhook is POST /webhook: signoff's signed JSON logout event. The app
// checks the HMAC and records the event; it signs people out on the
// back-channel logout token, which carries the same news.
func (a *App) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusBadRequest)
		return
	}
	if err := verifyWebhook([]byte(a.cfg.WebhookSecret), r.Header.Get(webhookSignatureHeader), body, a.now()); err != nil {
		a.log.WarnContext(r.Context(), "webhook rejected", "error", err)
		a.received.add(entry{Time: a.now(), Kind: "webhook", Summary: "rejected: " + err.Error(), Detail: string(body)})
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev map[string]any
	detail := string(body)
	if json.Unmarshal(body, &ev) == nil {
		detail = indent(ev)
	}
	a.received.add(entry{
		Time: a.now(), Kind: "webhook", OK: true,
		Summary: fmt.Sprintf("signed %v event, logout %v", ev["type"], ev["logout_id"]), Detail: detail,
	})
	w.WriteHeader(http.StatusNoContent)
}

// verifyWebhook checks a Signoff-Signature header: exactly one t, within
// the tolerance of now, and one v1 that is HMAC-SHA256(secret,
// "<t>.<body>"), compared in constant time.
func verifyWebhook(secret []byte, header string, body []byte, now time.Time) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			if ts != "" {
				return errors.New("webhook signature: two t")
			}
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, sig)
			}
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("webhook signature: malformed " + webhookSignatureHeader)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	ok := false
	for _, s := range sigs {
		ok = hmac.Equal(s, want) || ok
	}
	if !ok {
		return errors.New("webhook signature: does not match")
	}
	if age := now.Sub(time.Unix(unix, 0)); age > webhookTolerance || age < -webhookTolerance {
		return errors.New("webhook signature: timestamp outside the tolerance")
	}
	return nil
}

// withoutPrivate drops the claims the app added (names starting with _).
func withoutPrivate(c jwt.MapClaims) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		if !strings.HasPrefix(k, "_") {
			out[k] = v
		}
	}
	return out
}

// peek returns the start of a rejected token, for the page.
func peek(raw string) string {
	if len(raw) > 120 {
		return raw[:120] + "…"
	}
	return raw
}

// origin returns the scheme://host[:port] of u.
func origin(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// endedSummary says what a logout did here: with both channels, the first
// to arrive ends the session and the second finds it ended already.
func endedSummary(n int) string {
	if n == 0 {
		return "already signed out here"
	}
	return fmt.Sprintf("ended %d local session(s)", n)
}
