package natsconn_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"

	"github.com/signoff/signoff/shared/natsconn"
)

func TestRetryTransient(t *testing.T) {
	unavailable := &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	insufficient := &jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"}
	calls := 0
	got, err := natsconn.RetryTransient(t.Context(), func() (int, error) {
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
	_, err = natsconn.RetryTransient(t.Context(), func() (int, error) { calls++; return 0, noPeers })
	assert.ErrorIs(t, err, noPeers)
	assert.Equal(t, 1, calls, "an error that does not pass is returned at once")

	ctx, cancel := context.WithCancel(t.Context())
	calls = 0
	_, err = natsconn.RetryTransient(ctx, func() (int, error) {
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
	_, err = natsconn.RetryTransient(ctx, func() (int, error) { return 0, context.DeadlineExceeded })
	assert.ErrorIs(t, err, context.Canceled)
}

// A passing error that does not pass is returned once the retry time is
// over.
func TestRetryTransientGivesUp(t *testing.T) {
	natsconn.SetRetryFor(t, 300*time.Millisecond)
	calls := 0
	_, err := natsconn.RetryTransient(t.Context(), func() (int, error) { calls++; return 0, nats.ErrTimeout })
	assert.ErrorIs(t, err, nats.ErrTimeout)
	assert.NotErrorIs(t, err, context.Canceled)
	assert.Greater(t, calls, 1, "retried before giving up")
}
