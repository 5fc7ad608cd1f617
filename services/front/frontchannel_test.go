package front_test

import (
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
)

// The front-channel clients of testConfig: app3 asks for iss and sid and
// has a query of its own, app4 asks for neither.
const (
	app3FC  = "https://app3.example.com/logout/fc?tenant=t1"
	app4FC  = "https://app4.example.com:8443/fc"
	app3Bye = "https://app3.example.com/bye"
	// issQ is the issuer percent-encoded as a query value (FCL-10).
	issQ = "http%3A%2F%2F127.0.0.1%3A8080"
)

var (
	iframeSrc    = regexp.MustCompile(`<iframe src="([^"]*)"`)
	metaRefresh  = regexp.MustCompile(`<meta http-equiv="refresh" content="([^"]*)">`)
	scriptNonce  = regexp.MustCompile(`<script nonce="([^"]+)">`)
	dataContinue = regexp.MustCompile(`data-continue="([^"]*)"`)
)

// fcPage is what a front-channel page says, HTML-unescaped.
type fcPage struct {
	frames  []string
	refresh string // the meta refresh content, "" when none
	next    string
	nonce   string
	csp     map[string]string // directive -> sources
}

func parseFCPage(t *testing.T, r response) fcPage {
	t.Helper()
	var p fcPage
	for _, m := range iframeSrc.FindAllStringSubmatch(r.body, -1) {
		p.frames = append(p.frames, html.UnescapeString(m[1]))
	}
	if m := metaRefresh.FindStringSubmatch(r.body); m != nil {
		p.refresh = html.UnescapeString(m[1])
	}
	if m := dataContinue.FindStringSubmatch(r.body); m != nil {
		p.next = html.UnescapeString(m[1])
	}
	if m := scriptNonce.FindStringSubmatch(r.body); m != nil {
		p.nonce = m[1]
	}
	p.csp = map[string]string{}
	for _, d := range strings.Split(r.header.Get("Content-Security-Policy"), ";") {
		name, sources, _ := strings.Cut(strings.TrimSpace(d), " ")
		p.csp[name] = sources
	}
	return p
}

