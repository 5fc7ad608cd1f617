package backchannel

import (
	"context"
	"crypto/tls"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/http1"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/propagate/propagatetest"
)

// outcome is how a Propagate call ended.
type outcome = propagatetest.Outcome

const (
	delivered = propagatetest.Delivered
	transient = propagatetest.Transient
	permanent = propagatetest.Permanent
)

var outcomeOf = propagatetest.OutcomeOf

func TestPropagateStatus(t *testing.T) {
	ks := testKeys(t, keys.RS256)
	var redirected atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		redirected.Add(1)
	}))
	t.Cleanup(target.Close)

	answer := func(status int, header map[string]string, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			for k, v := range header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	jsonError := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name           string
		handler        http.HandlerFunc
		want           outcome
		wantMsg        string
		wantRetryAfter time.Duration
	}{
		{name: "200", handler: answer(http.StatusOK, nil, ""), want: delivered},
		{name: "200 with a large body", handler: answer(http.StatusOK, nil, strings.Repeat("x", 64<<10)), want: delivered},
		{name: "204", handler: answer(http.StatusNoContent, nil, ""), want: delivered},
		{
			name:    "400 with a JSON error",
			handler: answer(http.StatusBadRequest, jsonError, `{"error":"invalid_request","error_description":"the token has no sid"}`),
			want:    permanent, wantMsg: "HTTP 400: invalid_request: the token has no sid",
		},
		{
			name:    "400 with a JSON error, no description",
			handler: answer(http.StatusBadRequest, jsonError, `{"error":"invalid_token"}`),
			want:    permanent, wantMsg: "HTTP 400: invalid_token",
		},
		{name: "400 with an HTML page", handler: answer(http.StatusBadRequest, nil, "<html>bad</html>"), want: permanent, wantMsg: "HTTP 400"},
		{name: "400 with a control character", handler: answer(http.StatusBadRequest, jsonError, `{"error":"bad\u001b[31m"}`), want: permanent, wantMsg: "HTTP 400: bad?[31m"},
		{name: "401", handler: answer(http.StatusUnauthorized, nil, ""), want: permanent, wantMsg: "HTTP 401"},
		{name: "404", handler: answer(http.StatusNotFound, nil, "not found"), want: permanent, wantMsg: "HTTP 404"},
		{
			name:    "302 not followed",
			handler: answer(http.StatusFound, map[string]string{"Location": target.URL + "/elsewhere?secret=1"}, ""),
			want:    permanent, wantMsg: "HTTP 302: redirect to " + target.URL + "/elsewhere not followed",
		},
		{
			name:    "307 not followed",
			handler: answer(http.StatusTemporaryRedirect, map[string]string{"Location": target.URL}, ""),
			want:    permanent, wantMsg: "HTTP 307: redirect to " + target.URL + " not followed",
		},
		{name: "408", handler: answer(http.StatusRequestTimeout, nil, ""), want: transient, wantMsg: "HTTP 408"},
		{name: "429", handler: answer(http.StatusTooManyRequests, nil, ""), want: transient, wantMsg: "HTTP 429"},
		{
			name:    "429 with Retry-After seconds",
			handler: answer(http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}, ""),
			want:    transient, wantMsg: "HTTP 429", wantRetryAfter: 7 * time.Second,
		},
		{
			name:    "503 with Retry-After garbage",
			handler: answer(http.StatusServiceUnavailable, map[string]string{"Retry-After": "soon"}, ""),
			want:    transient, wantMsg: "HTTP 503",
		},
		{name: "500", handler: answer(http.StatusInternalServerError, nil, "oops"), want: transient, wantMsg: "HTTP 500"},
		{name: "501: not recoverable (BCL-28)", handler: answer(http.StatusNotImplemented, nil, ""), want: permanent, wantMsg: "HTTP 501"},
		{name: "505", handler: answer(http.StatusHTTPVersionNotSupported, nil, ""), want: permanent, wantMsg: "HTTP 505"},
		{name: "504", handler: answer(http.StatusGatewayTimeout, nil, ""), want: transient, wantMsg: "HTTP 504"},
		{name: "503", handler: answer(http.StatusServiceUnavailable, nil, ""), want: transient, wantMsg: "HTTP 503"},
	}
	p := New(ks, issuer, NewHTTPClient())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			c := &config.Client{ClientID: "app", BackchannelLogoutURI: srv.URL + "/logout"}
			err := p.Propagate(t.Context(), delivery(c, "alice", "sid-1"))
			assert.Equal(t, tc.want, outcomeOf(err), "err: %v", err)
			if tc.wantMsg != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantMsg)
				assert.NotContains(t, err.Error(), "secret")
			}
			var he *propagate.HTTPError
			if tc.wantRetryAfter > 0 {
				require.ErrorAs(t, err, &he)
				assert.Equal(t, tc.wantRetryAfter, he.RetryAfter)
			} else if errors.As(err, &he) {
				assert.Zero(t, he.RetryAfter)
			}
		})
	}
	assert.Zero(t, redirected.Load(), "a redirect was followed")
}

