package main

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/keys"
)

// TestVerifyAcceptsTheProductsToken: the token the product's signer makes
// for client cN is accepted and recorded for its sid, as is one crafted
// with golang-jwt from the claims every refusal below breaks one of (so
// that a refusal is that rule's).
func TestVerifyAcceptsTheProductsToken(t *testing.T) {
	ks := newTestKeys(t)
	r := newTestReceivers(t, scenario{K: 3, Alg: keys.ES256}, ks)

	for _, tc := range []struct{ name, sid, raw string }{
		{"product's signer", "sid-signer", logoutToken(t, ks, keys.ES256, r.issuer, "c1", "sid-signer")},
		{"crafted", "sid-crafted", craft(t, ks, logoutClaims(r.issuer, "c1", "sid-crafted"), nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := time.Now()
			code, body := post(t, r, "c1", tc.raw)
			returned := time.Now()
			require.Equal(t, 200, code, body)
			at, ok := recorded(r, tc.sid, "c1")
			require.True(t, ok, "token not recorded for its sid and client")
			assert.False(t, at.Before(sent), "recorded before it was sent")
			assert.False(t, at.After(returned), "recorded after the answer")
			_, ok = recorded(r, tc.sid, "c0")
			assert.False(t, ok, "recorded for another client")
		})
	}
	assert.Zero(t, r.invalid.Load())
	assert.Len(t, r.jtis, 2)
}

