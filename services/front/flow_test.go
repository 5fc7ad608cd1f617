package front_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/front"
	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
)

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formOf returns the confirmation form's fields, HTML-unescaped.
func formOf(t testing.TB, body string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], htmlUnescape(m[2]))
	}
	require.NotEmpty(t, v.Get("csrf_token"), "no csrf token in %s", body)
	return v
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&#34;", `"`, "&#39;", "'", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&#43;", "+", "&quot;", `"`)
	return r.Replace(s)
}

func TestConfirmationFlow(t *testing.T) {
	e := newEnv(t)
	const reg = "https://app1.example.com/signed-out"

	t.Run("yes ends the browser's session and redirects with state", func(t *testing.T) {
		e.join("s-yes", "app1", "alice")
		b := newBrowser(t)
		e.setCookie(b, "s-yes")
		r := e.do(b, http.MethodGet, "/connect/endsession", url.Values{"client_id": {"app1"}, "post_logout_redirect_uri": {reg}, "state": {state90}})
		require.Equal(t, 200, r.status)
		// The form may end at the RP after its redirect (CSP form-action).
		assert.Contains(t, r.header.Get("Content-Security-Policy"), "form-action 'self' https://app1.example.com")
		s, _ := e.front.Index().Session("s-yes")
		assert.False(t, s.Ended(), "nothing ends before the person confirms")

		form := formOf(t, r.body)
		assert.Equal(t, state90, form.Get("state"))
		form.Set("confirm", "yes")
		r = e.do(b, http.MethodPost, "/connect/endsession/confirm", form)
		assert.Equal(t, 303, r.status)
		assert.Equal(t, reg+"?state="+url.QueryEscape(state90), r.location)
		s, _ = e.front.Index().Session("s-yes")
		assert.True(t, s.Ended())
		// The IdP's session cookie is expired.
		assert.Contains(t, strings.Join(r.header.Values("Set-Cookie"), "\n"), "idp_session=; Path=/; Max-Age=0")
	})

	t.Run("no leaves everything alone", func(t *testing.T) {
		e.join("s-no", "app1", "alice")
		b := newBrowser(t)
		e.setCookie(b, "s-no")
		r := e.do(b, http.MethodGet, "/connect/endsession", nil)
		form := formOf(t, r.body)
		form.Set("confirm", "no")
		r = e.do(b, http.MethodPost, "/connect/endsession/confirm", form)
		assert.Equal(t, 200, r.status)
		assert.Contains(t, r.body, "You are still signed in")
		s, _ := e.front.Index().Session("s-no")
		assert.False(t, s.Ended())
	})

	t.Run("a forged confirmation ends nothing (CSRF)", func(t *testing.T) {
		e.join("s-csrf", "app1", "alice")
		victim := newBrowser(t)
		e.setCookie(victim, "s-csrf")
		// The victim has a confirmation cookie of its own.
		_ = formOf(t, e.do(victim, http.MethodGet, "/connect/endsession", nil).body)
		// The attacker's own page gives a token for the attacker's cookie.
		attacker := newBrowser(t)
		form := formOf(t, e.do(attacker, http.MethodGet, "/connect/endsession", nil).body)
		form.Set("confirm", "yes")
		r := e.do(victim, http.MethodPost, "/connect/endsession/confirm", form)
		assert.Equal(t, 400, r.status)
		assert.Contains(t, r.body, "did not come from this site")
		// A GET with a forged "yes" is just a new request: it asks again.
		form.Del("csrf_token")
		r = e.do(victim, http.MethodGet, "/connect/endsession/confirm", form)
		assert.Equal(t, 405, r.status)
		s, _ := e.front.Index().Session("s-csrf")
		assert.False(t, s.Ended())
	})

	t.Run("a confirmation posted from another site ends nothing, even with a valid token", func(t *testing.T) {
		e.join("s-site", "app1", "alice")
		b := newBrowser(t)
		e.setCookie(b, "s-site")
		form := formOf(t, e.do(b, http.MethodGet, "/connect/endsession", nil).body)
		form.Set("confirm", "yes")
		for _, h := range [][2]string{{"Sec-Fetch-Site", "same-site"}, {"Sec-Fetch-Site", "cross-site"}, {"Origin", "http://evil.example.com"}} {
			r := e.do(b, http.MethodPost, "/connect/endsession/confirm", form, h[0], h[1])
			assert.Equal(t, 400, r.status, h)
			assert.Contains(t, r.body, "did not come from this site", h)
		}
		s, _ := e.front.Index().Session("s-site")
		assert.False(t, s.Ended())
		// signoff's own page: same-origin, or an older browser's null
		// origin (the pages' no-referrer policy).
		r := e.do(b, http.MethodPost, "/connect/endsession/confirm", form, "Sec-Fetch-Site", "same-origin", "Origin", "null")
		assert.Equal(t, 200, r.status)
		s, _ = e.front.Index().Session("s-site")
		assert.True(t, s.Ended())
	})

	t.Run("a hint from another session than the browser's is suspect (RIL-13)", func(t *testing.T) {
		e.join("s-x", "app1", "alice")
		e.join("s-y", "app1", "mallory")
		b := newBrowser(t)
		e.setCookie(b, "s-y")
		r := e.do(b, http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app1", "alice", "s-x", time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {reg}})
		assert.Equal(t, 200, r.status)
		assert.Contains(t, r.body, "may not come from you")
		for _, sid := range []string{"s-x", "s-y"} {
			s, _ := e.front.Index().Session(sid)
			assert.False(t, s.Ended(), sid)
		}
		r = e.confirm(b, r.body)
		assert.Equal(t, 303, r.status)
		assert.Equal(t, reg, r.location)
		for _, sid := range []string{"s-x", "s-y"} {
			s, _ := e.front.Index().Session(sid)
			assert.True(t, s.Ended(), sid)
		}
	})

	t.Run("a valid hint for the browser's own live session asks nothing", func(t *testing.T) {
		e.join("s-own", "app1", "alice")
		b := newBrowser(t)
		e.setCookie(b, "s-own")
		r := e.do(b, http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app1", "alice", "s-own", time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {reg}, "state": {"q"}})
		assert.Equal(t, 302, r.status)
		assert.Equal(t, reg+"?state=q", r.location)
	})

	t.Run("a hint for a session its client was not in is suspect (RIL-12)", func(t *testing.T) {
		e.join("s-other-client", "app1", "alice")
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint":            {e.hint("app2", "bob", "s-other-client", time.Now().Add(time.Hour))},
			"post_logout_redirect_uri": {"https://app2.example.com/done/"}})
		assert.Equal(t, 200, r.status)
		assert.Contains(t, r.body, "may not come from you")
		s, _ := e.front.Index().Session("s-other-client")
		assert.False(t, s.Ended(), "nothing ends before the person confirms")
		// Once app2 took part, the same hint ends the session at once.
		e.join("s-other-client", "app2", "bob")
		r = e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint":            {e.hint("app2", "bob", "s-other-client", time.Now().Add(time.Hour))},
			"post_logout_redirect_uri": {"https://app2.example.com/done/"}})
		assert.Equal(t, 302, r.status)
		assert.Equal(t, "https://app2.example.com/done/", r.location)
	})

	t.Run("once confirmed, the hint's client is notified too, though the index did not have it (RIL-26, BCL-23)", func(t *testing.T) {
		e.join("s-unreported", "app1", "alice")
		b := newBrowser(t)
		r := e.do(b, http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint":            {e.hint("app2", "bob", "s-unreported", time.Now().Add(time.Hour))},
			"post_logout_redirect_uri": {"https://app2.example.com/done/"}, "state": {"q"}})
		require.Contains(t, r.body, "may not come from you")
		r = e.confirm(b, r.body)
		assert.Equal(t, 303, r.status)
		assert.Equal(t, "https://app2.example.com/done/?state=q", r.location)
		var ended *event.SessionEnded
		for _, ev := range e.endedEvents() {
			if ev.SID == "s-unreported" {
				ended = ev
			}
		}
		require.NotNil(t, ended)
		assert.ElementsMatch(t, []event.Participant{{ClientID: "app1", Sub: "alice"}, {ClientID: "app2", Sub: "bob"}}, ended.Clients)
		assert.Equal(t, "app2", ended.InitiatingClientID)
		s, _ := e.front.Index().Session("s-unreported")
		assert.ElementsMatch(t, []index.Client{{ClientID: "app1", Sub: "alice"}, {ClientID: "app2", Sub: "bob"}}, s.Clients,
			"the index lists the client it notified")
		// The IdP's report of app2 comes after all: it was in the logout,
		// so it gets no second one.
		before := len(e.endedEvents())
		assert.Equal(t, http.StatusConflict, e.report("s-unreported", "app2", "bob"))
		assert.Len(t, e.endedEvents(), before, "no late logout for a client the logout notified")
	})

	t.Run("a hint for another user of the session's client is suspect (RIL-13)", func(t *testing.T) {
		e.join("s-sub", "app2", "alice")
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint":            {e.hint("app2", "mallory", "s-sub", time.Now().Add(time.Hour))},
			"post_logout_redirect_uri": {"https://app2.example.com/done/"}})
		assert.Equal(t, 200, r.status)
		assert.Contains(t, r.body, "may not come from you")
		s, _ := e.front.Index().Session("s-sub")
		assert.False(t, s.Ended(), "nothing ends before the person confirms")
	})

	t.Run("a logout_hint naming someone else is suspect", func(t *testing.T) {
		e.join("s-lh", "app1", "alice")
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app1", "alice", "s-lh", time.Now().Add(time.Hour))}, "logout_hint": {"bob"}})
		assert.Equal(t, 200, r.status)
		assert.Contains(t, r.body, "may not come from you")
		// The right one is fine.
		r = e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app1", "alice", "s-lh", time.Now().Add(time.Hour))}, "logout_hint": {"alice"}})
		assert.Equal(t, 200, r.status)
		assert.Contains(t, r.body, "You are signed out")
	})

	t.Run("the page speaks the ui_locales language", func(t *testing.T) {
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{"ui_locales": {"de-CH fr"}})
		assert.Contains(t, r.body, "Möchten Sie sich abmelden?")
		assert.Equal(t, "de", r.header.Get("Content-Language"))
		r = e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{"ui_locales": {"tlh"}})
		assert.Contains(t, r.body, "Do you want to sign out?")
	})
}

