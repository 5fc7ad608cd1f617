package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
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

func client(uri string) *config.Client {
	return &config.Client{ClientID: "app", WebhookURI: uri, WebhookSecret: secret}
}

func TestPropagateStatus(t *testing.T) {
	var redirected atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
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
	jsonType := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name           string
		handler        http.HandlerFunc
		want           outcome
		wantMsg        string
		wantRetryAfter time.Duration
	}{
		{name: "200", handler: answer(http.StatusOK, nil, `{"ok":true}`), want: delivered},
		{name: "202", handler: answer(http.StatusAccepted, nil, ""), want: delivered},
		{name: "204", handler: answer(http.StatusNoContent, nil, ""), want: delivered},
		{name: "200 with a large body", handler: answer(http.StatusOK, nil, strings.Repeat("x", 64<<10)), want: delivered},
		{
			name:    "400 with a JSON error",
			handler: answer(http.StatusBadRequest, jsonType, `{"error":"invalid_signature","error_description":"v1 does not match"}`),
			want:    permanent, wantMsg: "HTTP 400: invalid_signature: v1 does not match",
		},
		{name: "400 without a body", handler: answer(http.StatusBadRequest, nil, ""), want: permanent, wantMsg: "HTTP 400"},
		{name: "401", handler: answer(http.StatusUnauthorized, nil, ""), want: permanent, wantMsg: "HTTP 401"},
		{name: "404", handler: answer(http.StatusNotFound, nil, "404 page not found"), want: permanent, wantMsg: "HTTP 404"},
		{
			name:    "302 not followed",
			handler: answer(http.StatusFound, map[string]string{"Location": target.URL + "/login?next=%2Fhook"}, ""),
			want:    permanent, wantMsg: "HTTP 302: redirect to " + target.URL + "/login not followed",
		},
		{
			name:    "308 not followed",
			handler: answer(http.StatusPermanentRedirect, map[string]string{"Location": target.URL}, ""),
			want:    permanent, wantMsg: "HTTP 308: redirect to " + target.URL + " not followed",
		},
		{name: "408", handler: answer(http.StatusRequestTimeout, nil, ""), want: transient, wantMsg: "HTTP 408"},
		{name: "429", handler: answer(http.StatusTooManyRequests, nil, ""), want: transient, wantMsg: "HTTP 429"},
		{
			name:    "429 with Retry-After seconds",
			handler: answer(http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}, ""),
			want:    transient, wantMsg: "HTTP 429", wantRetryAfter: 7 * time.Second,
		},
		{name: "500", handler: answer(http.StatusInternalServerError, nil, ""), want: transient, wantMsg: "HTTP 500"},
		{name: "502", handler: answer(http.StatusBadGateway, nil, ""), want: transient, wantMsg: "HTTP 502"},
		{name: "503", handler: answer(http.StatusServiceUnavailable, nil, ""), want: transient, wantMsg: "HTTP 503"},
	}
	p := New(NewHTTPClient())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			err := p.Propagate(t.Context(), delivery(client(srv.URL+"/hook"), "alice", "sid-1"))
			assert.Equal(t, tc.want, outcomeOf(err), "err: %v", err)
			if tc.wantMsg != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantMsg)
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