// TestFrontchannelPage checks the page that loads the front-channel
// iframes (Front-Channel Logout 1.0 §3): exactly the right iframes with
// exact URLs, the CSP, and where the page continues.
func TestFrontchannelPage(t *testing.T) {
	e := newEnv(t)
	future := time.Now().Add(time.Hour)
	const reg = "https://app1.example.com/signed-out"

	t.Run("iframes for the participants with a frontchannel uri, then the redirect with state", func(t *testing.T) {
		e.join("s-fc1", "app1", "alice")
		e.join("s-fc1", "app3", "alice")
		e.join("s-fc1", "app4", "pairwise-alice")
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app1", "alice", "s-fc1", future)}, "post_logout_redirect_uri": {reg}, "state": {state90}})
		require.Equal(t, 200, r.status, r.body)
		assert.Empty(t, r.location)
		p := parseFCPage(t, r)
		// app1 (no uri) gets none; app3 gets iss and sid after its own
		// query; app4 gets its uri unchanged (FCL-8, FCL-9, FCL-12).
		assert.Equal(t, []string{app3FC + "&iss=" + issQ + "&sid=s-fc1", app4FC}, p.frames)

		want := reg + "?state=" + url.QueryEscape(state90)
		assert.Equal(t, "3;url="+want, p.refresh, "meta refresh after ceil(frontchannel_timeout)")
		assert.Equal(t, want, p.next)
		assert.Contains(t, r.body, `<a href="`+html.EscapeString(want)+`">Continue</a>`)
		assert.NotContains(t, r.body, state90, "the raw state appears nowhere")

		assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
		assert.Equal(t, "'none'", p.csp["default-src"])
		assert.Equal(t, "https://app3.example.com https://app4.example.com:8443", p.csp["frame-src"])
		assert.Equal(t, "'nonce-"+p.nonce+"'", p.csp["script-src"])
		assert.Equal(t, "'nonce-"+p.nonce+"'", p.csp["style-src"])
		assert.Contains(t, r.body, `<style nonce="`+p.nonce+`">`)
		assert.Equal(t, "'none'", p.csp["frame-ancestors"])
		assert.Equal(t, "'self'", p.csp["form-action"])
		assert.NotContains(t, r.body, " onload=", "no inline handlers")

		s, _ := e.front.Index().Session("s-fc1")
		assert.True(t, s.Ended())
	})

	t.Run("the initiating client gets one, clients not in the session none", func(t *testing.T) {
		e.join("s-fc2", "app3", "carol")
		e.join("s-other", "app4", "carol")
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app3", "carol", "s-fc2", future)}, "post_logout_redirect_uri": {app3Bye}})
		require.Equal(t, 200, r.status, r.body)
		p := parseFCPage(t, r)
		assert.Equal(t, []string{app3FC + "&iss=" + issQ + "&sid=s-fc2"}, p.frames)
		assert.Equal(t, "https://app3.example.com", p.csp["frame-src"])
		assert.Equal(t, "3;url="+app3Bye, p.refresh, "no state, none added")
	})

	t.Run("a session the index does not know: the hint's client", func(t *testing.T) {
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app3", "dave", "s-unknown", future)}, "post_logout_redirect_uri": {app3Bye}, "state": {"x"}})
		require.Equal(t, 200, r.status, r.body)
		assert.Equal(t, []string{app3FC + "&iss=" + issQ + "&sid=s-unknown"}, parseFCPage(t, r).frames)
	})

	t.Run("several sessions: one iframe per client and sid", func(t *testing.T) {
		for _, sid := range []string{"s-m1", "s-m2"} {
			e.join(sid, "app3", "erin")
			e.join(sid, "app4", "erin")
		}
		// A hint with only a sub ends every session of that subject with
		// the client, so the person confirms first.
		b := newBrowser(t)
		r := e.do(b, http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app3", "erin", "", future)}})
		require.Equal(t, 200, r.status, r.body)
		r = e.confirm(b, r.body)
		require.Equal(t, 200, r.status, r.body)
		p := parseFCPage(t, r)
		// app4 gets the same URL for both sessions: it is loaded once.
		assert.ElementsMatch(t, []string{
			app3FC + "&iss=" + issQ + "&sid=s-m1",
			app3FC + "&iss=" + issQ + "&sid=s-m2",
			app4FC,
		}, p.frames)

		// That one iframe reports for both logouts.
		var token string
		for _, m := range iframeReport.FindAllStringSubmatch(r.body, -1) {
			if html.UnescapeString(m[1]) == app4FC {
				token = html.UnescapeString(m[2])
			}
		}
		require.NotEmpty(t, token)
		require.Equal(t, http.StatusNoContent, e.do(http.DefaultClient, http.MethodPost, "/connect/endsession/frontchannel",
			url.Values{"r": {token}, "s": {"loaded"}}).status)
		require.Eventually(t, func() bool {
			return e.frontchannelLedger("s-m1")["app4"].Status == event.StatusDelivered &&
				e.frontchannelLedger("s-m2")["app4"].Status == event.StatusDelivered
		}, 5*time.Second, 10*time.Millisecond)
		assert.Equal(t, event.StatusPending, e.frontchannelLedger("s-m1")["app3"].Status, "app3's own iframes did not report")
	})

	t.Run("no redirect: the page is the signed-out page and goes nowhere", func(t *testing.T) {
		e.join("s-fc3", "app1", "frank")
		e.join("s-fc3", "app3", "frank")
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app1", "frank", "s-fc3", future)}, "state": {"s"}})
		require.Equal(t, 200, r.status, r.body)
		p := parseFCPage(t, r)
		assert.Equal(t, []string{app3FC + "&iss=" + issQ + "&sid=s-fc3"}, p.frames)
		assert.Empty(t, p.refresh)
		assert.Empty(t, p.next)
		assert.Contains(t, r.body, "<title>You are signed out</title>")
		assert.Contains(t, r.body, "<li>App One</li><li>App Three</li>")
		assert.NotContains(t, r.body, "Continue")
	})

	t.Run("after confirmation", func(t *testing.T) {
		e.join("s-fc4", "app3", "gina")
		b := newBrowser(t)
		e.setCookie(b, "s-fc4")
		r := e.do(b, http.MethodGet, "/connect/endsession", url.Values{
			"client_id": {"app3"}, "post_logout_redirect_uri": {app3Bye}, "state": {`"<&>'`}, "ui_locales": {"de"}})
		require.Equal(t, 200, r.status)
		r = e.confirm(b, r.body)
		require.Equal(t, 200, r.status, r.body)
		p := parseFCPage(t, r)
		assert.Equal(t, []string{app3FC + "&iss=" + issQ + "&sid=s-fc4"}, p.frames)
		assert.Equal(t, "3;url="+app3Bye+"?state=%22%3C%26%3E%27", p.refresh)
		assert.Contains(t, r.body, "Abmeldung läuft")
		assert.Equal(t, "de", r.header.Get("Content-Language"))
	})

	t.Run("nobody needs an iframe: the redirect as before", func(t *testing.T) {
		e.join("s-fc5", "app1", "hugo")
		e.join("s-fc5", "app2", "hugo")
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app1", "hugo", "s-fc5", future)}, "post_logout_redirect_uri": {reg}, "state": {"z"}})
		assert.Equal(t, 302, r.status)
		assert.Equal(t, reg+"?state=z", r.location)
		assert.NotContains(t, r.body, "<iframe")
	})

	t.Run("the same logout again: nothing ends, no iframes (RIL-32)", func(t *testing.T) {
		r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint": {e.hint("app3", "carol", "s-fc2", future)}, "post_logout_redirect_uri": {app3Bye}})
		assert.Equal(t, 302, r.status)
		assert.Equal(t, app3Bye, r.location)
	})
}

func TestFrontchannelPageContinuesToTheSignedOutURL(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Logout.SignedOutURL = "https://portal.example.com/bye?a=1"
		c.Logout.FrontchannelTimeout = 1500 * time.Millisecond
	})
	e.join("s-portal", "app4", "ida")
	r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
		"id_token_hint": {e.hint("app4", "ida", "s-portal", time.Now().Add(time.Hour))}})
	require.Equal(t, 200, r.status, r.body)
	p := parseFCPage(t, r)
	assert.Equal(t, []string{app4FC}, p.frames)
	assert.Equal(t, "2;url=https://portal.example.com/bye?a=1", p.refresh)
	assert.Equal(t, "https://portal.example.com/bye?a=1", p.next)
	assert.Contains(t, r.body, `data-timeout-ms="1500"`)
}

