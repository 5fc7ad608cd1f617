package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/syncbuf"
)

// syncBuffer is the subscriber's stdout, written by its goroutines and read
// by the test.
type syncBuffer struct{ syncbuf.Buffer }

// lines returns the JSON log lines written so far.
func (b *syncBuffer) lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(b.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "every line is JSON: %s", line)
		out = append(out, m)
	}
	return out
}

// logouts returns the "logout" lines written so far.
func (b *syncBuffer) logouts(t testing.TB) []map[string]any {
	var out []map[string]any
	for _, m := range b.lines(t) {
		if m["msg"] == "logout" {
			out = append(out, m)
		}
	}
	return out
}

// waitLogout waits for the logout line of logoutID and returns it.
func (b *syncBuffer) waitLogout(t testing.TB, logoutID string) map[string]any {
	t.Helper()
	var line map[string]any
	require.Eventually(t, func() bool {
		for _, m := range b.logouts(t) {
			if m["logout_id"] == logoutID {
				line = m
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "no logout line for %s", logoutID)
	return line
}

// clientLogout is a logout as the events worker publishes it; sids are
// the sessions of a logout without sid.
func clientLogout(logoutID, clientID, sid, sub string, sids ...string) event.ClientLogout {
	return event.ClientLogout{
		Type: event.ClientLogoutType, LogoutID: logoutID, SID: sid, SIDs: sids, Sub: sub,
		Iss: "http://127.0.0.1:8080", ClientID: clientID, Reason: event.ReasonEndSession,
		Time: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC),
	}
}

// publish publishes l on its client's subject as the events worker does,
// with msgID as the JetStream message id.
func publish(t testing.TB, js jetstream.JetStream, l event.ClientLogout, msgID string) {
	t.Helper()
	data, err := json.Marshal(l)
	require.NoError(t, err)
	_, err = js.Publish(t.Context(), event.LogoutSubject(l.ClientID), data, jetstream.WithMsgID(msgID))
	require.NoError(t, err)
}

// start runs the subscriber with args until the test stops it; stop
// cancels it and returns run's error.
func start(t *testing.T, args ...string) (out *syncBuffer, stop func() error) {
	t.Helper()
	out = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"go-subscriber"}, args...), out, io.Discard) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				t.Error("the subscriber did not stop")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return out, stop
}
