package idp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/demo/internal/idp"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

const (
	issuer   = "http://localhost:8080"
	secret   = "s3cret"
	apiToken = "test-token"
	appACB   = "http://localhost:9001/callback"
)

// fakeSignoff is signoff's session API as the IdP uses it: it records the
// reports and answers with status.
type fakeSignoff struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reports []string // "sid client_id sub"
	status  int
}

func newFakeSignoff(t *testing.T, status int) *fakeSignoff {
	t.Helper()
	f := &fakeSignoff{status: status}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /api/v1/sessions/{sid}/clients/{client}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+apiToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body struct{ Sub string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.reports = append(f.reports, r.PathValue("sid")+" "+r.PathValue("client")+" "+body.Sub)
		f.mu.Unlock()
		w.WriteHeader(f.status)
	})
	mux.HandleFunc("GET /api/v1/sessions/{sid}", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSignoff) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reports...)
}

// newIdP serves an IdP with two clients against signoff.
func newIdP(t *testing.T, signoff *fakeSignoff) *httptest.Server {
	t.Helper()
	set, err := keys.Load(config.Keys{GenerateDir: t.TempDir()}, []string{keys.RS256}, nil)
	require.NoError(t, err)
	p := idp.New(idp.Config{
		Issuer:  issuer,
		Subject: "demo-user",
		Clients: []idp.Client{
			{ID: "app-a", Name: "App A", RedirectURIs: []string{appACB}},
			{ID: "app-b", Name: "App B", RedirectURIs: []string{"http://localhost:9002/callback"}},
		},
		ClientSecret: secret,
		Keys:         set,
		Reporter:     idp.NewReporter(signoff.srv.URL, apiToken, nil),
	})
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// browser is an HTTP client with cookies that does not follow redirects.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func authorizeURL(base, clientID, redirectURI string) string {
	return base + "/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"scope": {"openid"}, "state": {"st"}, "nonce": {"n0nce"},
	}.Encode()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

var hiddenField = regexp.MustCompile(`name="(\w+)" value="([^"]*)"`)

// signIn goes through the sign-in page and returns the redirect back to
// the client.
func signIn(t *testing.T, c *http.Client, base, clientID, redirectURI string) *url.URL {
	t.Helper()
	resp, err := c.Get(authorizeURL(base, clientID, redirectURI))
	require.NoError(t, err)
	page := body(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], strings.ReplaceAll(m[2], "&amp;", "&"))
	}
	require.NotEmpty(t, form.Get("csrf_token"))
	resp, err = c.PostForm(base+"/authorize", form)
	require.NoError(t, err)
	page = body(t, resp)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, page)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return loc
}

func redeem(t *testing.T, base, code, clientID, clientSecret, redirectURI string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
	}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func TestAuthorizeRejectsUnregisteredRedirectURIs(t *testing.T) {
	srv := newIdP(t, newFakeSignoff(t, http.StatusNoContent))
	for _, tc := range []struct{ name, clientID, redirectURI string }{
		{"other host", "app-a", "https://evil.example/callback"},
		{"trailing slash", "app-a", appACB + "/"},
		{"query added", "app-a", appACB + "?x=1"},
		{"other port", "app-a", "http://localhost:9002/callback"},
		{"case", "app-a", "http://LOCALHOST:9001/callback"},
		{"unknown client", "app-z", appACB},
		{"no redirect_uri", "app-a", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := browser(t)
			resp, err := c.Get(authorizeURL(srv.URL, tc.clientID, tc.redirectURI))
			require.NoError(t, err)
			page := body(t, resp)
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
			assert.Empty(t, resp.Header.Get("Location"), "never a redirect")
			assert.Contains(t, page, `id="problem"`)
			assert.Contains(t, page, "DEMO — not for production")
			// Nor does a post of the sign-in form.
			resp, err = c.PostForm(srv.URL+"/authorize", url.Values{
				"response_type": {"code"}, "client_id": {tc.clientID}, "redirect_uri": {tc.redirectURI},
			})
			require.NoError(t, err)
			_ = body(t, resp)
			assert.NotEqual(t, http.StatusSeeOther, resp.StatusCode)
			assert.Empty(t, resp.Header.Get("Location"))
		})
	}
}

