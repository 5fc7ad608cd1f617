package rp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/demo/internal/idp"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

const (
	clientID      = "app-b"
	webhookSecret = "whsec"
)

// harness is an App between a real dev IdP and a stand-in for signoff that
// serves discovery and the JWK Set of keys, its signing keys, over HTTP.
type harness struct {
	app     *App
	srv     *httptest.Server // the app
	issuer  string
	keys    *keys.Set   // signoff's keys
	foreign *keys.Set   // keys signoff does not publish
	down    atomic.Bool // signoff's discovery and keys answer 503
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{}
	var err error
	h.keys, err = keys.Load(config.Keys{GenerateDir: t.TempDir()}, []string{keys.RS256, keys.ES256}, nil)
	require.NoError(t, err)
	h.foreign, err = keys.Load(config.Keys{GenerateDir: t.TempDir()}, []string{keys.RS256, keys.ES256}, nil)
	require.NoError(t, err)

	mux := http.NewServeMux()
	signoff := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(signoff.Close)
	h.issuer = signoff.URL
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{
			"issuer":               h.issuer,
			"end_session_endpoint": h.issuer + "/connect/endsession",
			"jwks_uri":             h.issuer + "/jwks",
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(h.keys.JWKS()) })

	idpKeys, err := keys.Load(config.Keys{GenerateDir: t.TempDir()}, []string{keys.RS256}, nil)
	require.NoError(t, err)
	provider := httptest.NewServer(idp.New(idp.Config{
		Issuer: h.issuer, Subject: "demo-user", Keys: idpKeys,
		Reporter: idp.NewReporter(signoff.URL, "t", nil),
	}).Handler())
	t.Cleanup(provider.Close)

	h.app, err = New(t.Context(), Config{
		Name: "App B", ClientID: clientID, PublicURL: "http://localhost:9002",
		IdPPublicURL: provider.URL, IdPURL: provider.URL,
		Issuer: h.issuer, SignoffURL: signoff.URL, WebhookSecret: webhookSecret,
	})
	require.NoError(t, err)
	h.srv = httptest.NewServer(h.app.Handler())
	t.Cleanup(h.srv.Close)
	return h
}

// claims are valid logout token claims for the session sid.
func (h *harness) claims(sid string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss":    h.issuer,
		"aud":    clientID,
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    fmt.Sprint(now.UnixNano()),
		"events": map[string]any{keys.BackchannelLogoutEvent: map[string]any{}},
		"sid":    sid,
		"sub":    "demo-user",
	}
}

func (h *harness) post(t *testing.T, token string) (int, map[string]string) {
	t.Helper()
	resp, err := http.PostForm(h.srv.URL+"/backchannel-logout", url.Values{"logout_token": {token}})
	require.NoError(t, err)
	defer resp.Body.Close()
	out := map[string]string{}
	if resp.StatusCode != http.StatusOK {
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	}
	return resp.StatusCode, out
}

func (h *harness) live(sid string) bool {
	h.app.mu.Lock()
	defer h.app.mu.Unlock()
	for _, s := range h.app.sessions {
		if s.SID == sid && s.EndedAt.IsZero() {
			return true
		}
	}
	return false
}

