package propagate

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/signoff/signoff/shared/config"
)

// target is one client of a worker: its breaker and its slots.
type target struct {
	id      string
	client  *config.Client
	breaker *gobreaker.CircuitBreaker[struct{}]
	slots   chan struct{} // PerTarget slots for first attempts
}

func newTarget(c *config.Client, o *Options, m *metrics) *target {
	id := c.ClientID
	t := &target{id: id, client: c, slots: make(chan struct{}, o.PerTarget)}
	failures := o.Breaker.Failures
	logger := o.Logger.With("client_id", id)
	t.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        o.Kind + "/" + id,
		MaxRequests: 1,
		Timeout:     o.Breaker.OpenFor,
		// Counts roll over Window, in tenths.
		Interval:     o.Breaker.Window,
		BucketPeriod: max(o.Breaker.Window/10, time.Millisecond),
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= failures && 2*uint64(c.TotalFailures) >= uint64(c.Requests)
		},
		// A permanent failure is the target's answer, not its ill health:
		// it does not trip the breaker.
		IsSuccessful: func(err error) bool { return err == nil || IsPermanent(err) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			logger.Warn("circuit breaker changed state", "from", from.String(), "to", to.String())
			m.breakerState(o.Kind, id, to)
		},
	})
	m.breakerState(o.Kind, id, gobreaker.StateClosed)
	return t
}

// errBreakerOpen reports a call the breaker refused.
var errBreakerOpen = errors.New("circuit breaker open: parked until it lets a probe through")

// call runs p through the target's breaker, bounded by timeout.
func (t *target) call(ctx context.Context, p Propagator, d *Delivery, timeout time.Duration, m *metrics) error {
	start := time.Now()
	_, err := t.breaker.Execute(func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return struct{}{}, p.Propagate(ctx, d)
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return errBreakerOpen
	}
	m.observe(d.Kind, time.Since(start))
	return err
}

// open reports whether the breaker refuses calls now.
func (t *target) open() bool { return t.breaker.State() == gobreaker.StateOpen }

// tryAcquire takes a first-attempt slot if one is free.
func (t *target) tryAcquire() bool {
	select {
	case t.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (t *target) release() { <-t.slots }

// backoff is the delay before attempt n+1 after n attempts: exponential,
// with jitter, at least what the target asked for, at most r.Max.
func (r RetryPolicy) backoff(attempts int, retryAfter time.Duration) time.Duration {
	d := r.exponential(attempts) * (1 + r.Jitter*(2*rand.Float64()-1))
	delay := min(time.Duration(d), r.Max)
	if retryAfter > delay {
		delay = min(retryAfter, r.Max)
	}
	return max(delay, time.Millisecond)
}

// minBackoff is the shortest delay backoff gives after n attempts.
func (r RetryPolicy) minBackoff(attempts int) time.Duration {
	return max(min(time.Duration(r.exponential(attempts)*(1-r.Jitter)), r.Max), time.Millisecond)
}

// exponential is backoff's delay before its jitter.
func (r RetryPolicy) exponential(attempts int) float64 {
	d := float64(r.Initial)
	for i := 1; i < attempts; i++ {
		d *= r.Multiplier
		if d > float64(r.Max) {
			break
		}
	}
	return d
}

// deferDelay is how long a delivery parked behind an open breaker waits
// before it looks again: about when the breaker lets a probe through.
func (o *Options) deferDelay() time.Duration {
	j := time.Duration(rand.Int64N(int64(o.Breaker.OpenFor)/4 + 1))
	return o.Breaker.OpenFor/2 + j
}
