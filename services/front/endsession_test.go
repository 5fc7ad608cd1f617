package front_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
)

func TestState90(t *testing.T) {
	require.Len(t, state90, 90)
	assert.NotContains(t, state90, "+")
	assert.NotContains(t, state90, " ")
	assert.NotContains(t, state90, ";")
}

// algNone replaces a token's header with {"alg":"none"} and drops its
// signature (the conformance suite's modified-id-token-hint test).
func algNone(tok string) string {
	parts := strings.Split(tok, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
}

// tamper changes the payload and keeps the signature.
func tamper(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	payload = []byte(strings.Replace(string(payload), `"sub":"`, `"sub":"x`, 1))
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
}

// foreignHint is the conformance suite's bad-id-token-hint: iss=client_id,
// aud=issuer, signed with the client's own key.
func foreignHint(t *testing.T, iss, aud string) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": iss, "aud": aud, "sub": "SubjectID", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(k)
	require.NoError(t, err)
	return tok
}

// TestEndSessionRules is the table of RP-Initiated Logout 1.0 rules: every
// refusal (400, no redirect) and every redirect with its exact Location.
func TestEndSessionRules(t *testing.T) {
	e := newEnv(t)
	future := time.Now().Add(time.Hour)
	past := time.Now().Add(-30 * time.Minute) // expired, but recently (RIL-11)
	const reg = "https://app1.example.com/signed-out"
	qs := url.QueryEscape(state90)

	tests := []struct {
		name string
		// params gets the case's own sid, so cases do not share sessions.
		params       func(sid string) url.Values
		method       string
		wantStatus   int
		wantLocation string
		wantBody     string // a substring of the page
		wantEnded    bool
	}{
		{
			name: "hint, registered uri and the 90-character state",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "post_logout_redirect_uri": {reg}, "state": {state90}}
			},
			wantStatus: 302, wantLocation: reg + "?state=" + qs, wantEnded: true,
		},
		{
			name: "POST form behaves as GET",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "post_logout_redirect_uri": {reg}, "state": {"xyz"}}
			},
			method: http.MethodPost, wantStatus: 303, wantLocation: reg + "?state=xyz", wantEnded: true,
		},
		{
			name: "no state: none added (RIL-28)",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "post_logout_redirect_uri": {reg}}
			},
			wantStatus: 302, wantLocation: reg, wantEnded: true,
		},
		{
			name: "registered uri with a query keeps it, state appended with & (RIL-30)",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)},
					"post_logout_redirect_uri": {"https://app1.example.com/bye?from=signoff"}, "state": {"s t&u"}}
			},
			wantStatus: 302, wantLocation: "https://app1.example.com/bye?from=signoff&state=s+t%26u", wantEnded: true,
		},
		{
			name: "custom scheme of a native app",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)},
					"post_logout_redirect_uri": {"com.example.app1:/logout"}, "state": {"n"}}
			},
			wantStatus: 302, wantLocation: "com.example.app1:/logout?state=n", wantEnded: true,
		},
		{
			name: "expired hint is still accepted (RIL-11)",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, past)}, "post_logout_redirect_uri": {reg}, "state": {"old"}}
			},
			wantStatus: 302, wantLocation: reg + "?state=old", wantEnded: true,
		},
		{
			name: "a hint expired long ago asks first",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, time.Now().Add(-48*time.Hour))}, "post_logout_redirect_uri": {reg}, "state": {"old"}}
			},
			wantStatus: 200, wantBody: "Do you want to sign out?",
		},
		{
			name: "hint and matching client_id",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app2", "bob", sid, future)}, "client_id": {"app2"},
					"post_logout_redirect_uri": {"https://app2.example.com/done/"}, "state": {"1"}}
			},
			wantStatus: 302, wantLocation: "https://app2.example.com/done/?state=1", wantEnded: true,
		},
		{
			name: "hint and state, no uri: signed-out page, no redirect (RIL-24)",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "state": {"s"}}
			},
			wantStatus: 200, wantBody: "You are signed out", wantEnded: true,
		},
		{
			name: "query added to a registered uri (RIL-22)",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "post_logout_redirect_uri": {reg + "?foo=bar"}, "state": {"s"}}
			},
			wantStatus: 400, wantBody: "post_logout_redirect_uri is not registered for client app1",
		},
		{
			name: "trailing slash added",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "post_logout_redirect_uri": {reg + "/"}}
			},
			wantStatus: 400, wantBody: "not registered",
		},
		{
			name: "trailing slash removed",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app2", "bob", sid, future)}, "post_logout_redirect_uri": {"https://app2.example.com/done"}}
			},
			wantStatus: 400, wantBody: "not registered for client app2",
		},
		{
			name: "host in other letter case",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "post_logout_redirect_uri": {"https://APP1.example.com/signed-out"}}
			},
			wantStatus: 400, wantBody: "not registered",
		},
		{
			name: "another client's uri",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "post_logout_redirect_uri": {"https://app2.example.com/done/"}}
			},
			wantStatus: 400, wantBody: "not registered for client app1",
		},
		{
			name: "alg none hint (RIL-10)",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {algNone(e.hint("app1", "alice", sid, future))}, "post_logout_redirect_uri": {reg}, "state": {"s"}}
			},
			wantStatus: 400, wantBody: "id_token_hint is not valid",
		},
		{
			name: "tampered hint",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {tamper(t, e.hint("app1", "alice", sid, future))}, "post_logout_redirect_uri": {reg}}
			},
			wantStatus: 400, wantBody: "id_token_hint is not valid",
		},
		{
			name: "hint signed by the client, not the OP (RIL-9)",
			params: func(string) url.Values {
				return url.Values{"id_token_hint": {foreignHint(t, "app1", issuer)}, "post_logout_redirect_uri": {reg}}
			},
			wantStatus: 400, wantBody: "id_token_hint is not valid",
		},
		{
			name: "hint from another issuer",
			params: func(sid string) url.Values {
				tok, err := e.keys.IDToken("RS256", "https://evil.example.com", "app1", "alice", sid, time.Now(), future)
				require.NoError(t, err)
				return url.Values{"id_token_hint": {tok}, "post_logout_redirect_uri": {reg}}
			},
			wantStatus: 400, wantBody: "id_token_hint is not valid",
		},
		{
			name: "garbage hint",
			params: func(string) url.Values {
				return url.Values{"id_token_hint": {"not-a-jwt"}}
			},
			wantStatus: 400, wantBody: "id_token_hint is not valid",
		},
		{
			name: "an encrypted hint (JWE) is refused (RIL-15)",
			params: func(string) url.Values {
				return url.Values{"id_token_hint": {"eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.ZW5j.aXY.Y2lwaGVy.dGFn"},
					"post_logout_redirect_uri": {reg}, "state": {"s"}}
			},
			wantStatus: 400, wantBody: "id_token_hint is not valid",
		},
		{
			name: "hint for an unregistered client",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("stranger", "alice", sid, future)}}
			},
			wantStatus: 400, wantBody: "not issued to a registered client",
		},
		{
			name: "client_id disagrees with the hint (RIL-16)",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "client_id": {"app2"},
					"post_logout_redirect_uri": {"https://app2.example.com/done/"}}
			},
			wantStatus: 400, wantBody: "does not match the client the id_token_hint was issued to",
		},
		{
			name: "unknown client_id (RIL-17)",
			params: func(string) url.Values {
				return url.Values{"client_id": {"nobody"}, "post_logout_redirect_uri": {reg}}
			},
			wantStatus: 400, wantBody: "is not a registered client",
		},
		{
			name: "uri without hint or client_id (RIL-23)",
			params: func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {reg}, "state": {"s"}}
			},
			wantStatus: 400, wantBody: "needs id_token_hint or client_id",
		},
		{
			name: "a parameter given twice",
			params: func(string) url.Values {
				return url.Values{"state": {"a", "b"}}
			},
			wantStatus: 400, wantBody: "state is given more than once",
		},
		{
			name: "input in messages is escaped",
			params: func(string) url.Values {
				return url.Values{"client_id": {"<script>alert(1)</script>"}}
			},
			wantStatus: 400, wantBody: "&lt;script&gt;",
		},
		{
			name: "a state that would not come back as it was: control characters",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "post_logout_redirect_uri": {reg}, "state": {"a\x00b"}}
			},
			wantStatus: 400, wantBody: "state is not text",
		},
		{
			name: "a state that would not come back as it was: not UTF-8",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "post_logout_redirect_uri": {reg}, "state": {"a\xfeb"}}
			},
			wantStatus: 400, wantBody: "state is not text",
		},
		{
			name: "ui_locales that is not text is ignored (RIL-6)",
			params: func(sid string) url.Values {
				return url.Values{"id_token_hint": {e.hint("app1", "alice", sid, future)}, "ui_locales": {"de\x00"}}
			},
			wantStatus: 200, wantBody: "You are signed out", wantEnded: true,
		},
		{
			name:       "no parameters: confirmation, not an error (RIL-5)",
			params:     func(string) url.Values { return url.Values{} },
			wantStatus: 200, wantBody: "Do you want to sign out?",
		},
		{
			name:       "only state: confirmation (RIL-19)",
			params:     func(string) url.Values { return url.Values{"state": {"s"}} },
			wantStatus: 200, wantBody: `name="state" value="s"`,
		},
		{
			name: "client_id and registered uri: confirmation first",
			params: func(string) url.Values {
				return url.Values{"client_id": {"app1"}, "post_logout_redirect_uri": {reg}, "state": {"s"}}
			},
			wantStatus: 200, wantBody: "App One asked to sign you out.",
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sid := fmt.Sprintf("sid-rules-%02d", i)
			e.join(sid, "app1", "alice")
			e.join(sid, "app2", "bob")
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			r := e.do(newBrowser(t), method, "/connect/endsession", tc.params(sid))
			assert.Equal(t, tc.wantStatus, r.status, r.body)
			assert.Equal(t, tc.wantLocation, r.location)
			assert.Contains(t, r.body, tc.wantBody)
			assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
			if r.status != 302 && r.status != 303 {
				assert.Contains(t, r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
			}
			s, ok := e.front.Index().Session(sid)
			require.True(t, ok)
			assert.Equal(t, tc.wantEnded, s.Ended(), "session ended")
		})
	}
}