func TestBackchannelLogoutValidation(t *testing.T) {
	h := newHarness(t)
	sign := func(alg string, c jwt.MapClaims, typ string) string {
		tok, err := h.keys.Sign(alg, c, typ)
		require.NoError(t, err)
		return tok
	}
	replayed := sign(keys.ES256, h.claims("sid-replay"), keys.LogoutTokenType)
	for _, tc := range []struct {
		name  string
		sid   string
		token func(sid string) string
		ok    bool
	}{
		{"valid ES256", "s1", func(sid string) string {
			tok, err := h.keys.LogoutToken(keys.ES256, h.issuer, clientID, "demo-user", sid, time.Time{})
			require.NoError(t, err)
			return tok
		}, true},
		{"valid RS256, sid only", "s2", func(sid string) string {
			c := h.claims(sid)
			delete(c, "sub")
			return sign(keys.RS256, c, keys.LogoutTokenType)
		}, true},
		{"wrong typ", "s3", func(sid string) string { return sign(keys.RS256, h.claims(sid), "JWT") }, false},
		{"no typ", "s4", func(sid string) string { return sign(keys.RS256, h.claims(sid), "") }, false},
		{"wrong aud", "s5", func(sid string) string {
			c := h.claims(sid)
			c["aud"] = "app-a"
			return sign(keys.RS256, c, keys.LogoutTokenType)
		}, false},
		{"wrong iss", "s6", func(sid string) string {
			c := h.claims(sid)
			c["iss"] = "https://other.example"
			return sign(keys.RS256, c, keys.LogoutTokenType)
		}, false},
		{"missing events", "s7", func(sid string) string {
			c := h.claims(sid)
			delete(c, "events")
			return sign(keys.RS256, c, keys.LogoutTokenType)
		}, false},
		{"events without the logout event", "s8", func(sid string) string {
			c := h.claims(sid)
			c["events"] = map[string]any{"http://example.com/other": map[string]any{}}
			return sign(keys.RS256, c, keys.LogoutTokenType)
		}, false},
		{"nonce present", "s9", func(sid string) string {
			c := h.claims(sid)
			c["nonce"] = "n"
			return sign(keys.RS256, c, keys.LogoutTokenType)
		}, false},
		{"expired", "s10", func(sid string) string {
			c := h.claims(sid)
			c["iat"] = time.Now().Add(-time.Hour).Unix()
			c["exp"] = time.Now().Add(-50 * time.Minute).Unix()
			return sign(keys.RS256, c, keys.LogoutTokenType)
		}, false},
		{"no exp", "s11", func(sid string) string {
			c := h.claims(sid)
			delete(c, "exp")
			return sign(keys.RS256, c, keys.LogoutTokenType)
		}, false},
		{"no iat", "s12", func(sid string) string {
			c := h.claims(sid)
			delete(c, "iat")
			return sign(keys.RS256, c, keys.LogoutTokenType)
		}, false},
		{"no jti", "s13", func(sid string) string {
			c := h.claims(sid)
			delete(c, "jti")
			return sign(keys.RS256, c, keys.LogoutTokenType)
		}, false},
		{"neither sid nor sub", "s14", func(string) string {
			c := h.claims("")
			delete(c, "sid")
			delete(c, "sub")
			return sign(keys.RS256, c, keys.LogoutTokenType)
		}, false},
		{"bad signature", "s15", func(sid string) string {
			tok := sign(keys.RS256, h.claims(sid), keys.LogoutTokenType)
			parts := strings.Split(tok, ".")
			sig, err := base64.RawURLEncoding.DecodeString(parts[2])
			require.NoError(t, err)
			sig[0] ^= 0xff
			return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
		}, false},
		{"key signoff does not publish", "s16", func(sid string) string {
			tok, err := h.foreign.Sign(keys.ES256, h.claims(sid), keys.LogoutTokenType)
			require.NoError(t, err)
			return tok
		}, false},
		{"alg none", "s17", func(sid string) string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, h.claims(sid)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			require.NoError(t, err)
			return tok
		}, false},
		{"HS256 with a public key as secret", "s18", func(sid string) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, h.claims(sid))
			tok.Header["typ"] = keys.LogoutTokenType
			s, err := tok.SignedString(h.keys.JWKS())
			require.NoError(t, err)
			return s
		}, false},
		{"replayed jti: first use", "sid-replay", func(string) string { return replayed }, true},
		{"replayed jti: second use", "sid-replay", func(string) string { return replayed }, false},
		{"no token", "s19", func(string) string { return "" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.app.startSession("demo-user", tc.sid, "raw", "{}")
			status, out := h.post(t, tc.token(tc.sid))
			if tc.ok {
				assert.Equal(t, http.StatusOK, status, out)
				assert.False(t, h.live(tc.sid), "the session ended")
				return
			}
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_request", out["error"])
			assert.NotEmpty(t, out["error_description"])
			if tc.sid != "sid-replay" {
				assert.True(t, h.live(tc.sid), "the session is still live")
			}
		})
	}
	// What the app received is on its page, newest first.
	page := get(t, h.srv.URL+"/")
	assert.Contains(t, page, "valid ES256 logout token for sid s1")
	assert.Contains(t, page, "was already used (replay)")
	assert.Less(t, strings.Index(page, "was already used"), strings.Index(page, "sid s1"), "newest first")
}