func TestPropagateNetworkFailures(t *testing.T) {
	p := New(NewHTTPClient())

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		err = p.Propagate(t.Context(), delivery(client("http://"+addr+"/hook?token=secret"), "alice", "sid-1"))
		require.Error(t, err)
		assert.Equal(t, transient, outcomeOf(err), "err: %v", err)
		assert.NotContains(t, err.Error(), "token=secret")
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
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := p.Propagate(ctx, delivery(client(srv.URL), "alice", "sid-1"))
		assert.Less(t, time.Since(start), 2*time.Second, "Propagate returns soon after ctx ends")
		require.Error(t, err)
		assert.Equal(t, transient, outcomeOf(err))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestPropagateMisconfigured(t *testing.T) {
	rc := newReceiver(t, http.StatusNoContent)
	p := New(nil)

	err := p.Propagate(t.Context(), delivery(&config.Client{ClientID: "app", WebhookURI: rc.srv.URL}, "alice", "sid-1"))
	assert.True(t, propagate.IsPermanent(err))
	assert.ErrorIs(t, err, ErrNoSecret)

	err = p.Propagate(t.Context(), delivery(client("http://[::1"), "alice", "sid-1"))
	assert.True(t, propagate.IsPermanent(err), "err: %v", err)

	assert.Empty(t, rc.requests(), "nothing was sent unsigned")
}

func TestPropagateRequest(t *testing.T) {
	tests := []struct {
		name     string
		sid      string
		wantBody string
	}{
		{
			name:     "one session",
			sid:      "sid-1",
			wantBody: `{"type":"signoff.logout","logout_id":"logout-1","sid":"sid-1","sub":"pairwise-9","iss":"https://idp.example.com","client_id":"app","reason":"end_session","time":"2025-01-02T03:04:05Z"}`,
		},
		{
			name:     "all of the subject's sessions",
			wantBody: `{"type":"signoff.logout","logout_id":"logout-1","sub":"pairwise-9","iss":"https://idp.example.com","client_id":"app","reason":"end_session","time":"2025-01-02T03:04:05Z"}`,
		},
	}
	p := New(NewHTTPClient())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, http.StatusNoContent)
			d := delivery(client(rc.srv.URL+"/hook?tenant=a"), "pairwise-9", tc.sid)
			require.NoError(t, p.Propagate(t.Context(), d))
			require.NoError(t, p.Propagate(t.Context(), d), "a retry of the same delivery")

			got := rc.requests()
			require.Len(t, got, 2)
			for _, r := range got {
				assert.Equal(t, http.MethodPost, r.method)
				assert.Equal(t, "application/json", r.contentType)
				assert.Equal(t, "logout-1", r.eventID)
				assert.JSONEq(t, tc.wantBody, string(r.body))
				assert.Equal(t, tc.wantBody, string(r.body), "field order and encoding")
				require.NoError(t, Verify([]byte(secret), r.signature, r.body, r.at, 0))
				assert.ErrorIs(t, Verify([]byte("another secret"), r.signature, r.body, r.at, 0), ErrSignatureMismatch)

				var payload Payload
				require.NoError(t, json.Unmarshal(r.body, &payload))
				assert.Equal(t, d.Event.Time, payload.Time)
			}
			assert.Equal(t, got[0].body, got[1].body, "a retry sends the same body")
		})
	}
}

func TestPropagateSignsEachAttemptAnew(t *testing.T) {
	rc := newReceiver(t, http.StatusOK)
	p := New(NewHTTPClient())
	now := time.Unix(1_735_787_045, 0)
	p.now = func() time.Time { return now }
	d := delivery(client(rc.srv.URL), "alice", "sid-1")
	require.NoError(t, p.Propagate(t.Context(), d))
	now = now.Add(10 * time.Minute)
	require.NoError(t, p.Propagate(t.Context(), d))

	got := rc.requests()
	require.Len(t, got, 2)
	assert.True(t, strings.HasPrefix(got[0].signature, "t=1735787045,v1="), got[0].signature)
	assert.True(t, strings.HasPrefix(got[1].signature, "t=1735787645,v1="), got[1].signature)
	assert.NoError(t, Verify([]byte(secret), got[1].signature, got[1].body, now, 0), "a late retry is fresh")
	assert.ErrorIs(t, Verify([]byte(secret), got[0].signature, got[0].body, now, 0), ErrStaleTimestamp)
}

func TestWants(t *testing.T) {
	assert.True(t, Wants(&config.Client{ClientID: "a", WebhookURI: "https://a.example.com/hook", WebhookSecret: "s"}))
	assert.False(t, Wants(&config.Client{ClientID: "a", BackchannelLogoutURI: "https://a.example.com/bc"}))
}