// TestEndSessionUnreadableRequests: a query or a body the endpoint cannot
// read whole is an error page, not a request read in part (a state lost).
func TestEndSessionUnreadableRequests(t *testing.T) {
	e := newEnv(t)
	// page reads an answer, which is an HTML page whatever its status.
	page := func(resp *http.Response, err error) (int, string) {
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
		return resp.StatusCode, string(b)
	}
	get := func(rawQuery string) (int, string) {
		return page(http.Get(e.srv.URL + "/connect/endsession?" + rawQuery))
	}
	post := func(contentType, body string) (int, string) {
		return page(http.Post(e.srv.URL+"/connect/endsession", contentType, strings.NewReader(body)))
	}
	for _, q := range []string{"client_id=app1&state=abc;def", "state=100%", "state=ok&x=%zz"} {
		status, body := get(q)
		assert.Equal(t, http.StatusBadRequest, status, q)
		assert.Contains(t, body, "the query could not be read", q)
	}
	status, body := get("client_id=app1&state=abc%3Bdef")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `name="state" value="abc;def"`, "an encoded ; is fine")

	for _, ct := range []string{"application/json", "multipart/form-data; boundary=x", "text/plain"} {
		status, body := post(ct, `{"client_id":"app1"}`)
		assert.Equal(t, http.StatusUnsupportedMediaType, status, ct)
		assert.Contains(t, body, "must be a form", ct)
	}
	status, body = post("application/x-www-form-urlencoded; charset=UTF-8", "client_id=app1&state=s")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `name="state" value="s"`)
	status, _ = post("", "")
	assert.Equal(t, http.StatusOK, status, "a POST with no parameters at all (RIL-5)")
}

