package main

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// visitor is a browser without JavaScript: an HTTP client with a cookie
// jar that follows redirects.
type visitor struct {
	t *testing.T
	c *http.Client
}

func newVisitor(t *testing.T) *visitor {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &visitor{t: t, c: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

// do sends a request and returns the final URL, status and body.
func (v *visitor) do(req *http.Request) (string, int, string) {
	v.t.Helper()
	resp, err := v.c.Do(req)
	require.NoError(v.t, err, "%s %s", req.Method, req.URL)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(v.t, err)
	return resp.Request.URL.String(), resp.StatusCode, string(b)
}

func (v *visitor) get(u string) (string, int, string) {
	v.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(v.t, err)
	return v.do(req)
}

func (v *visitor) post(u string, form url.Values) (string, int, string) {
	v.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(v.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return v.do(req)
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)
	sidOnPage   = regexp.MustCompile(`Signed in as <b>demo-user</b> \(sid <code>([^<]+)</code>\)`)
	iframeSrc   = regexp.MustCompile(`<iframe src="([^"]+)"`)
	continueURL = regexp.MustCompile(`data-continue="([^"]+)"`)
)

// form returns the hidden fields of a page.
func form(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// TestClickThrough is the demo as a person clicks through it, with an HTTP
// client standing in for the browser: sign in to App A (the IdP's sign-in
// page) and App B (the IdP session signs in at once), sign out in App A,
// load the front-channel iframes and follow the continue link as the page
// would, and check what each app and signoff's ledger show.
func TestClickThrough(t *testing.T) {
	s := startStack(t)
	v := newVisitor(t)

	// App A: not signed in; Sign in shows the IdP's page.
	_, status, page := v.get(s.appA + "/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "DEMO — not for production")
	require.Contains(t, page, `id="status" class="signed-out">Not signed in`)
	at, status, page := v.get(s.appA + "/login")
	require.Equal(t, http.StatusOK, status, page)
	require.True(t, strings.HasPrefix(at, s.idp+"/authorize?"), at)
	require.Contains(t, page, "Sign in as demo user")
	at, status, page = v.post(s.idp+"/authorize", form(page))
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, s.appA+"/", at)
	m := sidOnPage.FindStringSubmatch(page)
	require.NotNil(t, m, "App A is signed in:\n%s", page)
	sid := m[1]

	// App B: the IdP session signs the person in without a page.
	at, status, page = v.get(s.appB + "/login")
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, s.appB+"/", at)
	m = sidOnPage.FindStringSubmatch(page)
	require.NotNil(t, m, "App B is signed in:\n%s", page)
	require.Equal(t, sid, m[1], "one IdP session")

	// The IdP reported both participations.
	l, err := s.session(t, sid)
	require.NoError(t, err)
	var clients []string
	for _, c := range l.Clients {
		clients = append(clients, c.ClientID+"="+c.Sub)
	}
	slices.Sort(clients)
	require.Equal(t, []string{"app-a=demo-user", "app-b=demo-user"}, clients)
	require.Nil(t, l.EndedAt)

	// Sign out in App A: the id_token_hint carries the session, so signoff
	// asks nothing and answers with the front-channel page.
	_, _, page = v.get(s.appA + "/")
	at, status, page = v.post(s.appA+"/logout", form(page))
	require.Equal(t, http.StatusOK, status, page)
	require.True(t, strings.HasPrefix(at, s.signoff+"/connect/endsession?"), at)
	frames := iframeSrc.FindAllStringSubmatch(page, -1)
	require.Len(t, frames, 2, "an iframe for each app:\n%s", page)
	for _, f := range frames {
		src := html.UnescapeString(f[1])
		u, err := url.Parse(src)
		require.NoError(t, err)
		assert.Equal(t, s.signoff, u.Query().Get("iss"))
		assert.Equal(t, sid, u.Query().Get("sid"))
		_, status, body := v.get(src)
		assert.Equal(t, http.StatusOK, status, body)
	}
	cm := continueURL.FindStringSubmatch(page)
	require.NotNil(t, cm, page)
	at, status, page = v.get(html.UnescapeString(cm[1]))
	require.Equal(t, http.StatusOK, status, page)
	require.True(t, strings.HasPrefix(at, s.appA+"/signed-out?state="), at)
	assert.Contains(t, page, "state matched")
	assert.NotContains(t, page, "did NOT match")

	// signoff ended the IdP's session cookie.
	for _, ck := range v.c.Jar.Cookies(mustParse(t, s.idp)) {
		assert.NotEqual(t, "idp_session", ck.Name, "idp_session is expired")
	}

	// App B: the back-channel token (and the iframe) signed the person out.
	eventually(t, 60*time.Second, "App B shows the back-channel logout", func() error {
		_, _, page := v.get(s.appB + "/")
		return contains(page,
			`id="status" class="signed-out">Signed out`,
			"valid ES256 logout token for sid "+sid+": ended 1 local session(s)",
			"iframe for sid "+sid,
			"signed signoff.logout event")
	})
	_, _, page = v.get(s.appA + "/")
	assert.Contains(t, page, `id="status" class="signed-out">Signed out: you signed out here`)
	assert.Contains(t, page, "back from signoff</b>: state matched")
	eventually(t, 60*time.Second, "App A received its own back-channel logout", func() error {
		_, _, page := v.get(s.appA + "/")
		return contains(page, "valid RS256 logout token for sid "+sid)
	})

	// The ledger: every delivery delivered.
	eventually(t, 60*time.Second, "signoff's ledger shows every delivery delivered", func() error {
		l, err := s.session(t, sid)
		if err != nil {
			return err
		}
		got := l.delivered()
		slices.Sort(got)
		want := []string{"app-a/backchannel", "app-b/backchannel", "app-b/webhook"}
		if l.EndedAt == nil || !slices.Equal(got, want) {
			return fmt.Errorf("ended_at %v, delivered %v, want %v; deliveries %+v", l.EndedAt, got, want, l.Deliveries)
		}
		// This browser runs no script: nothing reports the front-channel
		// iframes, which the ledger shows as pending.
		var fc []string
		for _, d := range l.Deliveries {
			if d.Channel == "frontchannel" {
				fc = append(fc, d.ClientID+"/"+d.Status)
			}
		}
		slices.Sort(fc)
		if want := []string{"app-a/pending", "app-b/pending"}; !slices.Equal(fc, want) {
			return fmt.Errorf("front-channel deliveries %v, want %v", fc, want)
		}
		return nil
	})

	// Signing in again starts a new session: the old cookie is gone.
	at, status, page = v.get(s.appB + "/login")
	require.Equal(t, http.StatusOK, status)
	assert.True(t, strings.HasPrefix(at, s.idp+"/authorize?"), "the IdP asks again: %s", at)
	assert.Contains(t, page, "Sign in as demo user")
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}
