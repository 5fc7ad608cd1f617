// Package propagate is the framework every propagation worker is built
// with: it consumes "session ended" events, fans each logout out to its
// targets in parallel, calls each target through its own circuit breaker,
// retries transient failures durably with backoff, dead-letters what
// exhausts its budget, and publishes per-target progress that the front's
// session index shows and waits on.
//
// A worker implements [Propagator] (one method that delivers one logout to
// one client) and runs it with [Run]:
//
//	err := propagate.Run(ctx, propagate.Options{
//		Kind:       "webhook",
//		Wants:      func(c *config.Client) bool { return c.WebhookURI != "" },
//		Propagator: myPropagator,
//		JS:         js,
//		Clients:    cfg.Registry(),
//		Logger:     logger,
//	})
//
// # How a logout flows
//
// Stage 1: a durable consumer named after the kind, shared by all replicas
// of the worker, takes each session-ended event once. For every target it
// makes a first attempt at once, in parallel, bounded per worker and per
// target. A target whose slots are busy, whose breaker is open, or whose
// first attempt failed transiently is handed to stage 2: a task message in
// the work stream, stored before the event is acknowledged.
//
// Stage 2: one durable consumer per target (at most PerTarget tasks of one
// target in flight, so one slow client cannot take every slot) retries the
// task with exponential backoff and jitter, honouring Retry-After, until it
// is delivered, fails permanently, or exhausts its budget (attempts and
// age), when it is marked failed and published as a dead letter.
//
// A crash anywhere loses nothing: an unacknowledged event or task is
// redelivered, and progress records in the state stream make redelivery
// idempotent: a target already delivered is not delivered twice.
package propagate
