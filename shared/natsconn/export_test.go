package natsconn

import "time"

// SetRetryFor sets how long RetryTransient retries until the test ends.
func SetRetryFor(t interface{ Cleanup(func()) }, d time.Duration) {
	old := declareRetryFor
	declareRetryFor = d
	t.Cleanup(func() { declareRetryFor = old })
}