func TestLogoutPublishesOneEventAndIsIdempotent(t *testing.T) {
	e := newEnv(t)
	e.join("s-ev", "app1", "alice")
	e.join("s-ev", "app2", "pairwise-bob")
	params := url.Values{
		"id_token_hint":            {e.hint("app1", "alice", "s-ev", time.Now().Add(time.Hour))},
		"post_logout_redirect_uri": {"https://app1.example.com/signed-out"}, "state": {"z"},
	}
	for range 2 {
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", params)
		require.Equal(t, 302, r.status, "the same request twice is no error (RIL-32)")
		assert.Equal(t, "https://app1.example.com/signed-out?state=z", r.location)
	}
	evs := e.endedEvents()
	require.Len(t, evs, 1)
	ev := evs[0]
	assert.Equal(t, "s-ev", ev.SID)
	assert.Equal(t, "alice", ev.Sub)
	assert.Equal(t, issuer, ev.Iss)
	assert.Equal(t, "app1", ev.InitiatingClientID)
	assert.Equal(t, event.ReasonEndSession, ev.Reason)
	assert.ElementsMatch(t, []event.Participant{{ClientID: "app1", Sub: "alice"}, {ClientID: "app2", Sub: "pairwise-bob"}}, ev.Clients)
	assert.NotEmpty(t, ev.LogoutID)
}