func TestSignInCSRF(t *testing.T) {
	srv := newIdP(t, newFakeSignoff(t, http.StatusNoContent))
	resp, err := browser(t).PostForm(srv.URL+"/authorize", url.Values{
		"response_type": {"code"}, "client_id": {"app-a"}, "redirect_uri": {appACB}, "csrf_token": {"forged"},
	})
	require.NoError(t, err)
	_ = body(t, resp)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Location"))
}

func TestCodeFlowReportsAndCodesAreSingleUse(t *testing.T) {
	signoff := newFakeSignoff(t, http.StatusNoContent)
	srv := newIdP(t, signoff)
	c := browser(t)

	back := signIn(t, c, srv.URL, "app-a", appACB)
	assert.Equal(t, appACB, back.Scheme+"://"+back.Host+back.Path)
	assert.Equal(t, "st", back.Query().Get("state"))
	code := back.Query().Get("code")
	require.NotEmpty(t, code)
	var sid string
	for _, ck := range c.Jar.Cookies(mustURL(t, srv.URL)) {
		if ck.Name == idp.SessionCookie {
			sid = ck.Value
		}
	}
	require.NotEmpty(t, sid, "the idp_session cookie holds the sid")
	assert.Equal(t, []string{sid + " app-a demo-user"}, signoff.got())

	status, out := redeem(t, srv.URL, code, "app-a", "wrong", appACB)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "invalid_client", out["error"])

	status, out = redeem(t, srv.URL, code, "app-a", secret, appACB)
	require.Equal(t, http.StatusOK, status, out)
	raw, _ := out["id_token"].(string)
	require.NotEmpty(t, raw)

	status, out = redeem(t, srv.URL, code, "app-a", secret, appACB)
	assert.Equal(t, http.StatusBadRequest, status, "a code is single-use")
	assert.Equal(t, "invalid_grant", out["error"])

	// The ID token verifies against /jwks.
	resp, err := http.Get(srv.URL + "/jwks")
	require.NoError(t, err)
	kf, err := keyfunc.NewJWKSetJSON(json.RawMessage(body(t, resp)))
	require.NoError(t, err)
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, kf.Keyfunc,
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(issuer), jwt.WithAudience("app-a"), jwt.WithExpirationRequired())
	require.NoError(t, err)
	assert.NotEmpty(t, tok.Header["kid"])
	assert.Equal(t, sid, claims["sid"])
	assert.Equal(t, "demo-user", claims["sub"])
	assert.Equal(t, "n0nce", claims["nonce"])
	assert.Contains(t, claims, "iat")

	// A second client in the same browser: no sign-in page, reported too;
	// its code is not app-a's.
	resp, err = c.Get(authorizeURL(srv.URL, "app-b", "http://localhost:9002/callback"))
	require.NoError(t, err)
	_ = body(t, resp)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	codeB := mustURL(t, resp.Header.Get("Location")).Query().Get("code")
	assert.Equal(t, []string{sid + " app-a demo-user", sid + " app-b demo-user"}, signoff.got())
	status, _ = redeem(t, srv.URL, codeB, "app-a", secret, appACB)
	assert.Equal(t, http.StatusBadRequest, status, "another client's code")

	// The sid, which every client sees in its ID tokens, is no credential:
	// a browser with only the session cookie gets the sign-in page.
	other := browser(t)
	other.Jar.SetCookies(mustURL(t, srv.URL), []*http.Cookie{{Name: idp.SessionCookie, Value: sid, Path: "/"}})
	resp, err = other.Get(authorizeURL(srv.URL, "app-b", "http://localhost:9002/callback"))
	require.NoError(t, err)
	_ = body(t, resp)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the sign-in page, not a code")
	assert.Len(t, signoff.got(), 2, "nothing reported")
}

func TestReportFailureIsShown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		reports int
	}{
		{"refused: no retry", http.StatusBadRequest, 1},
		{"unavailable: retried", http.StatusServiceUnavailable, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signoff := newFakeSignoff(t, tc.status)
			srv := newIdP(t, signoff)
			c := browser(t)
			resp, err := c.Get(authorizeURL(srv.URL, "app-a", appACB))
			require.NoError(t, err)
			page := body(t, resp)
			form := url.Values{}
			for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
				form.Set(m[1], m[2])
			}
			resp, err = c.PostForm(srv.URL+"/authorize", form)
			require.NoError(t, err)
			page = body(t, resp)
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
			assert.Contains(t, page, `id="report-error"`)
			assert.Contains(t, page, "Continue without it")
			assert.Len(t, signoff.got(), tc.reports)
		})
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}