func TestPropagateRetryAfterDate(t *testing.T) {
	ks := testKeys(t, keys.RS256)
	at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", at)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	c := &config.Client{ClientID: "app", BackchannelLogoutURI: srv.URL}
	err := New(ks, issuer, NewHTTPClient()).Propagate(t.Context(), delivery(c, "alice", "sid-1"))
	assert.Equal(t, transient, outcomeOf(err))
	var he *propagate.HTTPError
	require.ErrorAs(t, err, &he)
	assert.InDelta(t, 90*time.Second, he.RetryAfter, float64(3*time.Second))
}

func TestPropagateNetworkFailures(t *testing.T) {
	ks := testKeys(t, keys.RS256)
	p := New(ks, issuer, NewHTTPClient())

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		c := &config.Client{ClientID: "app", BackchannelLogoutURI: "http://" + addr + "/logout?key=secret"}
		err = p.Propagate(t.Context(), delivery(c, "alice", "sid-1"))
		require.Error(t, err)
		assert.Equal(t, transient, outcomeOf(err), "err: %v", err)
		assert.NotContains(t, err.Error(), "secret", "the query is kept out of the error")
	})

	t.Run("hanging receiver and ctx timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		c := &config.Client{ClientID: "app", BackchannelLogoutURI: srv.URL}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := p.Propagate(ctx, delivery(c, "alice", "sid-1"))
		assert.Less(t, time.Since(start), 2*time.Second, "Propagate returns soon after ctx ends")
		require.Error(t, err)
		assert.Equal(t, transient, outcomeOf(err))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestPropagateMisconfigured(t *testing.T) {
	ks := testKeys(t, keys.RS256)
	p := New(ks, issuer, NewHTTPClient())
	rc := newReceiver(t, http.StatusNoContent)
	tests := []struct {
		name    string
		client  config.Client
		sub     string
		sid     string
		wantErr error
	}{
		{name: "no key for the client's algorithm", client: config.Client{ClientID: "app", IDTokenSignedResponseAlg: keys.ES256, BackchannelLogoutURI: rc.srv.URL}, sub: "alice", sid: "sid-1", wantErr: keys.ErrNoKey},
		{name: "neither sub nor sid", client: config.Client{ClientID: "app", BackchannelLogoutURI: rc.srv.URL}, wantErr: keys.ErrNoSubOrSID},
		{name: "unusable URI", client: config.Client{ClientID: "app", BackchannelLogoutURI: "http://[::1"}, sub: "alice", sid: "sid-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Propagate(t.Context(), delivery(&tc.client, tc.sub, tc.sid))
			require.Error(t, err)
			assert.True(t, propagate.IsPermanent(err), "err: %v", err)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
			}
		})
	}
	assert.Empty(t, rc.requests(), "nothing was sent")
}

