package rp

import (
	"slices"
	"sync"
	"time"
)

// entry is one thing the app received, for the "What I received" panel.
type entry struct {
	Time    time.Time
	Kind    string // back-channel logout, front-channel logout, webhook, back from signoff
	OK      bool   // accepted
	Summary string
	Detail  string // decoded claims, the request, or the JSON body
}

// received keeps the newest entries, up to a bound, in memory.
type received struct {
	mu      sync.Mutex
	max     int
	entries []entry // oldest first
}

func newReceived(max int) *received { return &received{max: max} }

// add records e, dropping the oldest entry beyond the bound.
func (r *received) add(e entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
	if over := len(r.entries) - r.max; over > 0 {
		r.entries = slices.Delete(r.entries, 0, over)
	}
}

// list returns the entries, newest first.
func (r *received) list() []entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.entries)
	slices.Reverse(out)
	return out
}