func TestBackchannelLogoutEndsEverySessionOfTheSID(t *testing.T) {
	h := newHarness(t)
	h.app.startSession("demo-user", "shared", "raw", "{}")
	h.app.startSession("demo-user", "shared", "raw", "{}")
	h.app.startSession("demo-user", "other", "raw", "{}")
	tok, err := h.keys.LogoutToken(keys.RS256, h.issuer, clientID, "", "shared", time.Time{})
	require.NoError(t, err)
	status, _ := h.post(t, tok)
	require.Equal(t, http.StatusOK, status)
	assert.False(t, h.live("shared"))
	assert.True(t, h.live("other"))
	// sub only: every session of the subject.
	tok, err = h.keys.LogoutToken(keys.RS256, h.issuer, clientID, "demo-user", "", time.Time{})
	require.NoError(t, err)
	status, _ = h.post(t, tok)
	require.Equal(t, http.StatusOK, status)
	assert.False(t, h.live("other"))
}

// TestBackchannelLogoutWhileSignoffsKeysAreUnavailable: a token the app
// cannot check yet is answered 503, which signoff retries, never 400, which
// would make it give up; once the keys can be fetched, the retry succeeds.
func TestBackchannelLogoutWhileSignoffsKeysAreUnavailable(t *testing.T) {
	h := newHarness(t)
	h.app.startSession("demo-user", "s-1", "raw", "{}")
	h.down.Store(true)
	tok, err := h.keys.LogoutToken(keys.RS256, h.issuer, clientID, "", "s-1", time.Time{})
	require.NoError(t, err)
	status, body := h.post(t, tok)
	require.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "temporarily_unavailable", body["error"])
	assert.True(t, h.live("s-1"))

	h.down.Store(false)
	tok, err = h.keys.LogoutToken(keys.RS256, h.issuer, clientID, "", "s-1", time.Time{})
	require.NoError(t, err)
	status, _ = h.post(t, tok)
	require.Equal(t, http.StatusOK, status)
	assert.False(t, h.live("s-1"))
}

func TestFrontchannelLogout(t *testing.T) {
	h := newHarness(t)
	h.app.startSession("demo-user", "fc", "raw", "{}")
	for _, tc := range []struct {
		name   string
		query  url.Values
		status int
	}{
		{"wrong iss", url.Values{"iss": {"https://evil.example"}, "sid": {"fc"}}, http.StatusBadRequest},
		{"no sid", url.Values{"iss": {h.issuer}}, http.StatusBadRequest},
		{"valid", url.Values{"iss": {h.issuer}, "sid": {"fc"}}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := h.live("fc")
			resp, err := http.Get(h.srv.URL + "/frontchannel-logout?" + tc.query.Encode())
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors "+h.issuer)
			if tc.status == http.StatusOK {
				assert.False(t, h.live("fc"))
			} else {
				assert.Equal(t, live, h.live("fc"))
			}
		})
	}
}

func TestWebhookSignature(t *testing.T) {
	h := newHarness(t)
	body := []byte(`{"type":"signoff.logout","logout_id":"L1","sid":"s"}`)
	sign := func(secret string, ts time.Time, b []byte) string {
		m := hmac.New(sha256.New, []byte(secret))
		t := strconv.FormatInt(ts.Unix(), 10)
		m.Write([]byte(t + "."))
		m.Write(b)
		return "t=" + t + ",v1=" + hex.EncodeToString(m.Sum(nil))
	}
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"valid", sign(webhookSecret, time.Now(), body), http.StatusNoContent},
		{"wrong secret", sign("nope", time.Now(), body), http.StatusUnauthorized},
		{"stale", sign(webhookSecret, time.Now().Add(-time.Hour), body), http.StatusUnauthorized},
		{"other body", sign(webhookSecret, time.Now(), []byte("{}")), http.StatusUnauthorized},
		{"no header", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/webhook", strings.NewReader(string(body)))
			require.NoError(t, err)
			req.Header.Set(webhookSignatureHeader, tc.header)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode)
		})
	}
	assert.Contains(t, get(t, h.srv.URL+"/"), "signed signoff.logout event, logout L1")
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
