package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/clientevents"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
)

// permissionsConf is the server configuration that docs/events.md shows.
var permissionsConf = filepath.Join("..", "nats-permissions", "nats-server.conf")

// runConfiguredServer runs nats-server with the configuration file path,
// on a random port with its store in a temporary folder.
func runConfiguredServer(t *testing.T, path string) *server.Server {
	t.Helper()
	opts, err := server.ProcessConfigFile(path)
	require.NoError(t, err)
	opts.Port = -1
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	go s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second), "server not ready")
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// userURL is the server's URL with a user's credentials from the file.
func userURL(s *server.Server, user string) string {
	addr := strings.TrimPrefix(s.ClientURL(), "nats://")
	return fmt.Sprintf("nats://%s:%s-secret-change-me@%s", user, user, addr)
}

// connectAs connects as user, collecting the errors the server sends
// asynchronously (permission violations).
func connectAs(t *testing.T, s *server.Server, user string, opts ...nats.Option) (jetstream.JetStream, *nats.Conn, <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	nc, err := nats.Connect(userURL(s, user), opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js, nc, errs
}

// TestPermissions checks the configuration of docs/events.md: app1, with
// exactly its permissions, consumes its logouts with this example, and is
// denied app2's however it asks.
func TestPermissions(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs NATS")
	}
	s := runConfiguredServer(t, permissionsConf)
	signoff, _, _ := connectAs(t, s, "signoff")
	require.NoError(t, natsconn.EnsureStreams(t.Context(), signoff, config.Default(), nil))
	publish(t, signoff, clientLogout("L1", "app1", "s1", "alice"), "L1.app1")
	publish(t, signoff, clientLogout("L2", "app2", "s1", "pairwise-7f3c"), "L2.app2")

	t.Run("app1 consumes its own logouts", func(t *testing.T) {
		out, stop := start(t, "-nats-url", userURL(s, "app1"), "-client", "app1", "-durable", "app1",
			"-inbox-prefix", "_INBOX_app1")
		l := out.waitLogout(t, "L1")
		assert.Equal(t, "app1", l["client_id"])
		require.NoError(t, stop())
		cons, err := signoff.Consumer(t.Context(), natsconn.StreamEvents, "app1")
		require.NoError(t, err)
		info, err := cons.Info(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 0, info.NumAckPending, "acknowledged")
		assert.Equal(t, uint64(0), info.NumPending)
	})

	t.Run("app1 cannot create a consumer on app2's logouts", func(t *testing.T) {
		js, _, errs := connectAs(t, s, "app1", nats.CustomInboxPrefix("_INBOX_app1"))
		noop := func(context.Context, *event.ClientLogout) error { return nil }
		// app1's own durable follows app1's logouts: Subscribe refuses to
		// turn it to app2's before asking the server anything.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := clientevents.Subscribe(ctx, js, "app2", "app1", noop)
		cancel()
		require.ErrorIs(t, err, clientevents.ErrDurableInUse)
		// A durable of app2's: the server refuses app1 at once.
		ctx, cancel = context.WithTimeout(t.Context(), time.Second)
		_, err = clientevents.Subscribe(ctx, js, "app2", "app2", noop)
		cancel()
		require.Error(t, err)
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, nats.ErrPermissionViolation)
			assert.Contains(t, err.Error(), "$JS.API.CONSUMER.INFO.SIGNOFF_EVENTS.app2")
		case <-time.After(2 * time.Second):
			t.Error("no permissions violation")
		}
	})

	t.Run("the filter in the request must be the one in the subject", func(t *testing.T) {
		_, nc, _ := connectAs(t, s, "app1", nats.CustomInboxPrefix("_INBOX_app1"))
		req, err := json.Marshal(map[string]any{
			"stream_name": natsconn.StreamEvents,
			"config": map[string]any{
				"durable_name": "app1", "filter_subject": event.LogoutSubject("app2"), "ack_policy": "explicit",
			},
		})
		require.NoError(t, err)
		msg, err := nc.Request("$JS.API.CONSUMER.CREATE.SIGNOFF_EVENTS.app1.signoff.v1.logout.app1", req, 2*time.Second)
		require.NoError(t, err, "the subject is allowed")
		var resp struct {
			Error *struct {
				Code        int    `json:"code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(msg.Data, &resp))
		require.NotNil(t, resp.Error, "the server refuses another filter: %s", msg.Data)
		assert.Equal(t, 400, resp.Error.Code)
	})

	t.Run("app1 can neither read other inboxes nor app2's subject", func(t *testing.T) {
		_, nc, errs := connectAs(t, s, "app1", nats.CustomInboxPrefix("_INBOX_app1"))
		for _, subj := range []string{"_INBOX.>", "_INBOX_app2.>", event.LogoutSubject("app2"), "signoff.v1.>"} {
			_, err := nc.SubscribeSync(subj)
			require.NoError(t, err) // the server answers asynchronously
			require.NoError(t, nc.Flush())
			select {
			case err := <-errs:
				assert.True(t, errors.Is(err, nats.ErrPermissionViolation) ||
					strings.Contains(strings.ToLower(err.Error()), "permissions violation"), "%s: %v", subj, err)
			case <-time.After(2 * time.Second):
				t.Errorf("subscribing to %s was not denied", subj)
			}
		}
		// Its own subject, live, is allowed.
		sub, err := nc.SubscribeSync(event.LogoutSubject("app1"))
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		publish(t, signoff, clientLogout("L3", "app1", "s3", "alice"), "L3.app1")
		msg, err := sub.NextMsg(5 * time.Second)
		require.NoError(t, err)
		assert.Contains(t, string(msg.Data), `"L3"`)
	})
}