func TestPropagateToken(t *testing.T) {
	ks := testKeys(t)
	jwks := parseJWKS(t, ks)
	p := New(ks, issuer, NewHTTPClient())
	jtis := map[string]bool{}
	tests := []struct {
		name    string
		alg     string // id_token_signed_response_alg
		wantAlg string
		sid     string
	}{
		{name: "default RS256", wantAlg: keys.RS256, sid: "sid-1"},
		{name: "RS256", alg: keys.RS256, wantAlg: keys.RS256, sid: "sid-1"},
		{name: "ES256", alg: keys.ES256, wantAlg: keys.ES256, sid: "sid-1"},
		{name: "EdDSA", alg: keys.EdDSA, wantAlg: keys.EdDSA, sid: "sid-1"},
		{name: "RS256 sub only", alg: keys.RS256, wantAlg: keys.RS256},
		{name: "ES256 sub only", alg: keys.ES256, wantAlg: keys.ES256},
		{name: "EdDSA sub only", alg: keys.EdDSA, wantAlg: keys.EdDSA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, http.StatusOK)
			c := &config.Client{
				ClientID:                 "app-" + tc.wantAlg,
				IDTokenSignedResponseAlg: tc.alg,
				BackchannelLogoutURI:     rc.srv.URL + "/bc?tenant=a&x=1",
			}
			// The client was given a pairwise sub, not the session's.
			d := delivery(c, "pairwise-7f3a", tc.sid)
			require.NoError(t, p.Propagate(t.Context(), d))
			require.NoError(t, p.Propagate(t.Context(), d), "a retry of the same delivery")

			got := rc.requests()
			require.Len(t, got, 2)
			for _, r := range got {
				assert.Equal(t, formType, r.contentType, "BCL-21 content type")
				assert.Equal(t, "tenant=a&x=1", r.query, "BCL-3 query kept")
				assert.Len(t, r.form, 1, "BCL-22 only logout_token")
				assert.Len(t, r.form["logout_token"], 1)
				jti := verifyToken(t, jwks, r.token, wantToken{alg: tc.wantAlg, aud: c.ClientID, sub: "pairwise-7f3a", sid: tc.sid})
				assert.False(t, jtis[jti], "BCL-10 jti %q reused", jti)
				jtis[jti] = true
			}
			assert.NotEqual(t, got[0].token, got[1].token, "a retry mints a fresh token")
		})
	}
}

func TestPropagateSIDOnly(t *testing.T) {
	ks := testKeys(t, keys.ES256)
	rc := newReceiver(t, http.StatusNoContent)
	c := &config.Client{ClientID: "app", IDTokenSignedResponseAlg: keys.ES256, BackchannelLogoutURI: rc.srv.URL}
	require.NoError(t, New(ks, issuer, nil).Propagate(t.Context(), delivery(c, "", "sid-1")))
	got := rc.requests()
	require.Len(t, got, 1)
	verifyToken(t, parseJWKS(t, ks), got[0].token, wantToken{alg: keys.ES256, aud: "app", sid: "sid-1"})
}

// TestPropagatePerSession: a client that requires a sid, in a logout of
// all of a subject's sessions, gets one token per session; every session is
// sent whatever the others' answers, and the outcome is transient when any
// failure was, permanent when all were.
func TestPropagatePerSession(t *testing.T) {
	ks := testKeys(t, keys.ES256)
	jwks := parseJWKS(t, ks)
	var mu sync.Mutex
	answers := map[string]int{} // by sid
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.NoError(t, r.ParseForm())
		raw := r.PostForm.Get("logout_token")
		sid := tokenSID(t, raw)
		verifyToken(t, jwks, raw, wantToken{alg: keys.ES256, aud: "strict", sub: "alice", sid: sid})
		mu.Lock()
		got[sid]++
		status := answers[sid]
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	c := &config.Client{ClientID: "strict", IDTokenSignedResponseAlg: keys.ES256, BackchannelLogoutURI: srv.URL,
		BackchannelLogoutSessionRequired: true}
	sids := []string{"s1", "s2", "s3", "s4", "s5", "s6"}
	d := &propagate.Delivery{Client: c, Sub: "alice", Kind: Kind, Attempt: 1, Event: &event.SessionEnded{
		LogoutID: "L", Sessions: sids, Sub: "alice", Iss: issuer, Reason: event.ReasonAPISubject, Time: time.Now(),
		Clients: []event.Participant{{ClientID: "strict", Sub: "alice", SIDs: sids}},
	}}
	p := New(ks, issuer, nil)
	run := func(statuses map[string]int) error {
		mu.Lock()
		clear(got)
		for _, sid := range sids {
			answers[sid] = http.StatusOK
		}
		maps.Copy(answers, statuses)
		mu.Unlock()
		err := p.Propagate(t.Context(), d)
		mu.Lock()
		defer mu.Unlock()
		for _, sid := range sids {
			assert.Equal(t, 1, got[sid], "every session is sent once: %s", sid)
		}
		return err
	}

	require.NoError(t, run(nil))

	err := run(map[string]int{"s2": http.StatusBadRequest})
	require.Error(t, err)
	assert.True(t, propagate.IsPermanent(err), "all failures permanent: %v", err)
	assert.Contains(t, err.Error(), "session s2")

	err = run(map[string]int{"s2": http.StatusBadRequest, "s5": http.StatusServiceUnavailable})
	require.Error(t, err)
	assert.False(t, propagate.IsPermanent(err), "one transient failure: retried: %v", err)
	assert.Contains(t, err.Error(), "session s2")
	assert.Contains(t, err.Error(), "session s5")
}

