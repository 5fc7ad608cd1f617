package front_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
)

// These tests drive a real headless Chromium through the front-channel
// logout page (Front-Channel Logout 1.0 §3): the iframes really load, the
// script and the meta refresh really navigate, and the CSP really applies.
//
// SIGNOFF_SCREENSHOTS=DIR saves screenshots of the page there.

const chromiumHint = "install it with `apt-get install -y chromium` (.ci/run does)"

// chromiumPath finds a Chromium or Chrome binary. Without one the tests
// skip, except in CI (CI=true), where they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: " + chromiumHint)
	}
	t.Skip("chromium not found: " + chromiumHint)
	return ""
}

// newChromium starts a headless Chromium with a fresh profile and returns
// the context of its first tab. The browser stops when the test ends.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 700),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser; it must not carry a timeout.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")), "starting chromium")
	return ctx
}

// fakeRP is a relying party on loopback: it records every request to its
// front-channel logout URI (/fc) and serves a landing page at /bye.
type fakeRP struct {
	srv *httptest.Server
	mu  sync.Mutex
	fc  []*url.URL
}

// newFakeRP starts a fake RP; with hang its /fc never answers.
func newFakeRP(t *testing.T, hang bool) *fakeRP {
	t.Helper()
	rp := &fakeRP{}
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fc", func(w http.ResponseWriter, r *http.Request) {
		u := *r.URL
		rp.mu.Lock()
		rp.fc = append(rp.fc, &u)
		rp.mu.Unlock()
		if hang {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "<!doctype html><title>signed out</title><p>signed out</p>")
	})
	mux.HandleFunc("GET /bye", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!doctype html><title>bye</title><p>See you</p>")
	})
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets a hanging /fc return
	return rp
}

// requests returns the requests to /fc so far.
func (rp *fakeRP) requests() []*url.URL {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]*url.URL(nil), rp.fc...)
}

// browserEnv is a front whose clients are the fake RPs: rp1 and rp2 ask for
// iss and sid (rp1's URI has a query of its own), rp3 asks for neither.
type browserEnv struct {
	*env
	rp1, rp2, rp3 *fakeRP
}

// fcTimeout is the front-channel timeout of most browser tests.
const fcTimeout = 2 * time.Second

func newBrowserEnv(t *testing.T, hangRP2 bool, timeout time.Duration) *browserEnv {
	b := &browserEnv{rp1: newFakeRP(t, false), rp2: newFakeRP(t, hangRP2), rp3: newFakeRP(t, false)}
	client := func(id string, rp *fakeRP, fc string, session bool) config.Client {
		return config.Client{ClientID: id, Name: strings.ToUpper(id),
			RedirectURIs:                      []string{rp.srv.URL + "/cb"},
			PostLogoutRedirectURIs:            []string{rp.srv.URL + "/bye"},
			FrontchannelLogoutURI:             rp.srv.URL + fc,
			FrontchannelLogoutSessionRequired: session}
	}
	l := listen(t)
	b.env = newEnvAt(t, l, func(c *config.Config) {
		// The page reports its iframes to the public URL: this server.
		c.PublicURL = "http://" + l.Addr().String()
		c.Logout.FrontchannelTimeout = timeout
		c.Clients = []config.Client{
			client("rp1", b.rp1, "/fc?tenant=a", true),
			client("rp2", b.rp2, "/fc", true),
			client("rp3", b.rp3, "/fc", false),
		}
	})
	return b
}

// session makes a session at all three RPs and returns the end-session URL
// for a logout started by rp1 with its registered redirect URI and state.
func (b *browserEnv) session(sid, state string, redirect bool) string {
	for _, id := range []string{"rp1", "rp2", "rp3"} {
		b.join(sid, id, "alice")
	}
	v := url.Values{"id_token_hint": {b.hint("rp1", "alice", sid, time.Now().Add(time.Hour))}, "state": {state}}
	if redirect {
		v.Set("post_logout_redirect_uri", b.rp1.srv.URL+"/bye")
	}
	return b.srv.URL + "/connect/endsession?" + v.Encode()
}

