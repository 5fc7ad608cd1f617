package service

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/signoff/signoff/shared/config"
)

// TestLoggerDurations: a duration reads as one in the JSON logs, not as a
// number of nanoseconds.
func TestLoggerDurations(t *testing.T) {
	var b bytes.Buffer
	Logger(config.Log{Level: "info"}, &b).Info("x", "retry_in", 1500*time.Millisecond, "took", 250*time.Microsecond)
	assert.Contains(t, b.String(), `"retry_in":"1.5s","took":"250µs"`)
}
