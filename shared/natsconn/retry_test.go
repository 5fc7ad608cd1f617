package natsconn_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/syncbuf"
)

func TestRetryTransient(t *testing.T) {
	unavailable := &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	insufficient := &jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"}
	calls := 0
	got, err := natsconn.RetryTransient(t.Context(), nil, "test", func() (int, error) {
		calls++
		switch calls {
		case 1:
			return 0, unavailable
		case 2:
			return 0, insufficient
		case 3:
			return 0, nats.ErrTimeout
		}
		return 42, nil
	})
	assert.NoError(t, err)
	assert.Equal(t, 42, got, "the value of the call that succeeded")
	assert.Equal(t, 4, calls, "passing errors are retried")

	calls = 0
	noPeers := &jetstream.APIError{Code: 500, ErrorCode: 10005, Description: "no suitable peers for placement"}
	_, err = natsconn.RetryTransient(t.Context(), nil, "test", func() (int, error) { calls++; return 0, noPeers })
	assert.ErrorIs(t, err, noPeers)
	assert.Equal(t, 1, calls, "an error that does not pass is returned at once")

	ctx, cancel := context.WithCancel(t.Context())
	calls = 0
	_, err = natsconn.RetryTransient(ctx, nil, "test", func() (int, error) {
		calls++
		if calls == 2 {
			cancel()
		}
		return 0, unavailable
	})
	assert.ErrorIs(t, err, context.Canceled, "an ended ctx says so")
	assert.ErrorIs(t, err, unavailable)
	assert.Equal(t, 2, calls)

	// Cancelled during a pause between calls.
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = natsconn.RetryTransient(ctx, nil, "test", func() (int, error) { return 0, context.DeadlineExceeded })
	assert.ErrorIs(t, err, context.Canceled)
}

// A passing error that does not pass is returned once the retry time is
// over.
func TestRetryTransientGivesUp(t *testing.T) {
	natsconn.SetRetryFor(t, 300*time.Millisecond)
	calls := 0
	_, err := natsconn.RetryTransient(t.Context(), nil, "test", func() (int, error) { calls++; return 0, nats.ErrTimeout })
	assert.ErrorIs(t, err, nats.ErrTimeout)
	assert.NotErrorIs(t, err, context.Canceled)
	assert.Greater(t, calls, 1, "retried before giving up")
}

// A service that waits for JetStream says what for and why: at the first
// failure, then every retryLogEvery, not at every retry.
func TestRetryTransientLogsWhileItWaits(t *testing.T) {
	unavailable := &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	run := func() []map[string]any {
		var buf syncbuf.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, nil))
		calls := 0
		_, err := natsconn.RetryTransient(t.Context(), logger, "binding consumer worker-x", func() (int, error) {
			calls++
			if calls < 4 {
				return 0, unavailable
			}
			return 1, nil
		})
		require.NoError(t, err)
		var lines []map[string]any
		for l := range strings.Lines(buf.String()) {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &m))
			lines = append(lines, m)
		}
		return lines
	}

	lines := run()
	require.Len(t, lines, 1, "three failures within retryLogEvery: one line")
	assert.Equal(t, "WARN", lines[0]["level"])
	assert.Equal(t, "waiting for JetStream", lines[0]["msg"])
	assert.Equal(t, "binding consumer worker-x", lines[0]["call"])
	assert.Contains(t, lines[0]["err"], "temporarily unavailable")

	natsconn.SetRetryLogEvery(t, 0)
	assert.Len(t, run(), 3, "every failure once retryLogEvery has passed")

	// No logger: no line, and no panic.
	calls := 0
	_, err := natsconn.RetryTransient(t.Context(), nil, "x", func() (int, error) {
		calls++
		if calls == 1 {
			return 0, unavailable
		}
		return 1, nil
	})
	assert.NoError(t, err)
}