var (
	iframeReport  = regexp.MustCompile(`<iframe src="([^"]*)"(?: data-name="[^"]*")? data-report="([^"]*)"`)
	dataReport    = regexp.MustCompile(`data-report="([^"]*)"`)
	dataReportURL = regexp.MustCompile(`data-report-url="([^"]*)"`)
)

// frontchannelLedger returns the front-channel deliveries of sid's logout
// by client.
func (e *env) frontchannelLedger(sid string) map[string]index.Delivery {
	got := map[string]index.Delivery{}
	if s, ok := e.front.Index().Session(sid); ok {
		for _, d := range s.Deliveries {
			if d.Channel == "frontchannel" {
				got[d.ClientID] = d
			}
		}
	}
	return got
}

// frontchannelReports returns the per-delivery front-channel records of
// sid's logout in the state stream: the reports that were stored.
func (e *env) frontchannelReports(t *testing.T, sid string) []*event.Delivery {
	t.Helper()
	s, ok := e.front.Index().Session(sid)
	require.True(t, ok)
	require.NotEmpty(t, s.LogoutID)
	st, err := e.nats.JS.Stream(t.Context(), natsconn.StreamState)
	require.NoError(t, err)
	var out []*event.Delivery
	for _, c := range e.cfg.Clients {
		msg, err := st.GetLastMsgForSubject(t.Context(), event.DeliverySubject(s.LogoutID, "frontchannel", c.ClientID))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		require.NoError(t, err)
		d, err := event.Decode[event.Delivery](msg.Data)
		require.NoError(t, err)
		out = append(out, d)
	}
	return out
}

