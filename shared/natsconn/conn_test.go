package natsconn_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/syncbuf"
	"github.com/signoff/signoff/shared/testports"
)

// TestConnectLogsPermissionViolations: a user the server does not let
// publish on the JetStream API sees its requests time out; the log says
// why.
func TestConnectLogsPermissionViolations(t *testing.T) {
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{{Username: "app", Password: "secret", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Deny: []string{"$JS.API.>"}},
		}}},
	})
	require.NoError(t, err)
	go s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second))
	t.Cleanup(s.Shutdown)

	var logs syncbuf.Buffer
	url := strings.Replace(s.ClientURL(), "nats://", "nats://app:secret@", 1)
	c, err := natsconn.Connect(t.Context(), config.NATS{URL: url}, "test", slog.New(slog.NewJSONHandler(&logs, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { c.NC.Close() })

	_, err = c.JS.AccountInfo(t.Context())
	require.Error(t, err, "the request is refused")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "Permissions Violation") },
		5*time.Second, 10*time.Millisecond, "the log says why: %s", logs.String())
	assert.Contains(t, logs.String(), `"msg":"nats error"`)
}

// TestEmbeddedServerSaysWhyItCannotStart: nats.listen on a port in use is
// an error that says so, not a bare "not ready".
func TestEmbeddedServerSaysWhyItCannotStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	var logs syncbuf.Buffer
	_, err = natsconn.StartEmbedded(t.Context(), config.NATS{StoreDir: t.TempDir(), Listen: l.Addr().String()},
		slog.New(slog.NewJSONHandler(&logs, nil)))
	require.ErrorIs(t, err, natsconn.ErrNotReady)
	assert.Contains(t, err.Error(), "address already in use")
	assert.Contains(t, logs.String(), `"msg":"nats server"`, "the server's error is logged too")
}

// TestEmbeddedServerGivesUpWithItsContext: a caller whose context has
// ended gets no server, and the one it started is shut down (its store
// directory can be used at once by another).
func TestEmbeddedServerGivesUpWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(errors.New("shutting down"))
	dir := t.TempDir()
	s, err := natsconn.StartEmbedded(ctx, config.NATS{StoreDir: dir}, slog.New(slog.DiscardHandler))
	require.ErrorIs(t, err, natsconn.ErrNotReady)
	assert.Nil(t, s)
	assert.Contains(t, err.Error(), "shutting down", "the error says why")

	s, err = natsconn.StartEmbedded(t.Context(), config.NATS{StoreDir: dir}, slog.New(slog.DiscardHandler))
	require.NoError(t, err, "the store directory is free again")
	s.Shutdown()
	s.WaitForShutdown()
}

// TestEmbeddedServerOwnsItsStore: a second embedded server on the same
// store directory (a second signoff started on other ports) is refused,
// naming the process that has it; once the first stops, it starts.
func TestEmbeddedServerOwnsItsStore(t *testing.T) {
	dir := t.TempDir()
	first, err := natsconn.StartEmbedded(t.Context(), config.NATS{StoreDir: dir}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	_, err = natsconn.StartEmbedded(t.Context(), config.NATS{StoreDir: dir}, slog.New(slog.DiscardHandler))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nats.store_dir "+dir+" is in use by another process (pid "+strconv.Itoa(os.Getpid())+")")

	first.Shutdown()
	first.WaitForShutdown()
	require.Eventually(t, func() bool {
		s, err := natsconn.StartEmbedded(t.Context(), config.NATS{StoreDir: dir}, slog.New(slog.DiscardHandler))
		if err != nil {
			return false
		}
		s.Shutdown()
		s.WaitForShutdown()
		return true
	}, 5*time.Second, 20*time.Millisecond, "the store is free once its server stopped")
}

// TestConnectWaitsForTheServer: a NATS server that comes up after the
// service (started at the same moment, or restarting) delays the start,
// with a line that says why, instead of failing it.
func TestConnectWaitsForTheServer(t *testing.T) {
	addr := testports.Addr(t)
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	var logs syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		c, err := natsconn.Connect(t.Context(), config.NATS{URL: "nats://" + addr}, "late-test", slog.New(slog.NewJSONHandler(&logs, nil)))
		if err == nil {
			t.Cleanup(func() { c.Close(context.Background()) })
		}
		done <- err
	}()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `"call":"connecting to nats"`) },
		10*time.Second, 10*time.Millisecond, "it says what it waits for")

	s, err := server.NewServer(&server.Options{Host: host, Port: p, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	require.NoError(t, err)
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Connect did not connect once the server was up")
	}
}

// TestEmbeddedServerWithAToken: with nats.listen_token, a TCP client must
// present the token; signoff's own in-process connection does, and works.
func TestEmbeddedServerWithAToken(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testports.Free(t, 1)[0])
	const token = "0123456789abcdef"
	c, err := natsconn.Connect(t.Context(), config.NATS{StoreDir: t.TempDir(), Listen: addr, ListenToken: token},
		"test", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(context.Background()) })
	_, err = c.JS.AccountInfo(t.Context())
	require.NoError(t, err, "signoff's own connection presents the token")

	_, err = nats.Connect("nats://"+addr, nats.NoReconnect())
	require.ErrorIs(t, err, nats.ErrAuthorization, "no token")
	_, err = nats.Connect("nats://wrong-token-0123456@"+addr, nats.NoReconnect())
	require.ErrorIs(t, err, nats.ErrAuthorization, "another token")
	nc, err := nats.Connect("nats://"+token+"@"+addr, nats.NoReconnect())
	require.NoError(t, err)
	nc.Close()
}

// TestEmbeddedServerWithoutATokenWarns: a listener without a token says, at
// start, that any local process can connect.
func TestEmbeddedServerWithoutATokenWarns(t *testing.T) {
	var logs syncbuf.Buffer
	s, err := natsconn.StartEmbedded(t.Context(), config.NATS{StoreDir: t.TempDir(), Listen: "127.0.0.1:" + strconv.Itoa(testports.Free(t, 1)[0])},
		slog.New(slog.NewJSONHandler(&logs, nil)))
	require.NoError(t, err)
	s.Shutdown()
	s.WaitForShutdown()
	assert.Contains(t, logs.String(), "accepts clients without credentials")
	s, err = natsconn.StartEmbedded(t.Context(), config.NATS{StoreDir: t.TempDir()}, slog.New(slog.NewJSONHandler(&logs, nil)))
	require.NoError(t, err)
	s.Shutdown()
	s.WaitForShutdown()
	assert.Equal(t, 1, strings.Count(logs.String(), "accepts clients without credentials"), "not without a listener")
}
