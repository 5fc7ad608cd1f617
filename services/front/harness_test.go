package front_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/front"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
)

const issuer = "http://127.0.0.1:8080"

// state90 is the 90-character state of the conformance suite (RIL-27):
// letters, digits and printable punctuation, no '+', space or ';'.
var state90 = `aB3&#%=?/"<>!$'()*,-.:@[]^_{|}~` + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[:59]

func testConfig(t testing.TB) *config.Config {
	cfg := config.Default()
	cfg.Issuer = issuer
	cfg.API.Token = "test-token"
	cfg.SessionCookie = "idp_session"
	cfg.Keys.GenerateDir = t.TempDir()
	cfg.Logout.Wait = 500 * time.Millisecond
	cfg.Logout.Paths = []string{"/oauth2/logout", "/déconnexion", "/logout(v2)"}
	cfg.Clients = []config.Client{
		{ClientID: "app1", Name: "App One", PostLogoutRedirectURIs: []string{
			"https://app1.example.com/signed-out",
			"https://app1.example.com/bye?from=signoff",
			"com.example.app1:/logout",
		}},
		{ClientID: "app2", Name: "App Two", IDTokenSignedResponseAlg: "ES256",
			PostLogoutRedirectURIs: []string{"https://app2.example.com/done/"}},
		// Front-channel clients: a test that does not join them to a
		// session never sees them.
		{ClientID: "app3", Name: "App Three",
			RedirectURIs:                      []string{"https://app3.example.com/callback"},
			PostLogoutRedirectURIs:            []string{"https://app3.example.com/bye"},
			FrontchannelLogoutURI:             "https://app3.example.com/logout/fc?tenant=t1",
			FrontchannelLogoutSessionRequired: true},
		{ClientID: "app4", Name: "App Four",
			RedirectURIs:          []string{"https://app4.example.com:8443/cb"},
			FrontchannelLogoutURI: "https://app4.example.com:8443/fc"},
	}
	return cfg
}

// env is one front on a real NATS server, served over loopback.
type env struct {
	t      testing.TB
	cfg    *config.Config
	keys   *keys.Set
	front  *front.Front
	srv    *httptest.Server
	nats   *natsconn.Conn
	client *http.Client
}

func newEnv(t testing.TB, mutate ...func(*config.Config)) *env {
	t.Helper()
	return newEnvAt(t, listen(t), mutate...)
}

// listen returns a loopback listener, for a test that must know the
// front's URL before it configures it.
func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return l
}

// newEnvAt is newEnv serving on l.
func newEnvAt(t testing.TB, l net.Listener, mutate ...func(*config.Config)) *env {
	t.Helper()
	cfg := testConfig(t)
	for _, m := range mutate {
		m(cfg)
	}
	require.NoError(t, cfg.Validate())
	s := natstest.RunServer(t, "")
	nc, js := natstest.Connect(t, s)
	logger := slog.New(slog.DiscardHandler)
	ks, err := keys.Load(cfg.Keys, cfg.SigningAlgs(), logger)
	require.NoError(t, err)
	conn := &natsconn.Conn{NC: nc, JS: js}
	f, err := front.New(t.Context(), cfg, front.Deps{NATS: conn, Keys: ks, Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		f.Close(ctx)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, f.WaitReady(ctx))
	srv := httptest.NewUnstartedServer(f.Handler())
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{t: t, cfg: cfg, keys: ks, front: f, srv: srv, nats: conn, client: newBrowser(t)}
}

// newBrowser is an HTTP client that keeps cookies and does not follow
// redirects, so tests see every Location.
func newBrowser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// hint mints an ID token signed by the front's own keys (the default hint
// verification keys).
func (e *env) hint(clientID, sub, sid string, exp time.Time) string {
	tok, err := e.keys.IDToken("RS256", issuer, clientID, sub, sid, exp.Add(-time.Hour), exp)
	require.NoError(e.t, err)
	return tok
}

// join reports a participation through the API.
func (e *env) join(sid, clientID, sub string) {
	e.t.Helper()
	require.Equal(e.t, http.StatusNoContent, e.report(sid, clientID, sub))
}

// report reports a participation through the API and returns the status.
func (e *env) report(sid, clientID, sub string) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPut, e.srv.URL+"/api/v1/sessions/"+url.PathEscape(sid)+"/clients/"+clientID,
		strings.NewReader(`{"sub":"`+sub+`"}`))
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// setCookie gives the browser the IdP's session cookie.
func (e *env) setCookie(client *http.Client, sid string) {
	u, _ := url.Parse(e.srv.URL)
	client.Jar.SetCookies(u, []*http.Cookie{{Name: "idp_session", Value: sid, Path: "/"}})
}

type response struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (e *env) do(client *http.Client, method, path string, params url.Values, header ...string) response {
	e.t.Helper()
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequest(method, e.srv.URL+path, strings.NewReader(params.Encode()))
		require.NoError(e.t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		u := e.srv.URL + path
		if len(params) > 0 {
			u += "?" + params.Encode()
		}
		req, err = http.NewRequest(method, u, nil)
		require.NoError(e.t, err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return response{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), header: resp.Header}
}

// confirm answers "yes" on the confirmation page page, from browser b.
func (e *env) confirm(b *http.Client, page string) response {
	e.t.Helper()
	form := formOf(e.t, page)
	form.Set("confirm", "yes")
	return e.do(b, http.MethodPost, "/connect/endsession/confirm", form)
}

// assertEnded checks, for each sid, whether the front's index has it
// ended.
func (e *env) assertEnded(want map[string]bool) {
	e.t.Helper()
	for sid, ended := range want {
		s, _ := e.front.Index().Session(sid)
		assert.Equal(e.t, ended, s.Ended(), sid)
	}
}

// endedEvents returns the session-ended events in the stream.
func (e *env) endedEvents() []*event.SessionEnded {
	e.t.Helper()
	ctx := e.t.Context()
	cons, err := e.nats.JS.OrderedConsumer(ctx, natsconn.StreamEvents, jetstreamFilter())
	require.NoError(e.t, err)
	var out []*event.SessionEnded
	for {
		info, err := cons.Info(ctx)
		require.NoError(e.t, err)
		if info.NumPending == 0 {
			return out
		}
		msg, err := cons.Next(jetstreamWait())
		require.NoError(e.t, err)
		ev, err := event.Decode[event.SessionEnded](msg.Data())
		require.NoError(e.t, err)
		out = append(out, ev)
	}
}
