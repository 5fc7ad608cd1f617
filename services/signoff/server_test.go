package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNATSDescriptionHidesCredentials(t *testing.T) {
	got := natsDescription("nats://user:s3cret@a:4222, nats://b:4222", "")
	assert.NotContains(t, got, "s3cret")
	assert.Contains(t, got, "a:4222")
	assert.Contains(t, got, "nats://b:4222")
	assert.Equal(t, "embedded, nats://127.0.0.1:4222", natsDescription("", "127.0.0.1:4222"))
}
