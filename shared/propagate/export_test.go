package propagate

import "time"

// Backoff exposes RetryPolicy.backoff to tests.
func Backoff(r RetryPolicy, attempts int, retryAfter time.Duration) time.Duration {
	return r.backoff(attempts, retryAfter)
}