// TestFrontchannelReports checks the ledger of front-channel deliveries:
// pending once the page is served, then what the page reports for each
// iframe, with the iframe's token; anything else is refused.
func TestFrontchannelReports(t *testing.T) {
	e := newEnv(t)
	e.join("s-rep", "app3", "alice")
	e.join("s-rep", "app4", "alice")
	r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
		"id_token_hint": {e.hint("app3", "alice", "s-rep", time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {app3Bye}})
	require.Equal(t, 200, r.status, r.body)
	p := parseFCPage(t, r)
	require.Equal(t, []string{app3FC + "&iss=" + issQ + "&sid=s-rep", app4FC}, p.frames)
	var tokens []string
	for _, m := range dataReport.FindAllStringSubmatch(r.body, -1) {
		tokens = append(tokens, html.UnescapeString(m[1]))
	}
	require.Len(t, tokens, 2, "one report token per iframe")
	assert.NotEqual(t, tokens[0], tokens[1])
	m := dataReportURL.FindStringSubmatch(r.body)
	require.NotNil(t, m)
	assert.Equal(t, issuer+"/connect/endsession/frontchannel", html.UnescapeString(m[1]), "the public URL")
	assert.Equal(t, issuer, p.csp["connect-src"], "the page may send its reports there, nowhere else")

	require.Eventually(t, func() bool {
		l := e.frontchannelLedger("s-rep")
		return len(l) == 2 && l["app3"].Status == event.StatusPending && l["app4"].Status == event.StatusPending
	}, 5*time.Second, 10*time.Millisecond, "pending once the page is served")

	report := func(token, status string, header ...string) response {
		return e.do(http.DefaultClient, http.MethodPost, "/connect/endsession/frontchannel",
			url.Values{"r": {token}, "s": {status}}, header...)
	}
	t.Run("refused", func(t *testing.T) {
		mac := tokens[0][strings.LastIndex(tokens[0], ".")+1:]
		forged := strings.Replace(tokens[0], mac, strings.Repeat("A", len(mac)), 1)
		tests := []struct {
			name, token, status string
			header              []string
			want                int
		}{
			{"no status", tokens[0], "", nil, http.StatusBadRequest},
			{"other status", tokens[0], "delivered", nil, http.StatusBadRequest},
			{"no token", "", "loaded", nil, http.StatusBadRequest},
			{"forged token", forged, "loaded", nil, http.StatusBadRequest},
			{"not a token", "eyJ4IjoxfQ", "loaded", nil, http.StatusBadRequest},
			{"altered token", tokens[0] + "x", "loaded", nil, http.StatusBadRequest},
			{"another site's page", tokens[0], "loaded", []string{"Origin", "https://evil.example.com"}, http.StatusForbidden},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := report(tc.token, tc.status, tc.header...)
				assert.Equal(t, tc.want, r.status)
				assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
				assert.Contains(t, r.body, `"error":"invalid_request"`)
			})
		}
		get := e.do(http.DefaultClient, http.MethodGet, "/connect/endsession/frontchannel", nil)
		assert.Equal(t, http.StatusMethodNotAllowed, get.status)
		assert.Empty(t, e.frontchannelReports(t, "s-rep"), "nothing refused was recorded")
	})

	// The page's own origin may report, as a browser says it does.
	require.Equal(t, http.StatusNoContent, report(tokens[0], "loaded", "Origin", issuer).status)
	require.Equal(t, http.StatusNoContent, report(tokens[1], "timeout").status)
	var l map[string]index.Delivery
	require.Eventually(t, func() bool {
		l = e.frontchannelLedger("s-rep")
		return l["app3"].Status == event.StatusDelivered && l["app4"].Status == event.StatusFailed
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, l["app3"].Attempts)
	assert.Empty(t, l["app3"].LastError)
	assert.Equal(t, "the browser had not loaded the front-channel logout URI after 3s", l["app4"].LastError)

	// The first report wins: a token sent again changes nothing.
	require.Equal(t, http.StatusNoContent, report(tokens[0], "timeout").status)
	require.Equal(t, http.StatusNoContent, report(tokens[1], "loaded").status)
	assert.Len(t, e.frontchannelReports(t, "s-rep"), 2, "one record per delivery")
	l = e.frontchannelLedger("s-rep")
	assert.Equal(t, event.StatusDelivered, l["app3"].Status)
	assert.Equal(t, event.StatusFailed, l["app4"].Status)

	// So do the metrics, beside the workers' deliveries.
	metrics := e.do(http.DefaultClient, http.MethodGet, "/metrics", nil, "Authorization", "Bearer test-token")
	require.Equal(t, 200, metrics.status)
	for _, line := range []string{
		`signoff_deliveries_total{channel="frontchannel",client_id="app3",status="pending"} 1`,
		`signoff_deliveries_total{channel="frontchannel",client_id="app3",status="delivered"} 1`,
		`signoff_deliveries_total{channel="frontchannel",client_id="app4",status="failed"} 1`,
	} {
		assert.Contains(t, metrics.body, line)
	}
	assert.NotContains(t, metrics.body, `signoff_deliveries_total{channel="frontchannel",client_id="app3",status="failed"}`,
		"a report sent again is not counted")

	// The API shows them beside the other channels.
	api := e.do(http.DefaultClient, http.MethodGet, "/api/v1/sessions/s-rep", nil, "Authorization", "Bearer test-token")
	require.Equal(t, 200, api.status)
	assert.Contains(t, api.body, `{"client_id":"app3","channel":"frontchannel","status":"delivered","attempts":1,"last_error":""}`)
}

