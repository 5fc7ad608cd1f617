package propagate

import (
	"sync"
	"sync/atomic"
	"time"
)

// runner runs functions on reused goroutines. A delivery's goroutine grows
// its stack to what signing a token and an HTTP round trip need; a fresh
// goroutine per delivery grows it again every time, which cost about 7% of
// a back-channel worker's CPU (docs/benchmarks.md). Go never blocks: with
// no idle goroutine it starts one, so the bounds on concurrency stay where
// they are (the worker's slots, each target's limit).
type runner struct {
	idle     chan func() // unbuffered: a send succeeds only to a waiting goroutine
	idleFor  time.Duration
	quit     chan struct{}
	stopOnce sync.Once
	live     atomic.Int64 // goroutines started and not yet exited
}

func newRunner(idleFor time.Duration) *runner {
	return &runner{idle: make(chan func()), idleFor: idleFor, quit: make(chan struct{})}
}

// Go runs f on an idle goroutine, or on a new one.
func (r *runner) Go(f func()) {
	select {
	case r.idle <- f:
	default:
		r.live.Add(1)
		go r.loop(f)
	}
}

// loop runs f, then waits for more work until it has been idle for
// idleFor or the runner stops.
func (r *runner) loop(f func()) {
	defer r.live.Add(-1)
	t := time.NewTimer(r.idleFor)
	defer t.Stop()
	for {
		f()
		f = nil // what the last function held is garbage while we idle
		t.Reset(r.idleFor)
		select {
		case f = <-r.idle:
		case <-t.C:
			return
		case <-r.quit:
			return
		}
	}
}

// stop lets idle goroutines exit; functions already running finish.
func (r *runner) stop() { r.stopOnce.Do(func() { close(r.quit) }) }