func TestSubOnlyHintEndsTheSubjectsSessionsOfThatClient(t *testing.T) {
	e := newEnv(t)
	e.join("s-a", "app1", "alice")
	e.join("s-b", "app1", "alice")
	e.join("s-c", "app2", "alice") // alice at another client only
	e.join("s-d", "app1", "bob")
	b := newBrowser(t)
	r := e.do(b, http.MethodGet, "/connect/endsession", url.Values{
		"id_token_hint": {e.hint("app1", "alice", "", time.Now().Add(time.Hour))}})
	require.Equal(t, 200, r.status)
	// It may end sessions on other devices: the person confirms first.
	for _, sid := range []string{"s-a", "s-b"} {
		s, _ := e.front.Index().Session(sid)
		assert.False(t, s.Ended(), sid)
	}
	r = e.confirm(b, r.body)
	require.Equal(t, 200, r.status)
	e.assertEnded(map[string]bool{"s-a": true, "s-b": true, "s-c": false, "s-d": false})
}

// TestCookieValueIsTheSIDAsSent: the session cookie's value is the sid as
// the browser sent it, '+' and '%' included (a base64 sid), not decoded as
// a query: the person's session ends, and a hint for it from the same
// browser is not suspect.
func TestCookieValueIsTheSIDAsSent(t *testing.T) {
	e := newEnv(t)
	const reg = "https://app1.example.com/signed-out"
	for _, sid := range []string{"Zm9v+YmFy/w==", "a%41b"} {
		e.join(sid, "app1", "alice")
		b := newBrowser(t)
		e.setCookie(b, sid)
		r := e.confirm(b, e.do(b, http.MethodGet, "/connect/endsession", nil).body)
		assert.Equal(t, 200, r.status, sid)
		s, _ := e.front.Index().Session(sid)
		assert.True(t, s.Ended(), sid)
	}
	// An IdP whose framework percent-encodes cookie values.
	e.join("ZW5j+b2Rl/w==", "app1", "alice")
	b := newBrowser(t)
	e.setCookie(b, url.QueryEscape("ZW5j+b2Rl/w=="))
	r := e.confirm(b, e.do(b, http.MethodGet, "/connect/endsession", nil).body)
	assert.Equal(t, 200, r.status)
	s, _ := e.front.Index().Session("ZW5j+b2Rl/w==")
	assert.True(t, s.Ended(), "the session of the decoded value")

	// Encoded, with a hint for a session the index does not know yet: the
	// browser's own, no question.
	b = newBrowser(t)
	e.setCookie(b, url.QueryEscape("bmV3+c2lk"))
	r = e.do(b, http.MethodGet, "/connect/endsession", url.Values{
		"id_token_hint": {e.hint("app1", "alice", "bmV3+c2lk", time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {reg}})
	assert.Equal(t, 302, r.status, "the browser's own session, encoded: no question")

	e.join("c2Vj+cmV0", "app1", "alice")
	b = newBrowser(t)
	e.setCookie(b, "c2Vj+cmV0")
	r = e.do(b, http.MethodGet, "/connect/endsession", url.Values{
		"id_token_hint": {e.hint("app1", "alice", "c2Vj+cmV0", time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {reg}})
	assert.Equal(t, 302, r.status, "the browser's own session: no question")
	assert.Equal(t, reg, r.location)
}

func TestAnUnknownCookieSessionEndsNothing(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)
	e.setCookie(b, "made-up-sid")
	form := formOf(t, e.do(b, http.MethodGet, "/connect/endsession", nil).body)
	form.Set("confirm", "yes")
	r := e.do(b, http.MethodPost, "/connect/endsession/confirm", form)
	assert.Equal(t, 200, r.status)
	assert.Empty(t, e.endedEvents(), "no event for a session the index does not know")
	_, ok := e.front.Index().Session("made-up-sid")
	assert.False(t, ok)
}

func TestNATSDownIsA503AndNothingEnds(t *testing.T) {
	e := newEnv(t)
	e.join("s-down", "app1", "alice")
	e.nats.NC.Close()
	r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
		"id_token_hint":            {e.hint("app1", "alice", "s-down", time.Now().Add(time.Hour))},
		"post_logout_redirect_uri": {"https://app1.example.com/signed-out"}, "state": {"z"}})
	assert.Equal(t, 503, r.status)
	assert.Empty(t, r.location)
	assert.Contains(t, r.body, "temporarily unavailable")
	s, _ := e.front.Index().Session("s-down")
	assert.False(t, s.Ended())
	r = e.do(newBrowser(t), http.MethodGet, "/readyz", nil)
	assert.Equal(t, 503, r.status)
}

func TestSessionAPI(t *testing.T) {
	e := newEnv(t)
	api := func(method, path, body, token string) response {
		req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var sb strings.Builder
		_, _ = sbReadFrom(&sb, resp)
		return response{status: resp.StatusCode, body: sb.String(), header: resp.Header}
	}
	sid := "odd/sid with spaces+plus&=%"
	path := "/api/v1/sessions/" + url.PathEscape(sid)

	tests := []struct {
		name, method, path, body, token string
		wantStatus                      int
		wantBody                        string
	}{
		{"no token", http.MethodPut, path + "/clients/app1", `{"sub":"alice"}`, "", 401, "bearer token"},
		{"wrong token", http.MethodPut, path + "/clients/app1", `{"sub":"alice"}`, "nope", 401, "bearer token"},
		{"unknown client", http.MethodPut, path + "/clients/zzz", `{"sub":"alice"}`, "test-token", 400, `is not a registered client`},
		{"bad json", http.MethodPut, path + "/clients/app1", `{"sub":`, "test-token", 400, "body must be JSON"},
		{"data after the JSON", http.MethodPut, path + "/clients/app1", `{"sub":"alice"} garbage`, "test-token", 400, "body must be JSON"},
		{"two JSON values", http.MethodPut, path + "/clients/app1", `{"sub":"alice"}{"sub":"bob"}`, "test-token", 400, "body must be JSON"},
		{"missing sub", http.MethodPut, path + "/clients/app1", `{}`, "test-token", 400, "sub: required"},
		{"sub given twice", http.MethodPut, path + "/clients/app1", `{"sub":"alice","sub":"bob"}`, "test-token", 400, `key \"sub\" given twice`},
		{"sub in another case", http.MethodPut, path + "/clients/app1", `{"SUB":"alice"}`, "test-token", 400, "keys are case-sensitive"},
		{"sub not UTF-8", http.MethodPut, path + "/clients/app1", "{\"sub\":\"\xff\"}", "test-token", 400, "not UTF-8"},
		{"sub with a lone surrogate escape", http.MethodPut, path + "/clients/app1", `{"sub":"a\udc80"}`, "test-token", 400, "lone surrogate escape"},
		{"sub with a NUL", http.MethodPut, path + "/clients/app1", `{"sub":"alice\u0000x"}`, "test-token", 400, "a control character"},
		{"sid with a control character", http.MethodPut, "/api/v1/sessions/q%09/clients/app1", `{"sub":"alice"}`, "test-token", 400, "a control character"},
		{"sub not a string", http.MethodPut, path + "/clients/app1", `{"sub":1}`, "test-token", 400, "body must be JSON"},
		{"not an object", http.MethodPut, path + "/clients/app1", `["sub"]`, "test-token", 400, "not a JSON object"},
		{"sid not UTF-8", http.MethodPut, "/api/v1/sessions/q%FE/clients/app1", `{"sub":"alice"}`, "test-token", 400, "sid: required, at most 255 bytes of UTF-8"},
		{"unknown keys are ignored", http.MethodPut, "/api/v1/sessions/other/clients/app1", `{"sub":"alice","acr":"1"}`, "test-token", 204, ""},
		{"ok", http.MethodPut, path + "/clients/app1", `{"sub":"alice"}`, "test-token", 204, ""},
		{"again is idempotent", http.MethodPut, path + "/clients/app1", `{"sub":"alice"}`, "test-token", 204, ""},
		{"second client", http.MethodPut, path + "/clients/app2", `{"sub":"pw-2"}`, "test-token", 204, ""},
		{"get unknown", http.MethodGet, "/api/v1/sessions/none", "", "test-token", 404, "no such session"},
		{"get without token", http.MethodGet, path, "", "", 401, ""},
		{"body too large", http.MethodPut, path + "/clients/app1", `{"sub":"` + strings.Repeat("a", 100<<10) + `"}`, "test-token", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := api(tc.method, tc.path, tc.body, tc.token)
			assert.Equal(t, tc.wantStatus, r.status, r.body)
			assert.Contains(t, r.body, tc.wantBody)
			if r.status >= 400 {
				assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
			}
		})
	}

	// The scheme is case-insensitive (RFC 9110 §11.1), the token is not.
	for header, want := range map[string]int{"bearer test-token": 200, "BEARER test-token": 200, "Bearer TEST-TOKEN": 401, "Basic test-token": 401} {
		req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", header)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, header)
	}

	r := api(http.MethodGet, path, "", "test-token")
	require.Equal(t, 200, r.status)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &got))
	assert.Equal(t, sid, got["sid"])
	assert.Equal(t, "alice", got["sub"])
	assert.Nil(t, got["ended_at"])
	assert.Equal(t, []any{}, got["deliveries"])
	assert.ElementsMatch(t, []any{
		map[string]any{"client_id": "app1", "sub": "alice"},
		map[string]any{"client_id": "app2", "sub": "pw-2"},
	}, got["clients"])
}