// TestOversizedHeaders: a browser with too many cookies for the IdP's
// domain gets a page that says so, an API client a problem; below the
// limit, a request is served.
func TestOversizedHeaders(t *testing.T) {
	e := newEnv(t)
	cookie := func(kib int) string { return "big=" + strings.Repeat("a", kib<<10) }

	r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{"client_id": {"app1"}}, "Cookie", cookie(40))
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, r.status)
	assert.Contains(t, r.header.Get("Content-Type"), "text/html")
	assert.NotEmpty(t, r.header.Get("Content-Security-Policy"))
	assert.Contains(t, r.body, "headers are too large (41 KiB, at most 32): remove this site&#39;s cookies")
	assert.Empty(t, e.endedEvents())

	r = e.do(newBrowser(t), http.MethodGet, "/api/v1/sessions/s1", nil, "Authorization", "Bearer "+e.cfg.API.Token, "Cookie", cookie(40))
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, r.status)
	assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	assert.Contains(t, r.body, `"error":"header_too_large"`)
	assert.Contains(t, r.body, `"detail":"the request's headers are too large (41 KiB, at most 32)"`)

	r = e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{"client_id": {"app1"}}, "Cookie", cookie(30))
	assert.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, "csrf_token")
}

func TestEndSessionAliasPathAndJSONErrors(t *testing.T) {
	e := newEnv(t)
	e.join("s-alias", "app1", "alice")
	r := e.do(newBrowser(t), http.MethodGet, "/oauth2/logout", url.Values{
		"id_token_hint":            {e.hint("app1", "alice", "s-alias", time.Now().Add(time.Hour))},
		"post_logout_redirect_uri": {"https://app1.example.com/signed-out"}, "state": {"a"},
	})
	assert.Equal(t, 302, r.status)
	assert.Equal(t, "https://app1.example.com/signed-out?state=a", r.location)
	// A path that is not ASCII is requested escaped, one with parentheses
	// as it is or escaped: each is served.
	for _, path := range []string{"/déconnexion", "/logout(v2)", "/logout%28v2%29"} {
		r = e.do(newBrowser(t), http.MethodGet, path, url.Values{"client_id": {"app1"}})
		assert.Equal(t, 200, r.status, path)
		assert.Contains(t, r.body, "csrf_token", path)
	}

	r = e.do(newBrowser(t), http.MethodGet, "/connect/endsession",
		url.Values{"client_id": {"nobody"}}, "Accept", "application/json")
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	assert.Contains(t, r.body, `"status":400`)
	assert.Contains(t, r.body, `"detail":"client_id \"nobody\" is not a registered client"`)
}