func TestWants(t *testing.T) {
	assert.True(t, Wants(&config.Client{ClientID: "a", BackchannelLogoutURI: "https://a.example.com/bc"}))
	assert.False(t, Wants(&config.Client{ClientID: "a", FrontchannelLogoutURI: "https://a.example.com/fc"}))
}

func TestSkip(t *testing.T) {
	oneSession := &event.SessionEnded{LogoutID: "l1", SID: "sid-1", Sub: "alice"}
	allSessions := &event.SessionEnded{LogoutID: "l2", Sub: "alice", Sessions: []string{"sid-1", "sid-2"},
		Clients: []event.Participant{{ClientID: "app", Sub: "alice", SIDs: []string{"sid-2"}}}}
	allSessionsNoneListed := &event.SessionEnded{LogoutID: "l3", Sub: "alice", Sessions: []string{"sid-1", "sid-2"},
		Clients: []event.Participant{{ClientID: "app", Sub: "alice"}, {ClientID: "other", Sub: "alice", SIDs: []string{"sid-1"}}}}
	tests := []struct {
		name       string
		required   bool
		event      *event.SessionEnded
		wantSkip   bool
		wantReason string
	}{
		{name: "sid not required, one session", event: oneSession},
		{name: "sid not required, all sessions", event: allSessions},
		{name: "sid required, one session", required: true, event: oneSession},
		{name: "sid required, all sessions, its own listed", required: true, event: allSessions},
		{name: "sid required, all sessions, none of its own listed", required: true, event: allSessionsNoneListed, wantSkip: true, wantReason: SkipNoSID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &config.Client{ClientID: "app", BackchannelLogoutURI: "https://app.example.com/bc", BackchannelLogoutSessionRequired: tc.required}
			reason, skip := Skip(c, tc.event)
			assert.Equal(t, tc.wantSkip, skip)
			assert.Equal(t, tc.wantReason, reason)
		})
	}
}

func TestNewHTTPClient(t *testing.T) {
	c := NewHTTPClient()
	tr, ok := c.Transport.(*http1.Transport)
	require.True(t, ok)
	assert.Equal(t, 5*time.Second, tr.DialTimeout)
	assert.Equal(t, 5*time.Second, tr.TLSHandshakeTimeout)
	assert.Equal(t, 15*time.Second, tr.RequestTimeout)
	assert.Equal(t, propagate.DefaultConcurrency, tr.MaxIdlePerHost, "the worker's default Concurrency")
	assert.Equal(t, 90*time.Second, tr.IdleTimeout)
	assert.EqualValues(t, tls.VersionTLS12, tr.TLSConfig.MinVersion)
	assert.NotNil(t, tr.Proxy, "proxies from the environment")
	fb, ok := tr.Fallback.(*http.Transport)
	require.True(t, ok)
	assert.Equal(t, 10*time.Second, fb.ResponseHeaderTimeout)
	assert.EqualValues(t, tls.VersionTLS12, fb.TLSClientConfig.MinVersion)
	assert.ErrorIs(t, c.CheckRedirect(nil, nil), http.ErrUseLastResponse)

	// A receiver that offers only TLS 1.1 is refused (BCL-24).
	old := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	// MinVersion too: Go's server refuses below TLS 1.2 by default, so a server
	// capped at 1.1 would fail every handshake whatever the client allows.
	old.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	old.StartTLS()
	defer old.Close()
	_, err := c.Post(old.URL, "text/plain", strings.NewReader("x"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "protocol version")
}

// tokenSID is the sid claim of a logout token, read without verifying it.
func tokenSID(t testing.TB, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if !assert.NoError(t, err) {
		return ""
	}
	sid, _ := tok.Claims.(jwt.MapClaims)["sid"].(string)
	return sid
}
