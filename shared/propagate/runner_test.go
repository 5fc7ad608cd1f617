package propagate

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunnerNeverBlocksAndReusesGoroutines(t *testing.T) {
	r := newRunner(time.Minute)

	// 50 functions that only finish together: Go must start a goroutine
	// whenever none is idle, or this deadlocks.
	const n = 50
	var started, ran sync.WaitGroup
	started.Add(n)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		r.Go(func() {
			defer wg.Done()
			started.Done()
			<-release
		})
	}
	started.Wait()
	close(release)
	wg.Wait()

	// Now 50 goroutines are idle, or about to be: the next 200 functions,
	// one at a time, run on them. (A margin of two, for goroutines still
	// on their way back to waiting when the first functions come.)
	require.EqualValues(t, n, r.live.Load())
	var count atomic.Int32
	for range 200 {
		ran.Add(1)
		r.Go(func() { count.Add(1); ran.Done() })
		ran.Wait()
	}
	assert.EqualValues(t, 200, count.Load())
	assert.LessOrEqual(t, r.live.Load(), int64(n+2), "idle goroutines were not reused")

	r.stop()
	r.stop() // idempotent
	assert.Eventually(t, func() bool { return r.live.Load() == 0 }, 5*time.Second, 5*time.Millisecond,
		"idle goroutines did not exit after stop")
}

func TestRunnerIdleGoroutinesExit(t *testing.T) {
	r := newRunner(20 * time.Millisecond)
	defer r.stop()
	done := make(chan struct{})
	r.Go(func() { close(done) })
	<-done
	assert.Eventually(t, func() bool { return r.live.Load() == 0 }, 5*time.Second, 5*time.Millisecond,
		"an idle goroutine outlived idleFor")
}
