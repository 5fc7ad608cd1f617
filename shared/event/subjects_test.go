package event_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/signoff/signoff/shared/event"
)

func TestBatchNumber(t *testing.T) {
	n, ok := event.BatchNumber(event.BatchSubject("L1", "backchannel", 12))
	assert.True(t, ok)
	assert.Equal(t, 12, n)
	for _, s := range []string{event.DeliverySubject("L1", "backchannel", "d12"), event.BatchPrefix + "L1.backchannel.x3", event.BatchPrefix + "L1.backchannel.d0"} {
		_, ok := event.BatchNumber(s)
		assert.False(t, ok, s)
	}
}