// TestFrontchannelPageWhenPendingIsNotRecorded: the state stream refuses
// the pending records; the page is served all the same, and a report still
// records its delivery.
func TestFrontchannelPageWhenPendingIsNotRecorded(t *testing.T) {
	e := newEnv(t)
	e.join("s-nopending", "app3", "alice")
	lift := e.admitMore(t, natsconn.StreamState, 0)
	r := e.do(newBrowser(t), http.MethodGet, "/connect/endsession", url.Values{
		"id_token_hint": {e.hint("app3", "alice", "s-nopending", time.Now().Add(time.Hour))}})
	require.Equal(t, http.StatusOK, r.status, r.body)
	m := dataReport.FindStringSubmatch(r.body)
	require.NotNil(t, m)
	s, _ := e.front.Index().Session("s-nopending")
	st, err := e.nats.JS.Stream(t.Context(), natsconn.StreamState)
	require.NoError(t, err)
	_, err = st.GetLastMsgForSubject(t.Context(), event.BatchSubject(s.LogoutID, "frontchannel", 1))
	assert.ErrorIs(t, err, jetstream.ErrMsgNotFound, "no pending record")

	lift()
	require.Equal(t, http.StatusNoContent, e.do(http.DefaultClient, http.MethodPost, "/connect/endsession/frontchannel",
		url.Values{"r": {html.UnescapeString(m[1])}, "s": {"loaded"}}).status)
	require.Eventually(t, func() bool {
		return e.frontchannelLedger("s-nopending")["app3"].Status == event.StatusDelivered
	}, 5*time.Second, 10*time.Millisecond)
}