func TestDiscoveryAndJWKS(t *testing.T) {
	e := newEnv(t)
	r := e.do(newBrowser(t), http.MethodGet, "/.well-known/openid-configuration", nil)
	require.Equal(t, 200, r.status)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &doc))
	assert.Equal(t, issuer, doc["issuer"])
	assert.Equal(t, issuer+"/connect/endsession", doc["end_session_endpoint"])
	assert.Equal(t, issuer+"/.well-known/jwks.json", doc["jwks_uri"])
	for _, k := range []string{"frontchannel_logout_supported", "frontchannel_logout_session_supported",
		"backchannel_logout_supported", "backchannel_logout_session_supported"} {
		assert.Equal(t, true, doc[k], "%s must be the JSON boolean true", k)
	}

	r = e.do(newBrowser(t), http.MethodGet, "/.well-known/jwks.json", nil)
	require.Equal(t, 200, r.status)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &set))
	algs := map[string]bool{}
	for _, k := range set.Keys {
		algs[k["alg"].(string)] = true
		assert.NotEmpty(t, k["kid"])
		assert.NotContains(t, k, "d", "no private key material")
	}
	assert.True(t, algs["RS256"] && algs["ES256"], "a key for every client's algorithm: %v", algs)

	assert.Equal(t, 200, e.do(newBrowser(t), http.MethodGet, "/healthz", nil).status)
	assert.Equal(t, 200, e.do(newBrowser(t), http.MethodGet, "/readyz", nil).status)
	nf := e.do(newBrowser(t), http.MethodGet, "/nope", nil)
	assert.Equal(t, 404, nf.status)

	// HEAD on the documents that only read (RFC 9110 §9.3.2), never on
	// the end-session endpoint, whose GET ends a session.
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json", "/healthz", "/readyz"} {
		head, get := e.do(newBrowser(t), http.MethodHead, p, nil), e.do(newBrowser(t), http.MethodGet, p, nil)
		assert.Equal(t, 200, head.status, p)
		assert.Equal(t, get.header.Get("Content-Type"), head.header.Get("Content-Type"), "%s: the GET handler answered", p)
	}
	assert.Equal(t, 405, e.do(newBrowser(t), http.MethodHead, "/connect/endsession", nil).status)

	// No redirect to the path without its trailing slash: gin's would skip
	// the middleware and follow X-Forwarded-Prefix.
	slash := e.do(newBrowser(t), http.MethodGet, "/.well-known/jwks.json/", nil, "X-Forwarded-Prefix", "/attacker")
	assert.Equal(t, 404, slash.status)
	assert.Empty(t, slash.location)
	assert.NotEmpty(t, slash.header.Get("X-Request-Id"), "the middleware ran")
}