// assertFrontchannelRequests checks that every RP's front-channel URI was
// requested once, with exactly the expected query (FCL-8..12).
func (b *browserEnv) assertFrontchannelRequests(t *testing.T, sid string) {
	t.Helper()
	want := map[*fakeRP]string{
		b.rp1: "tenant=a&iss=" + url.QueryEscape(issuer) + "&sid=" + url.QueryEscape(sid),
		b.rp2: "iss=" + url.QueryEscape(issuer) + "&sid=" + url.QueryEscape(sid),
		b.rp3: "",
	}
	for rp, query := range want {
		reqs := rp.requests()
		if assert.Len(t, reqs, 1, "requests to %s/fc", rp.srv.URL) {
			assert.Equal(t, query, reqs[0].RawQuery, "%s/fc", rp.srv.URL)
		}
	}
	if reqs := b.rp1.requests(); len(reqs) > 0 {
		q := reqs[0].Query()
		assert.Equal(t, issuer, q.Get("iss"))
		assert.Equal(t, sid, q.Get("sid"))
	}
}

// waitFrontchannel waits until the ledger of sid's logout shows each
// client's front-channel delivery with the wanted status, and returns
// those deliveries by client.
func (b *browserEnv) waitFrontchannel(t *testing.T, sid string, want map[string]event.Status) map[string]index.Delivery {
	t.Helper()
	var got map[string]index.Delivery
	ok := assert.Eventually(t, func() bool {
		got = map[string]index.Delivery{}
		s, found := b.front.Index().Session(sid)
		if !found {
			return false
		}
		for _, d := range s.Deliveries {
			if d.Channel == "frontchannel" {
				got[d.ClientID] = d
			}
		}
		if len(got) != len(want) {
			return false
		}
		for id, st := range want {
			if got[id].Status != st {
				return false
			}
		}
		return true
	}, 10*time.Second, 20*time.Millisecond)
	if !ok {
		t.Logf("front-channel deliveries: %+v, want statuses %v", got, want)
	}
	return got
}

// visit sends the browser to u without waiting for the page to load: the
// front-channel page's load event waits for its iframes.
func visit(t *testing.T, ctx context.Context, u string) {
	t.Helper()
	res, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: u})
	require.NoError(t, err)
	require.Empty(t, res.ErrorText)
}

// currentURL is the URL of the tab's current history entry. It needs no
// JavaScript.
func currentURL(ctx context.Context) (string, error) {
	h, err := chromedp.Run(ctx, chromedp.NavigationEntries())
	if err != nil {
		return "", err
	}
	if h.CurrentIndex < 0 || int(h.CurrentIndex) >= len(h.Entries) {
		return "", errors.New("no current history entry")
	}
	return h.Entries[h.CurrentIndex].URL, nil
}

// waitForURL waits up to limit until the tab's URL starts with prefix and
// returns it.
func waitForURL(t *testing.T, ctx context.Context, prefix string, limit time.Duration) string {
	t.Helper()
	var last atomic.Value // string; the condition may outlive Eventually
	last.Store("")
	reached := assert.Eventually(t, func() bool {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		u, err := currentURL(cctx)
		if err != nil {
			return false
		}
		last.Store(u)
		return strings.HasPrefix(u, prefix)
	}, limit, 50*time.Millisecond)
	if !reached {
		t.Fatalf("the browser did not reach %s; it is at %s", prefix, last.Load())
	}
	return last.Load().(string)
}

// locationHref reads window.location.href once the landing page runs
// script.
func locationHref(t *testing.T, ctx context.Context) string {
	t.Helper()
	var href atomic.Value // string
	require.Eventually(t, func() bool {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		v, err := chromedp.Run(cctx, chromedp.Evaluate[string](`document.readyState === "complete" ? window.location.href : ""`))
		if err != nil || v == "" {
			return false
		}
		href.Store(v)
		return true
	}, 10*time.Second, 50*time.Millisecond)
	return href.Load().(string)
}

// assertLanded checks that href is rp1's registered redirect URI with the
// state unchanged after decoding, and nothing else added (RIL-27, RIL-29).
func (b *browserEnv) assertLanded(t *testing.T, href, state string) {
	t.Helper()
	u, err := url.Parse(href)
	require.NoError(t, err)
	assert.Equal(t, b.rp1.srv.URL+"/bye", u.Scheme+"://"+u.Host+u.Path)
	assert.Equal(t, url.Values{"state": {state}}, u.Query())
	assert.Empty(t, u.Fragment)
}

