package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/propagate/propagatetest"
)

// TestConformance runs signoff's conformance suite against the worker: a
// real JetStream server, real HTTP receivers, retries, breakers, dead
// letters and replay, a dead replica.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs NATS")
	}
	var mu sync.Mutex
	hooks := map[string]string{}
	propagatetest.Run(t, propagatetest.Worker{
		Kind: Kind,
		// The suite's receiver stands in for every client's hook.
		Configure: func(c *config.Client, url string) {
			mu.Lock()
			defer mu.Unlock()
			hooks[c.ClientID] = url
		},
		Options: func(testing.TB, *config.Config) propagate.Options {
			mu.Lock()
			defer mu.Unlock()
			n := NewNotifier(nil, maps.Clone(hooks))
			return propagate.Options{Kind: Kind, Wants: n.Wants, Propagator: n}
		},
		Check: func(t testing.TB, r *http.Request, body []byte, clientID string) string {
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			var m message
			require.NoError(t, json.Unmarshal(body, &m))
			assert.True(t, strings.HasPrefix(m.Text, "sub-"+clientID+" was signed out of "), m.Text)
			return m.LogoutID
		},
	})
}

func TestHookFlag(t *testing.T) {
	h := hookFlag{}
	require.NoError(t, h.Set("app1=https://hooks.example.com/T1/B1"))
	assert.Equal(t, "https://hooks.example.com/T1/B1", h["app1"])
	for _, bad := range []string{"app1", "=https://x", "app1="} {
		assert.Error(t, h.Set(bad), bad)
	}
	n := NewNotifier(nil, h)
	assert.True(t, n.Wants(&config.Client{ClientID: "app1"}))
	assert.False(t, n.Wants(&config.Client{ClientID: "app2"}))
}

// TestTextNamesTheClientsSessions: a logout of all of a subject's sessions
// names the sessions this client was in, not "all sessions".
func TestTextNamesTheClientsSessions(t *testing.T) {
	e := &event.SessionEnded{LogoutID: "L1", Sub: "alice", Reason: event.ReasonAPISubject, Clients: []event.Participant{
		{ClientID: "app1", Sub: "alice", SIDs: []string{"s1", "s2"}},
		{ClientID: "app2", Sub: "pw-alice", SIDs: []string{"s3"}},
	}}
	d := &propagate.Delivery{Event: e, Client: &config.Client{ClientID: "app1", Name: "App One"}, Sub: "alice"}
	assert.Equal(t, "alice was signed out of App One (sessions s1, s2, reason api_subject, logout L1)", text(d))
}
