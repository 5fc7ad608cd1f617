package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/propagate/propagatetest"
)

// TestRunDeliversOnce runs the worker on a real JetStream server and
// publishes one logout of a session with K=5 webhook clients: each receives
// exactly one request, signed with its own secret; a client without a
// webhook_uri and one outside the session receive nothing.
func TestRunDeliversOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	const k = 5
	cfg := config.Default()
	cfg.Issuer = issuer
	cfg.Keys.GenerateDir = t.TempDir()
	receivers := make([]*receiver, k)
	participants := make([]event.Participant, 0, k+1)
	for i := range k {
		receivers[i] = newReceiver(t, http.StatusOK)
		id := "app" + strconv.Itoa(i)
		cfg.Clients = append(cfg.Clients, config.Client{
			ClientID:      id,
			WebhookURI:    receivers[i].srv.URL + "/hooks/signoff?client=" + id,
			WebhookSecret: "secret-" + id,
		})
		participants = append(participants, event.Participant{ClientID: id, Sub: "pairwise-" + id})
	}
	outside := newReceiver(t, http.StatusOK)
	cfg.Clients = append(cfg.Clients,
		config.Client{ClientID: "outside", WebhookURI: outside.srv.URL, WebhookSecret: "secret-outside"},
		config.Client{ClientID: "bconly", BackchannelLogoutURI: "http://127.0.0.1:9/bc"},
	)
	participants = append(participants, event.Participant{ClientID: "bconly", Sub: "alice"})
	require.NoError(t, cfg.Validate())
	js, reg := runWorker(t, cfg)

	e := event.SessionEnded{
		LogoutID: "logout-it-1",
		SID:      "sid-it-1",
		Sub:      "alice",
		Iss:      issuer,
		Clients:  participants,
		Reason:   event.ReasonEndSession,
		Time:     time.Now().UTC().Truncate(time.Millisecond),
	}
	propagatetest.Publish(t, js, &e)
	for i := range k {
		waitStatus(t, reg, "app"+strconv.Itoa(i), event.StatusDelivered, 1)
	}

	for i, rc := range receivers {
		id := "app" + strconv.Itoa(i)
		got := rc.requests()
		require.Len(t, got, 1, "requests to %s", id)
		r := got[0]
		assert.Equal(t, "application/json", r.contentType)
		assert.Equal(t, e.LogoutID, r.eventID)
		require.NoError(t, Verify([]byte("secret-"+id), r.signature, r.body, r.at, DefaultTolerance))
		var p Payload
		require.NoError(t, json.Unmarshal(r.body, &p))
		assert.Equal(t, Payload{
			Type:     PayloadType,
			LogoutID: e.LogoutID,
			SID:      e.SID,
			Sub:      "pairwise-" + id,
			Iss:      issuer,
			ClientID: id,
			Reason:   event.ReasonEndSession,
			Time:     e.Time,
		}, p)
	}
	assert.Empty(t, outside.requests(), "a client outside the session")
}

// TestSubjectWideLogoutNamesTheSessions: a logout of all of a subject's
// sessions has no sid; the payload lists the receiver's own sessions, so
// that it ends those and not a newer one of the same user.
func TestSubjectWideLogoutNamesTheSessions(t *testing.T) {
	cfg := config.Default()
	cfg.Issuer = issuer
	cfg.Keys.GenerateDir = t.TempDir()
	rc := newReceiver(t, http.StatusOK)
	cfg.Clients = []config.Client{{ClientID: "app1", WebhookURI: rc.srv.URL, WebhookSecret: "secret-app1"}}
	js, reg := runWorker(t, cfg)

	e := event.SessionEnded{LogoutID: "logout-subject-1", Sessions: []string{"s1", "s2", "s3"}, Sub: "alice", Iss: issuer,
		Clients: []event.Participant{{ClientID: "app1", Sub: "pairwise-alice", SIDs: []string{"s1", "s3"}}},
		Reason:  event.ReasonAPISubject, Time: time.Now().UTC().Truncate(time.Millisecond)}
	propagatetest.Publish(t, js, &e)
	waitStatus(t, reg, "app1", event.StatusDelivered, 1)

	got := rc.requests()
	require.Len(t, got, 1)
	var p Payload
	require.NoError(t, json.Unmarshal(got[0].body, &p))
	assert.Empty(t, p.SID)
	assert.Equal(t, []string{"s1", "s3"}, p.SIDs)
	assert.Equal(t, "pairwise-alice", p.Sub)
	assert.Equal(t, event.ReasonAPISubject, p.Reason)
}

// runWorker starts a JetStream server with signoff's streams and runs the
// worker on it until the test ends.
func runWorker(t *testing.T, cfg *config.Config) (jetstream.JetStream, *prometheus.Registry) {
	t.Helper()
	return propagatetest.StartWorker(t, cfg, func(ctx context.Context, js jetstream.JetStream, reg *prometheus.Registry) error {
		return Run(ctx, cfg, Deps{JS: js, Metrics: reg})
	})
}

// waitStatus waits for n progress records of status for clientID
// (propagatetest.WaitStatus for this kind).
func waitStatus(t *testing.T, reg *prometheus.Registry, clientID string, status event.Status, n int) {
	t.Helper()
	propagatetest.WaitStatus(t, reg, Kind, clientID, status, n)
}