// watchConsole collects what the tab writes to its console from now on:
// script errors and the browser's own messages, such as CSP violations.
// assertQuietConsole checks them.
func watchConsole(t *testing.T, ctx context.Context) func() []chromedp.ConsoleMessage {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	messages := chromedp.Console(cctx)
	var mu sync.Mutex
	var got []chromedp.ConsoleMessage
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return func() []chromedp.ConsoleMessage {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// assertQuietConsole checks that no script failed and nothing was refused
// by the Content-Security-Policy: a blocked script would otherwise go
// unnoticed, because the meta refresh still navigates.
func assertQuietConsole(t *testing.T, messages []chromedp.ConsoleMessage) {
	t.Helper()
	for _, m := range messages {
		assert.False(t, m.IsException(), "script error: %s", m)
		assert.NotContains(t, m.Text, "Content Security Policy", "CSP violation: %s", m)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SIGNOFF_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
}

// waitForText waits until the current page's body shows text.
func waitForText(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	require.Eventually(t, func() bool {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		v, err := chromedp.Run(cctx, chromedp.EvaluateAsDevTools[string](`document.body ? document.body.innerText : ""`))
		return err == nil && strings.Contains(v, text)
	}, 10*time.Second, 50*time.Millisecond, "the page never showed %q", text)
}

func TestBrowserFrontchannelLogout(t *testing.T) {
	ctx := newChromium(t)
	console := watchConsole(t, ctx)
	// A time limit far beyond the wait below: the page must leave as soon
	// as every iframe has loaded, before the limit and its meta refresh.
	b := newBrowserEnv(t, false, time.Minute)
	const sid = "br/sid&=x~1" // a / & and = to be percent-encoded in the iframe URLs
	visit(t, ctx, b.session(sid, state90, true))

	waitForURL(t, ctx, b.rp1.srv.URL+"/bye", 20*time.Second)
	b.assertLanded(t, locationHref(t, ctx), state90)
	b.assertFrontchannelRequests(t, sid)
	s, ok := b.front.Index().Session(sid)
	require.True(t, ok)
	assert.True(t, s.Ended())
	// The page reported every iframe's load: the ledger has them.
	ds := b.waitFrontchannel(t, sid, map[string]event.Status{
		"rp1": event.StatusDelivered, "rp2": event.StatusDelivered, "rp3": event.StatusDelivered})
	for id, d := range ds {
		assert.Equal(t, 1, d.Attempts, id)
		assert.Empty(t, d.LastError, id)
	}
	assertQuietConsole(t, console())
}

func TestBrowserFrontchannelLogoutWithAHangingRP(t *testing.T) {
	ctx := newChromium(t)
	console := watchConsole(t, ctx)
	b := newBrowserEnv(t, true, fcTimeout)
	const sid = "br-hang"
	visit(t, ctx, b.session(sid, state90, true))
	waitForText(t, ctx, "Signing you out")
	screenshot(t, ctx, "fc-waiting.png")

	// rp2 never answers: the page gives up on it after its time limit.
	waitForURL(t, ctx, b.rp1.srv.URL+"/bye", 30*time.Second)
	b.assertLanded(t, locationHref(t, ctx), state90)
	b.assertFrontchannelRequests(t, sid)
	ds := b.waitFrontchannel(t, sid, map[string]event.Status{
		"rp1": event.StatusDelivered, "rp2": event.StatusFailed, "rp3": event.StatusDelivered})
	assert.Contains(t, ds["rp2"].LastError, "had not loaded the front-channel logout URI after 2s")
	assertQuietConsole(t, console())
}

func TestBrowserFrontchannelLogoutWithoutJavaScript(t *testing.T) {
	ctx := newChromium(t)
	b := newBrowserEnv(t, false, fcTimeout)
	_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	require.NoError(t, err)
	const sid = "br-nojs"
	visit(t, ctx, b.session(sid, state90, true))

	// The meta refresh takes the browser there.
	b.assertLanded(t, waitForURL(t, ctx, b.rp1.srv.URL+"/bye", 30*time.Second), state90)
	b.assertFrontchannelRequests(t, sid)
	// Nothing reports without a script: the deliveries stay pending.
	b.waitFrontchannel(t, sid, map[string]event.Status{
		"rp1": event.StatusPending, "rp2": event.StatusPending, "rp3": event.StatusPending})
	assert.Empty(t, b.frontchannelReports(t, sid), "no report was stored")
}

func TestBrowserFrontchannelLogoutWithoutRedirectStays(t *testing.T) {
	ctx := newChromium(t)
	console := watchConsole(t, ctx)
	b := newBrowserEnv(t, false, fcTimeout)
	const sid = "br-stay"
	start := b.session(sid, "s", false)
	visit(t, ctx, start)

	waitForText(t, ctx, "You are signed out")
	require.Eventually(t, func() bool {
		return len(b.rp1.requests())+len(b.rp2.requests())+len(b.rp3.requests()) == 3
	}, 10*time.Second, 50*time.Millisecond)
	b.assertFrontchannelRequests(t, sid)
	screenshot(t, ctx, "fc-signedout.png")
	body, err := chromedp.Run(ctx, chromedp.EvaluateAsDevTools[string](`document.body.innerText`))
	require.NoError(t, err)
	for _, app := range []string{"RP1", "RP2", "RP3"} {
		assert.Contains(t, body, app)
	}
	assert.NotContains(t, body, "did not confirm", "every iframe loaded in time")
	// It goes nowhere, not even after the time limit.
	assert.Never(t, func() bool {
		u, err := currentURL(ctx)
		return err == nil && u != start
	}, fcTimeout+time.Second, 100*time.Millisecond)
	assertQuietConsole(t, console())
}

// TestBrowserFrontchannelLogoutNamesTheRPsThatDidNotAnswer: a page that
// stays names the applications whose iframe did not load in time, since
// the person may still be signed in there (FCL-15); not the others.
func TestBrowserFrontchannelLogoutNamesTheRPsThatDidNotAnswer(t *testing.T) {
	ctx := newChromium(t)
	console := watchConsole(t, ctx)
	b := newBrowserEnv(t, true, fcTimeout)
	const sid = "br-stay-hang"
	visit(t, ctx, b.session(sid, "s", false))

	waitForText(t, ctx, "did not confirm the sign-out in time")
	screenshot(t, ctx, "fc-late.png")
	late, err := chromedp.Run(ctx, chromedp.EvaluateAsDevTools[string](`document.getElementById("fc-late").innerText`))
	require.NoError(t, err)
	assert.Contains(t, late, "RP2")
	assert.NotContains(t, late, "RP1")
	assert.NotContains(t, late, "RP3")
	assertQuietConsole(t, console())
}

// TestBrowserConfirmation: a logout without a hint asks the person; in
// Chromium, the confirmation form posted from signoff's own page (its
// Sec-Fetch-Site and Origin headers as a browser sends them) is taken,
// and the browser ends at the registered URI with state.
func TestBrowserConfirmation(t *testing.T) {
	ctx := newChromium(t)
	b := newBrowserEnv(t, false, fcTimeout)
	const sid = "br-confirm"
	b.session(sid, state90, true)
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: "idp_session", Value: sid, URL: b.srv.URL})
	require.NoError(t, err)
	v := url.Values{"client_id": {"rp1"}, "post_logout_redirect_uri": {b.rp1.srv.URL + "/bye"}, "state": {state90}}
	visit(t, ctx, b.srv.URL+"/connect/endsession?"+v.Encode())
	waitForText(t, ctx, "RP1")
	_, err = chromedp.Run(ctx, chromedp.Click(chromedp.CSS(`button[value="yes"]`)))
	require.NoError(t, err)
	b.assertLanded(t, waitForURL(t, ctx, b.rp1.srv.URL+"/bye", 30*time.Second), state90)
	s, ok := b.front.Index().Session(sid)
	require.True(t, ok)
	assert.True(t, s.Ended(), "the browser's session ended")
}
