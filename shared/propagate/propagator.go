package propagate

import (
	"context"
	"errors"
	"time"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
)

// Propagator delivers one logout to one client.
//
// Contract:
//   - Propagate honours ctx: it returns soon after ctx ends.
//   - It may be called more than once for the same logout and client (a
//     retry, or a redelivery after a crash); receivers de-duplicate on the
//     logout id, and Propagate must tolerate being repeated.
//   - A nil error means delivered. An error wrapped with [Permanent] is
//     never retried (a 4xx answer, a misconfigured client). Any other error
//     is transient and retried; wrap it with [RetryAfter] when the target
//     said when to come back.
//   - It is called concurrently, for different and for the same clients.
type Propagator interface {
	Propagate(ctx context.Context, d *Delivery) error
}

// PropagatorFunc adapts a function to [Propagator].
type PropagatorFunc func(ctx context.Context, d *Delivery) error

// Propagate calls f.
func (f PropagatorFunc) Propagate(ctx context.Context, d *Delivery) error { return f(ctx, d) }

// Delivery is one logout to one client, as a Propagator receives it.
type Delivery struct {
	// Event is the session-ended event being propagated.
	Event *event.SessionEnded
	// Client is the target's registration.
	Client *config.Client
	// Sub is the sub that this client was given (pairwise or not).
	Sub string
	// Kind is the worker kind (the delivery's channel).
	Kind string
	// Attempt counts calls for this delivery, 1 for the first.
	Attempt int
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the delivery fails without retry.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with [Permanent].
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError is a transient error with the target's own delay.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as transient, to be retried no sooner than after
// (an HTTP Retry-After, for example).
func RetryAfter(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: after}
}

// retryAfterOf returns the delay asked for with [RetryAfter], or 0.
func retryAfterOf(err error) time.Duration {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}