// TestVerifyRefuses: every token that breaks one rule of Back-Channel
// Logout 1.0 §2.4 (or the form of §2.5) is refused with 400, counted
// invalid and recorded for no one. The scenario signs with ES256; the
// published JWK Set also holds the product's RS256 and EdDSA keys.
func TestVerifyRefuses(t *testing.T) {
	ks := newTestKeys(t, keys.RS256, keys.EdDSA)
	r := newTestReceivers(t, scenario{K: 3, Alg: keys.ES256}, ks)
	iss := r.issuer
	// claims are a valid token's for c1 with sid, changed by change.
	claims := func(sid string, change func(jwt.MapClaims)) jwt.MapClaims {
		c := logoutClaims(iss, "c1", sid)
		change(c)
		return c
	}
	events := func(v any) func(jwt.MapClaims) { return func(c jwt.MapClaims) { c["events"] = v } }
	reused := logoutToken(t, ks, keys.ES256, iss, "c1", "sid-reused")
	code, body := post(t, r, "c1", reused)
	require.Equal(t, 200, code, body)

	tests := []struct {
		name string
		raw  func(t *testing.T, sid string) string
		// extra are form parameters besides logout_token.
		extra url.Values
		// reason is in the answer's error_description: the token was
		// refused for the rule it breaks.
		reason string
	}{
		{name: "typ JWT", reason: "typ", raw: func(t *testing.T, sid string) string {
			return craft(t, ks, logoutClaims(iss, "c1", sid), func(h map[string]any) { h["typ"] = "JWT" })
		}},
		{name: "no typ", reason: "typ", raw: func(t *testing.T, sid string) string {
			return craft(t, ks, logoutClaims(iss, "c1", sid), func(h map[string]any) { delete(h, "typ") })
		}},
		{name: "unknown kid, the right key", reason: "unknown kid", raw: func(t *testing.T, sid string) string {
			return craft(t, ks, logoutClaims(iss, "c1", sid), func(h map[string]any) { h["kid"] = "not-published" })
		}},
		{name: "RS256, a published key but not the scenario's algorithm", reason: "signing method", raw: func(t *testing.T, sid string) string {
			return logoutToken(t, ks, keys.RS256, iss, "c1", sid)
		}},
		{name: "EdDSA, a published key but not the scenario's algorithm", reason: "signing method", raw: func(t *testing.T, sid string) string {
			return logoutToken(t, ks, keys.EdDSA, iss, "c1", sid)
		}},
		{name: "HS256 keyed with the published JWK Set", reason: "signing method", raw: func(t *testing.T, sid string) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, logoutClaims(iss, "c1", sid))
			tok.Header["kid"], tok.Header["typ"] = ks.kid, keys.LogoutTokenType
			raw, err := tok.SignedString(ks.set.JWKS())
			require.NoError(t, err)
			return raw
		}},
		{name: "alg none", reason: "signing method", raw: func(t *testing.T, sid string) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, logoutClaims(iss, "c1", sid))
			tok.Header["kid"], tok.Header["typ"] = ks.kid, keys.LogoutTokenType
			raw, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			require.NoError(t, err)
			return raw
		}},
		{name: "another issuer", reason: "issuer", raw: func(t *testing.T, sid string) string {
			return logoutToken(t, ks, keys.ES256, "http://other.example", "c1", sid)
		}},
		{name: "another client's audience", reason: "audience", raw: func(t *testing.T, sid string) string {
			tok, err := ks.set.LogoutToken(keys.ES256, iss, "c2", "sub-c1", sid, time.Now())
			require.NoError(t, err)
			return tok
		}},
		{name: "exp 2m1s after iat", reason: "exp too far", raw: func(t *testing.T, sid string) string {
			return craft(t, ks, claims(sid, func(c jwt.MapClaims) {
				c["exp"] = c["iat"].(int64) + int64((keys.LogoutTokenLifetime+time.Second)/time.Second)
			}), nil)
		}},
		{name: "nonce", reason: "nonce", raw: func(t *testing.T, sid string) string {
			return craft(t, ks, claims(sid, func(c jwt.MapClaims) { c["nonce"] = "n-1" }), nil)
		}},
		{name: "no events", reason: "events", raw: func(t *testing.T, sid string) string {
			return craft(t, ks, claims(sid, func(c jwt.MapClaims) { delete(c, "events") }), nil)
		}},
		{name: "events with another member", reason: "events", raw: func(t *testing.T, sid string) string {
			return craft(t, ks, claims(sid, events(map[string]any{
				keys.BackchannelLogoutEvent: map[string]any{}, "urn:example:other": map[string]any{},
			})), nil)
		}},
		{name: "event value not {}", reason: "events", raw: func(t *testing.T, sid string) string {
			return craft(t, ks, claims(sid, events(map[string]any{
				keys.BackchannelLogoutEvent: map[string]any{"x": 1},
			})), nil)
		}},
		{name: "another event", reason: "events", raw: func(t *testing.T, sid string) string {
			return craft(t, ks, claims(sid, events(map[string]any{
				"http://schemas.openid.net/event/backchannel-logout/x": map[string]any{},
			})), nil)
		}},
		{name: "another client's sub", reason: "sub", raw: func(t *testing.T, sid string) string {
			tok, err := ks.set.LogoutToken(keys.ES256, iss, "c1", "sub-c2", sid, time.Now())
			require.NoError(t, err)
			return tok
		}},
		{name: "reused jti", reason: "reused", raw: func(*testing.T, string) string { return reused }},
		{name: "no sid", reason: "sid missing", raw: func(t *testing.T, sid string) string {
			return craft(t, ks, claims(sid, func(c jwt.MapClaims) { delete(c, "sid") }), nil)
		}},
		{name: "no iat", reason: "iat or exp missing", raw: func(t *testing.T, sid string) string {
			return craft(t, ks, claims(sid, func(c jwt.MapClaims) { delete(c, "iat") }), nil)
		}},
		{name: "a second form parameter", extra: url.Values{"state": {"x"}}, raw: func(t *testing.T, sid string) string {
			return logoutToken(t, ks, keys.ES256, iss, "c1", sid)
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sid := fmt.Sprintf("sid-refused-%d", i)
			before := r.invalid.Load()
			form := url.Values{"logout_token": {tc.raw(t, sid)}}
			for k, v := range tc.extra {
				form[k] = v
			}
			code, body, err := postForm(t.Context(), r, "c1", form)
			require.NoError(t, err)
			assert.Equal(t, 400, code, body)
			assert.Contains(t, body, tc.reason)
			assert.Equal(t, before+1, r.invalid.Load(), "not counted invalid")
			_, ok := recorded(r, sid, "c1")
			assert.False(t, ok, "a refused token was recorded")
		})
	}
	assert.Equal(t, int64(len(tests)), r.invalid.Load())
	r.mu.Lock()
	defer r.mu.Unlock()
	assert.Equal(t, []string{"sid-reused"}, slices.Sorted(maps.Keys(r.got)), "only the valid token is recorded")
	assert.Len(t, r.jtis, 1, "only the valid token counts as verified")
}

