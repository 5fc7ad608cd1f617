package backchannel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/propagate/propagatetest"
)

// TestRunDeliversOnce runs the worker on a real JetStream server and
// publishes one logout of a session with K=5 back-channel clients: each
// receives exactly one valid logout token; a client without a
// backchannel_logout_uri and one outside the session receive nothing.
func TestRunDeliversOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	const k = 5
	algs := []string{"", keys.RS256, keys.ES256, keys.EdDSA, keys.ES256}
	ks := testKeys(t)
	jwks := parseJWKS(t, ks)

	cfg := config.Default()
	cfg.Issuer = issuer
	cfg.Keys.GenerateDir = t.TempDir()
	receivers := make([]*receiver, k)
	participants := make([]event.Participant, 0, k+1)
	for i := range k {
		receivers[i] = newReceiver(t, http.StatusNoContent)
		id := "app" + strconv.Itoa(i)
		cfg.Clients = append(cfg.Clients, config.Client{
			ClientID:                 id,
			IDTokenSignedResponseAlg: algs[i],
			BackchannelLogoutURI:     receivers[i].srv.URL + "/backchannel?client=" + id,
		})
		participants = append(participants, event.Participant{ClientID: id, Sub: "pairwise-" + id})
	}
	outside := newReceiver(t, http.StatusNoContent)
	cfg.Clients = append(cfg.Clients,
		config.Client{ClientID: "outside", BackchannelLogoutURI: outside.srv.URL},
		config.Client{ClientID: "frontonly", FrontchannelLogoutURI: "http://127.0.0.1:9/fc"},
	)
	participants = append(participants, event.Participant{ClientID: "frontonly", Sub: "alice"})
	require.NoError(t, cfg.Validate())

	js, reg := runWorker(t, cfg, ks)

	e := event.SessionEnded{
		LogoutID: "logout-it-1",
		SID:      "sid-it-1",
		Sub:      "alice",
		Iss:      issuer,
		Clients:  participants,
		Reason:   event.ReasonEndSession,
		Time:     time.Now().UTC(),
	}
	propagatetest.Publish(t, js, &e)
	for i := range k {
		waitStatus(t, reg, "app"+strconv.Itoa(i), event.StatusDelivered, 1)
	}

	for i, rc := range receivers {
		id := "app" + strconv.Itoa(i)
		got := rc.requests()
		require.Len(t, got, 1, "requests to %s", id)
		assert.Equal(t, formType, got[0].contentType)
		assert.Equal(t, "client="+id, got[0].query)
		assert.Len(t, got[0].form, 1)
		want := cfg.Clients[i].SigningAlg()
		verifyToken(t, jwks, got[0].token, wantToken{alg: want, aud: id, sub: "pairwise-" + id, sid: e.SID})
	}
	assert.Empty(t, outside.requests(), "a client outside the session")
}

