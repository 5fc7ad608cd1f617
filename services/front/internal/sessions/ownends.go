package sessions

import "sync"

// maxOwnEnds bounds the logouts remembered by ownEnds: past it, the set
// starts over, and the feed applies those logouts a second time, which is
// harmless.
const maxOwnEnds = 4096

// ownEnds are the logouts that a Service published and applied to its index
// itself. When such a logout comes back through the feed, the feed skips
// it instead of decoding it and applying it a second time (about a tenth
// of what a logout of one client costs the front).
//
// A logout is added before it is published and marked applied once it is
// in the index; the feed takes it out when it sees it, and skips it only if
// it was applied by then. So the feed never skips a logout the index does
// not hold, and every entry leaves the set: the feed takes it, or End
// removes it when its publish failed or was a duplicate (a message the
// feed has seen already, or will not see again).
type ownEnds struct {
	mu      sync.Mutex
	applied map[string]bool // logout id: applied to the index yet
}

func newOwnEnds() *ownEnds { return &ownEnds{applied: map[string]bool{}} }

// add records a logout about to be published.
func (o *ownEnds) add(logoutID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.applied) >= maxOwnEnds {
		clear(o.applied)
	}
	o.applied[logoutID] = false
}

// markApplied records that the logout is in the index, unless the feed
// took it out meanwhile.
func (o *ownEnds) markApplied(logoutID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.applied[logoutID]; ok {
		o.applied[logoutID] = true
	}
}

func (o *ownEnds) remove(logoutID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.applied, logoutID)
}

// take takes the logout out and reports whether the index holds it
// already.
func (o *ownEnds) take(logoutID string) (applied bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	applied = o.applied[logoutID]
	delete(o.applied, logoutID)
	return applied
}
