package natsconn

import "time"

// SetRetryFor sets how long RetryTransient retries until the test ends.
func SetRetryFor(t interface{ Cleanup(func()) }, d time.Duration) {
	old := declareRetryFor
	declareRetryFor = d
	t.Cleanup(func() { declareRetryFor = old })
}

// SetRetryLogEvery sets how often RetryTransient logs until the test ends.
func SetRetryLogEvery(t interface{ Cleanup(func()) }, d time.Duration) {
	old := retryLogEvery
	retryLogEvery = d
	t.Cleanup(func() { retryLogEvery = old })
}