func TestEndSessionPolicies(t *testing.T) {
	const reg = "https://app1.example.com/signed-out"
	t.Run("strict mode needs a hint or client_id", func(t *testing.T) {
		e := newEnv(t, func(c *config.Config) { c.Logout.RequireClientOrHint = true })
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{"state": {"s"}})
		assert.Equal(t, 400, r.status)
		assert.Contains(t, r.body, "either id_token_hint or client_id must be present")
	})
	t.Run("client_id alone may not carry a redirect when disabled", func(t *testing.T) {
		no := false
		e := newEnv(t, func(c *config.Config) { c.Logout.ClientIDRedirect = &no })
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"client_id": {"app1"}, "post_logout_redirect_uri": {"https://app1.example.com/signed-out"}})
		assert.Equal(t, 400, r.status)
		assert.Contains(t, r.body, "post_logout_redirect_uri needs an id_token_hint")
		assert.Empty(t, r.location)
	})
	t.Run("a hint for an unknown session ends it without a question by default", func(t *testing.T) {
		e := newEnv(t)
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app1", "alice", "s-unreported", time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {reg}})
		assert.Equal(t, 302, r.status)
		assert.Equal(t, reg, r.location)
		s, ok := e.front.Index().Session("s-unreported")
		require.True(t, ok)
		assert.True(t, s.Ended())
	})
	t.Run("a hint for an unknown session is suspect when configured (RIL-12)", func(t *testing.T) {
		e := newEnv(t, func(c *config.Config) { c.Logout.ConfirmUnknownSessions = true })
		hint := e.hint("app1", "alice", "s-unreported", time.Now().Add(time.Hour))
		b := newBrowser(t)
		r := e.do(b, http.MethodGet, "/connect/endsession", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {reg}, "state": {"st"}})
		assert.Equal(t, 200, r.status)
		assert.Contains(t, r.body, "may not come from you")
		_, ok := e.front.Index().Session("s-unreported")
		assert.False(t, ok, "nothing ends before the person confirms")
		assert.Empty(t, e.endedEvents())
		r = e.confirm(b, r.body)
		assert.Equal(t, 303, r.status)
		assert.Equal(t, reg+"?state=st", r.location)
		s, ok := e.front.Index().Session("s-unreported")
		require.True(t, ok)
		assert.True(t, s.Ended())

		// A session the index knows, with the hint's client in it for the
		// hint's subject, still ends without a question.
		e.join("s-known", "app1", "alice")
		r = e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app1", "alice", "s-known", time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {reg}})
		assert.Equal(t, 302, r.status)
		assert.Equal(t, reg, r.location)
		// So does a repeated hint for a session that ended: nothing ends twice.
		r = e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {hint}, "post_logout_redirect_uri": {reg}})
		assert.Equal(t, 302, r.status)
		// And a hint for an unknown session that the IdP's cookie says this
		// browser is in (a participation not reported yet).
		b = newBrowser(t)
		e.setCookie(b, "s-cookie")
		r = e.do(b, http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app1", "alice", "s-cookie", time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {reg}})
		assert.Equal(t, 302, r.status)
		s, ok = e.front.Index().Session("s-cookie")
		require.True(t, ok)
		assert.True(t, s.Ended())
	})
	t.Run("configured signed-out page", func(t *testing.T) {
		e := newEnv(t, func(c *config.Config) { c.Logout.SignedOutURL = "https://portal.example.com/" })
		e.join("s-portal", "app1", "alice")
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app1", "alice", "s-portal", time.Now().Add(time.Hour))}})
		assert.Equal(t, 302, r.status)
		assert.Equal(t, "https://portal.example.com/", r.location)
	})
}