// TestRunSubjectWide publishes a logout of all of a subject's sessions: a
// client that requires sid gets one token per session it took part in (sub
// and sid), the other one sub-only token; a client that requires sid in an
// event that names none of its sessions (an older front's) is skipped.
func TestRunSubjectWide(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ks := testKeys(t, keys.RS256)
	strict, lax, legacy := newReceiver(t, http.StatusOK), newReceiver(t, http.StatusOK), newReceiver(t, http.StatusOK)
	cfg := config.Default()
	cfg.Issuer = issuer
	cfg.Keys.GenerateDir = t.TempDir()
	cfg.Clients = []config.Client{
		{ClientID: "strict", BackchannelLogoutURI: strict.srv.URL, BackchannelLogoutSessionRequired: true},
		{ClientID: "lax", BackchannelLogoutURI: lax.srv.URL},
		{ClientID: "legacy", BackchannelLogoutURI: legacy.srv.URL, BackchannelLogoutSessionRequired: true},
	}
	require.NoError(t, cfg.Validate())
	js, reg := runWorker(t, cfg, ks)

	e := event.SessionEnded{
		LogoutID: "logout-it-2",
		Sessions: []string{"sid-a", "sid-b"},
		Sub:      "alice",
		Iss:      issuer,
		Clients: []event.Participant{
			{ClientID: "strict", Sub: "alice", SIDs: []string{"sid-a", "sid-b"}},
			{ClientID: "lax", Sub: "alice-lax", SIDs: []string{"sid-b"}},
			{ClientID: "legacy", Sub: "alice"},
		},
		Reason: event.ReasonAPISubject,
		Time:   time.Now().UTC(),
	}
	propagatetest.Publish(t, js, &e)
	waitStatus(t, reg, "strict", event.StatusDelivered, 1)
	waitStatus(t, reg, "lax", event.StatusDelivered, 1)
	waitStatus(t, reg, "legacy", event.StatusSkipped, 1)

	jwks := parseJWKS(t, ks)
	got := strict.requests()
	require.Len(t, got, 2)
	sids := map[string]bool{}
	for _, r := range got {
		sid := tokenSID(t, r.token)
		sids[sid] = true
		verifyToken(t, jwks, r.token, wantToken{alg: keys.RS256, aud: "strict", sub: "alice", sid: sid})
	}
	assert.Equal(t, map[string]bool{"sid-a": true, "sid-b": true}, sids, "one token per session")
	got = lax.requests()
	require.Len(t, got, 1)
	verifyToken(t, jwks, got[0].token, wantToken{alg: keys.RS256, aud: "lax", sub: "alice-lax"})
	assert.Empty(t, legacy.requests())
}

// runWorker starts a JetStream server with signoff's streams and runs the
// worker on it until the test ends.
func runWorker(t *testing.T, cfg *config.Config, ks *keys.Set) (jetstream.JetStream, *prometheus.Registry) {
	t.Helper()
	return propagatetest.StartWorker(t, cfg, func(ctx context.Context, js jetstream.JetStream, reg *prometheus.Registry) error {
		return Run(ctx, cfg, Deps{JS: js, Keys: ks, Metrics: reg})
	})
}

// waitStatus waits for n progress records of status for clientID
// (propagatetest.WaitStatus for this kind).
func waitStatus(t *testing.T, reg *prometheus.Registry, clientID string, status event.Status, n int) {
	t.Helper()
	propagatetest.WaitStatus(t, reg, Kind, clientID, status, n)
}

// TestRunRetriesWithFreshToken has a receiver answer 503 once: the worker
// retries later with a new logout token (new jti), and the delivery ends
// delivered after one retry.
func TestRunRetriesWithFreshToken(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ks := testKeys(t, keys.RS256)
	var calls atomic.Int32
	var mu sync.Mutex
	var tokens []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		tokens = append(tokens, r.PostForm.Get("logout_token"))
		mu.Unlock()
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	cfg := config.Default()
	cfg.Issuer = issuer
	cfg.Keys.GenerateDir = t.TempDir()
	cfg.Clients = []config.Client{{ClientID: "flaky", BackchannelLogoutURI: srv.URL}}
	require.NoError(t, cfg.Validate())
	js, reg := runWorker(t, cfg, ks)

	e := event.SessionEnded{
		LogoutID: "logout-it-3",
		SID:      "sid-it-3",
		Sub:      "alice",
		Iss:      issuer,
		Clients:  []event.Participant{{ClientID: "flaky", Sub: "alice"}},
		Reason:   event.ReasonEndSession,
		Time:     time.Now().UTC(),
	}
	propagatetest.Publish(t, js, &e)
	waitStatus(t, reg, "flaky", event.StatusDelivered, 1)
	assert.Equal(t, 1.0, propagatetest.Deliveries(t, reg, Kind, "flaky", event.StatusRetrying), "one retry")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, tokens, 2)
	jwks := parseJWKS(t, ks)
	want := wantToken{alg: keys.RS256, aud: "flaky", sub: "alice", sid: e.SID}
	assert.NotEqual(t, verifyToken(t, jwks, tokens[0], want), verifyToken(t, jwks, tokens[1], want), "the retry reused the jti")
}
