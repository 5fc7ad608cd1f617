package http1

import "time"

// AgeIdle makes every idle connection of t look idle for d longer than it
// has been (shorter, when d is negative), so that tests need not wait
// for an IdleTimeout to pass.
func (t *Transport) AgeIdle(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, list := range t.idle {
		for _, c := range list {
			c.idleSince = c.idleSince.Add(-d)
		}
	}
}
