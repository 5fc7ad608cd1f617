package sessions

// OwnEnds is how many logouts s remembers having applied itself.
func OwnEnds(s *Service) int {
	s.own.mu.Lock()
	defer s.own.mu.Unlock()
	return len(s.own.applied)
}
