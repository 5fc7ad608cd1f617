package sessions

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOwnEnds(t *testing.T) {
	o := newOwnEnds()

	// Published, not applied yet when the feed sees it: the feed applies it.
	o.add("L1")
	assert.False(t, o.take("L1"))
	o.markApplied("L1") // too late: not remembered again
	assert.Empty(t, o.applied)

	// Applied before the feed sees it: skipped, once.
	o.add("L2")
	o.markApplied("L2")
	assert.True(t, o.take("L2"))
	assert.False(t, o.take("L2"))

	// Never added (another front's logout): applied.
	assert.False(t, o.take("L3"))

	// Removed after a failed publish: applied if it ever comes.
	o.add("L4")
	o.remove("L4")
	o.markApplied("L4")
	assert.False(t, o.take("L4"))

	// Bounded.
	for i := range maxOwnEnds + 10 {
		o.add(fmt.Sprint(i))
	}
	assert.LessOrEqual(t, len(o.applied), maxOwnEnds)
}