// TestComplete: a session is complete once every healthy client has its
// token, at the latest arrival; the Hang clients (c0 here) never answer
// and are not waited for.
func TestComplete(t *testing.T) {
	ks := newTestKeys(t)
	r := newTestReceivers(t, scenario{K: 3, Alg: keys.ES256, Hang: 1}, ks)
	const sid = "sid-complete"

	_, ok := r.complete(sid)
	assert.False(t, ok, "complete before any token")
	code, body := post(t, r, "c1", logoutToken(t, ks, keys.ES256, r.issuer, "c1", sid))
	require.Equal(t, 200, code, body)
	_, ok = r.complete(sid)
	assert.False(t, ok, "complete with c2 still missing")

	// c0 hangs: its request stays unanswered until it is given up.
	ctx, cancel := context.WithCancel(t.Context())
	hung := make(chan error, 1)
	c0 := url.Values{"logout_token": {logoutToken(t, ks, keys.ES256, r.issuer, "c0", sid)}}
	go func() {
		_, _, err := postForm(ctx, r, "c0", c0)
		hung <- err
	}()
	require.Eventually(t, func() bool { return r.requests.Load() == 2 }, 10*time.Second, time.Millisecond)

	sent := time.Now()
	code, body = post(t, r, "c2", logoutToken(t, ks, keys.ES256, r.issuer, "c2", sid))
	returned := time.Now()
	require.Equal(t, 200, code, body)
	last, ok := r.complete(sid)
	require.True(t, ok, "not complete with every healthy client's token")
	c1, _ := recorded(r, sid, "c1")
	c2, _ := recorded(r, sid, "c2")
	assert.Equal(t, c2, last, "not the latest arrival")
	assert.True(t, c1.Before(last))
	assert.False(t, last.Before(sent) || last.After(returned), "latest arrival outside c2's request")

	cancel()
	require.ErrorIs(t, <-hung, context.Canceled, "the hanging client answered")
	r.close() // releases c0's handler and waits for it to return
	_, ok = recorded(r, sid, "c0")
	assert.False(t, ok, "a hanging client's token was recorded")
	again, ok := r.complete(sid)
	assert.True(t, ok)
	assert.Equal(t, last, again)
}

