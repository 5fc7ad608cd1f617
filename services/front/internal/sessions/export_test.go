package sessions

// OwnEnds is how many logouts s remembers having applied itself.
func OwnEnds(s *Service) int {
	s.own.mu.Lock()
	defer s.own.mu.Unlock()
	return len(s.own.applied)
}

// SetBatch sets how many messages f applies per index transaction while
// catching up. Call it before Start.
func SetBatch(f *Feed, n int) { f.batch = n }
