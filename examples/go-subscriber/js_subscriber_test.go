package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
)

// jsDir is the JavaScript example, whose tests this one drives.
var jsDir = filepath.Join("..", "js-subscriber")

// TestJSSubscriber runs the JavaScript example's tests (node --test)
// against a real JetStream server with signoff's streams: Go starts the
// server and publishes the logouts, JavaScript consumes them. Without node
// and npm it is skipped, except in CI (CI=true), where it fails.
func TestJSSubscriber(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs NATS and node")
	}
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if err := errors.Join(errNode, errNPM); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs node and npm for examples/js-subscriber: %v", err)
		}
		t.Skipf("node and npm are needed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules")); errors.Is(err, fs.ErrNotExist) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = jsDir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "npm ci:\n%s", out)
	}

	s := natstest.RunServer(t, "")
	_, js := natstest.Connect(t, s)
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, config.Default(), nil))
	publish(t, js, clientLogout("L-app2", "app2", "s1", "pairwise-7f3c"), "L-app2.app2")
	publish(t, js, clientLogout("L-app1", "app1", "s1", "alice"), "L-app1.app1")

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=tap", "subscriber.test.mjs")
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), "NATS_URL="+s.ClientURL(), "EXPECT_LOGOUT_ID=L-app1")
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	require.NoError(t, err, "node --test failed")
	assert.Contains(t, string(out), "\n# fail 0\n")
	assert.Contains(t, string(out), "\n# skipped 0\n", "the integration test ran")
	assert.NotContains(t, string(out), "\n# pass 0\n")

	t.Run("subscriber.mjs --help, and a bad flag", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, node, "subscriber.mjs", "--help")
		cmd.Dir = jsDir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "--help exits 0:\n%s", out)
		assert.True(t, strings.HasPrefix(string(out), "usage: node subscriber.mjs [options]"), "%s", out)

		cmd = exec.CommandContext(ctx, node, "subscriber.mjs", "--nope")
		cmd.Dir = jsDir
		out, err = cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s", out)
		assert.Equal(t, 2, exit.ExitCode())
		assert.Contains(t, string(out), "usage: node subscriber.mjs")
	})

	t.Run("subscriber.mjs with app1's restricted permissions, stopped by SIGTERM", func(t *testing.T) {
		s := runConfiguredServer(t, permissionsConf)
		signoff, _, _ := connectAs(t, s, "signoff")
		require.NoError(t, natsconn.EnsureStreams(t.Context(), signoff, config.Default(), nil))
		publish(t, signoff, clientLogout("L-app2", "app2", "s1", "pairwise-7f3c"), "L-app2.app2")
		publish(t, signoff, clientLogout("L-app1", "app1", "s1", "alice"), "L-app1.app1")

		cmd := exec.CommandContext(ctx, node, "subscriber.mjs", "--nats-url", userURL(s, "app1"),
			"--client", "app1", "--durable", "app1", "--inbox-prefix", "_INBOX_app1", "--sessions", "s1=alice")
		cmd.Dir = jsDir
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		l := out.waitLogout(t, "L-app1")
		assert.Equal(t, "app1", l["client_id"])
		assert.Equal(t, []any{"s1"}, l["ended_sessions"])
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, cmd.Wait(), "a graceful stop exits 0:\n%s", out.String())
		lines := out.lines(t)
		assert.Equal(t, "stopped", lines[len(lines)-1]["msg"])
		for _, m := range out.logouts(t) {
			assert.Equal(t, "app1", m["client_id"])
		}
	})
}