// TestDelayRecordsArrivalPlusDelay: with a Delay, a client has its token
// at arrival plus the delay, not when the receiver's sleep wakes; how late
// the sleep woke is kept for the footnote.
//
// The test holds r.mu while the request is served, so the handler, once
// its sleep is over, blocks where it records the overshoot. The moment the
// test sees it blocked there is after the wake-up; a token recorded at the
// wake-up (or later) would be recorded after that moment.
func TestDelayRecordsArrivalPlusDelay(t *testing.T) {
	const delay = 20 * time.Millisecond
	ks := newTestKeys(t)
	r := newTestReceivers(t, scenario{K: 1, Alg: keys.ES256, Delay: delay}, ks)
	const sid = "sid-delay"
	raw := logoutToken(t, ks, keys.ES256, r.issuer, "c0", sid)

	r.mu.Lock()
	locked := true
	defer func() {
		if locked {
			r.mu.Unlock()
		}
	}()
	sent := time.Now()
	answer := make(chan int, 1)
	go func() {
		code, _, _ := postForm(t.Context(), r, "c0", url.Values{"logout_token": {raw}})
		answer <- code
	}()
	require.Eventually(t, handlerWaitsForLock, 10*time.Second, time.Millisecond,
		"the handler never waited for r.mu after its sleep")
	woken := time.Now()
	r.mu.Unlock()
	locked = false
	require.Equal(t, 200, <-answer)

	at, ok := recorded(r, sid, "c0")
	require.True(t, ok)
	r.mu.Lock()
	overshot := slices.Clone(r.overshot)
	r.mu.Unlock()
	assert.False(t, at.Add(-delay).Before(sent), "recorded minus the delay is before the request was sent")
	assert.True(t, at.Before(woken), "recorded at the sleep's wake-up, not at arrival plus delay")
	require.Len(t, overshot, 1)
	assert.GreaterOrEqual(t, overshot[0], time.Duration(0))
	assert.False(t, at.Add(overshot[0]).After(woken), "arrival plus delay plus overshoot is after the wake-up")

	res := result{s: r.s, overshot: overshot}
	note := res.footnote()
	assert.Contains(t, note, r.s.String())
	assert.Contains(t, note, "20ms sleeps woke late by "+pct(overshot, 50))
}

// handlerWaitsForLock reports whether a receivers handler is blocked on
// r.mu.
func handlerWaitsForLock() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "(*receivers).serve") && strings.Contains(g, "sync.(*Mutex).Lock") {
			return true
		}
	}
	return false
}

// TestNoDelayNoFootnote: without a delay nothing sleeps, no overshoot is
// kept and the table gets no footnote.
func TestNoDelayNoFootnote(t *testing.T) {
	ks := newTestKeys(t)
	r := newTestReceivers(t, scenario{K: 1, Alg: keys.ES256}, ks)
	sent := time.Now()
	code, body := post(t, r, "c0", logoutToken(t, ks, keys.ES256, r.issuer, "c0", "sid-nodelay"))
	returned := time.Now()
	require.Equal(t, 200, code, body)
	at, ok := recorded(r, "sid-nodelay", "c0")
	require.True(t, ok)
	assert.False(t, at.Before(sent) || at.After(returned))
	r.mu.Lock()
	overshot := slices.Clone(r.overshot)
	r.mu.Unlock()
	assert.Empty(t, overshot)
	res := result{s: r.s, overshot: overshot}
	assert.Empty(t, res.footnote())
}

// TestFailDraw: a token's draw is the same each time (a retry of the same
// token is not a new chance) and draws spread evenly over 0..99, so
// FailPercent is the share of answers that are 500.
func TestFailDraw(t *testing.T) {
	ks := newTestKeys(t)
	raw, err := ks.set.LogoutToken(keys.ES256, "http://signoff.test", "c0", "sub-c0", "sid", time.Now())
	require.NoError(t, err)
	d := failDraw(raw)
	for range 3 {
		assert.Equal(t, d, failDraw(raw))
	}
	assert.Equal(t, d, failDraw(strings.Clone(raw)))

	// The draws of 10000 distinct token-like strings (fixed, so the
	// counts are too): every value is drawn, about as often as any other.
	const n = 10000
	var counts [100]int
	for i := range n {
		v := failDraw(fmt.Sprintf("eyJhbGciOiJFUzI1NiJ9.%d.sig", i))
		require.True(t, v >= 0 && v < 100, "draw %d", v)
		counts[v]++
	}
	below20 := 0
	for v, c := range counts {
		assert.Positive(t, c, "%d never drawn", v)
		assert.Less(t, c, 3*n/100, "%d drawn %d times", v, c)
		if v < 20 {
			below20 += c
		}
	}
	assert.InDelta(t, 0.20, float64(below20)/n, 0.02, "share of draws below 20")
}