func TestSessionsLeaveTheIndexAfterRetention(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Sessions.Retention = 2 * time.Second })
	e.join("s-short", "app1", "alice")
	require.Eventually(t, func() bool {
		_, ok := e.front.Index().Session("s-short")
		return !ok
	}, 30*time.Second, 50*time.Millisecond)
	// It ended with reason expired, through the same pipeline as a logout.
	require.Eventually(t, func() bool {
		for _, ev := range e.endedEvents() {
			if ev.SID == "s-short" && ev.Reason == event.ReasonExpired {
				return true
			}
		}
		return false
	}, 10*time.Second, 100*time.Millisecond)
}

func TestRestartedFrontRebuildsItsIndex(t *testing.T) {
	e := newEnv(t)
	e.join("s-r1", "app1", "alice")
	e.join("s-r1", "app2", "bob")
	e.join("s-r2", "app1", "carol")
	r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
		"id_token_hint": {e.hint("app1", "carol", "s-r2", time.Now().Add(time.Hour))}})
	require.Equal(t, 200, r.status)

	// A second front on the same NATS: what a restarted or added replica
	// sees.
	logger := slog.New(slog.DiscardHandler)
	f2, err := front.New(t.Context(), e.cfg, front.Deps{NATS: e.nats, Keys: e.keys, Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() { f2.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, f2.WaitReady(ctx))
	s1, ok := f2.Index().Session("s-r1")
	require.True(t, ok)
	assert.Len(t, s1.Clients, 2)
	assert.False(t, s1.Ended())
	s2, ok := f2.Index().Session("s-r2")
	require.True(t, ok)
	assert.True(t, s2.Ended())
	assert.Equal(t, "carol", s2.Sub)
}

// TestConcurrentLogoutsOfOneSessionPublishOneEvent: many confirmations, or
// API calls, for one session at once end it once (spec DES-3).
func TestConcurrentLogoutsOfOneSessionPublishOneEvent(t *testing.T) {
	e := newEnv(t)
	e.join("s-race", "app1", "alice")
	b := newBrowser(t)
	e.setCookie(b, "s-race")
	form := formOf(t, e.do(b, http.MethodGet, "/connect/endsession", nil).body)
	form.Set("confirm", "yes")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { _ = e.do(b, http.MethodPost, "/connect/endsession/confirm", form) })
		wg.Go(func() { _, _ = e.api(http.MethodDelete, "/api/v1/sessions/s-race") })
	}
	wg.Wait()
	assert.Len(t, e.endedEvents(), 1)
}

// TestConfirmationAllowsANativeAppRedirect: the form's CSP lets the
// redirect after the POST reach a native app's custom scheme.
func TestConfirmationAllowsANativeAppRedirect(t *testing.T) {
	e := newEnv(t)
	r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
		"client_id": {"app1"}, "post_logout_redirect_uri": {"com.example.app1:/logout"}})
	require.Equal(t, 200, r.status)
	assert.Contains(t, r.header.Get("Content-Security-Policy"), "form-action 'self' com.example.app1:")
}
