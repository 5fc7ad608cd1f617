package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
)

// Stream names.
const (
	// StreamEvents holds session-ended events, per-client logout events and
	// dead letters, for nats.event_retention.
	StreamEvents = "SIGNOFF_EVENTS"
	// StreamState keeps the last message of each state subject
	// (participations, delivery progress) for twice sessions.retention: the
	// session index is its projection.
	StreamState = "SIGNOFF_STATE"
	// StreamIntake is the work queue of participation reports published on
	// signoff.v1.session.joined, until a front records them.
	StreamIntake = "SIGNOFF_INTAKE"
	// StreamWork is the work queue of deliveries waiting for a retry: one
	// subject per channel and client, removed once handled.
	StreamWork = "SIGNOFF_WORK"
)

// DuplicateWindow is how long JetStream remembers message ids: a logout
// published twice with the same logout id within it is stored once.
const DuplicateWindow = 2 * time.Minute

// EventsMaxAge is how long the events stream keeps a logout:
// nats.event_retention, but at least as long as the state stream keeps
// participations (twice sessions.retention). A front that rebuilds its
// index reads both; a participation without its logout would bring an
// ended session back to life, and the janitor would end it a second time.
func EventsMaxAge(cfg *config.Config) time.Duration {
	return max(cfg.NATS.EventRetention, 2*cfg.Sessions.Retention)
}

// Streams returns the stream configurations signoff declares.
func Streams(cfg *config.Config) []jetstream.StreamConfig {
	replicas := max(cfg.NATS.Replicas, 1)
	return []jetstream.StreamConfig{
		{
			Name:        StreamEvents,
			Description: "signoff: session-ended events, per-client logout events, dead letters",
			Subjects: []string{
				event.SubjectSessionEnded,
				event.LogoutPrefix + "*",
				event.DeadLetterPrefix + "*.*.*",
			},
			Retention:         jetstream.LimitsPolicy,
			MaxAge:            EventsMaxAge(cfg),
			MaxMsgsPerSubject: -1,
			Duplicates:        min(DuplicateWindow, cfg.NATS.EventRetention),
			Storage:           jetstream.FileStorage,
			Replicas:          replicas,
		},
		{
			Name:              StreamState,
			Description:       "signoff: last state per session participation and delivery",
			Subjects:          []string{event.StatePrefix + ">"},
			Retention:         jetstream.LimitsPolicy,
			MaxMsgsPerSubject: 1,
			// Twice the index's retention: a front that was down while a
			// session went stale still finds it, and ends it as expired.
			MaxAge:     2 * cfg.Sessions.Retention,
			Duplicates: min(DuplicateWindow, cfg.Sessions.Retention),
			Storage:    jetstream.FileStorage,
			Replicas:   replicas,
		},
		{
			Name:              StreamWork,
			Description:       "signoff: deliveries waiting for a retry",
			Subjects:          []string{event.WorkPrefix + "*.*"},
			Retention:         jetstream.WorkQueuePolicy,
			MaxAge:            cfg.NATS.EventRetention,
			MaxMsgsPerSubject: -1,
			Duplicates:        min(DuplicateWindow, cfg.NATS.EventRetention),
			Storage:           jetstream.FileStorage,
			Replicas:          replicas,
		},
		{
			Name:              StreamIntake,
			Description:       "signoff: participation reports waiting for a front",
			Subjects:          []string{event.SubjectSessionJoined},
			Retention:         jetstream.WorkQueuePolicy,
			MaxAge:            cfg.Sessions.Retention,
			MaxMsgsPerSubject: -1,
			Duplicates:        min(DuplicateWindow, cfg.Sessions.Retention),
			Storage:           jetstream.FileStorage,
			Replicas:          replicas,
		},
	}
}

// maxNameLen is the longest stream or consumer name JetStream takes.
const maxNameLen = 255

// ValidConsumerName reports whether JetStream takes name as the name of a
// durable consumer: 1 to 255 printable ASCII characters, none of them
// whitespace, '.', '*', '>', '/' or '\'.
func ValidConsumerName(name string) bool {
	return event.ValidToken(name) && len(name) <= maxNameLen && !strings.ContainsAny(name, `/\`)
}

// EnsureStreams creates every stream of [Streams] that is missing and
// updates one whose settings differ. A stream that is as wanted is left
// alone: services start concurrently, and a needless update races the
// consumers that other services create meanwhile. A declaration that fails
// for a passing reason (no answer, cluster not ready) is retried for up to
// a minute, and logger (nil for none) says so.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg *config.Config, logger *slog.Logger) error {
	for _, want := range Streams(cfg) {
		_, err := RetryTransient(ctx, logger, fmt.Sprintf("declaring stream %s with %d replicas", want.Name, want.Replicas), func() (struct{}, error) {
			return struct{}{}, ensureStream(ctx, js, want)
		})
		if errors.Is(err, nats.ErrNoResponders) {
			// Nothing answers the JetStream API at all: not a server
			// that is starting (it answers "temporarily unavailable").
			return fmt.Errorf("%w: is JetStream enabled on the NATS server (nats-server -js)?", err)
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jsNoSuitablePeers {
			return fmt.Errorf("%w: does the cluster have that many JetStream servers (nats.replicas)?", err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	st, err := js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another service created it first
		}
	case err == nil && !sameStream(st.CachedInfo().Config, want):
		_, err = js.UpdateStream(ctx, want)
	}
	return err
}

// declareRetryFor bounds how long RetryTransient retries a call that
// failed for a passing reason. Services that start together against a new
// cluster create the same replicated streams at once; the requests that
// lose can get no answer (nats.go#949), and a cluster that is still
// electing its meta leader answers "temporarily unavailable".
var declareRetryFor = time.Minute

// retryLogEvery is how often RetryTransient says that it still waits.
var retryLogEvery = 10 * time.Second

// RetryTransient calls f, a JetStream API call, and returns what it
// returned once it succeeds, fails for a reason that will not pass, ctx
// ends or a minute has passed, with a growing, jittered pause between
// calls. What passes: no answer in time
// (a node still catching up, a stream leader being elected, a request
// that lost a race), "temporarily unavailable" (no meta leader yet) and
// "insufficient resources" (most of a stream's peers offline, as when a
// cluster lost its quorum). Services call it on what they declare or bind
// at start, so that a cluster that is forming or recovering delays them
// instead of stopping them; a real limit still shows, with its own error,
// once the minute is over. When ctx ends first, the error says so. The
// error begins with what.
//
// While it waits, it logs at warn to logger (nil for none) what it waits
// for and why, at the first failure and then every 10 s, so that a service
// that seems stuck at start says why.
func RetryTransient[T any](ctx context.Context, logger *slog.Logger, what string, f func() (T, error)) (T, error) {
	start := time.Now()
	deadline := start.Add(declareRetryFor)
	pause := 100 * time.Millisecond
	var logged time.Time
	for {
		v, err := f()
		switch {
		case err == nil:
			return v, nil
		case !transient(err) || time.Now().After(deadline):
			return v, fmt.Errorf("%s: %w", what, err)
		case ctx.Err() != nil:
			return v, fmt.Errorf("%s: %w", what, errors.Join(ctx.Err(), err))
		}
		if logger != nil && (logged.IsZero() || time.Since(logged) >= retryLogEvery) {
			logger.Warn("waiting for JetStream", "call", what, "err", err.Error(),
				slog.Duration("waited", time.Since(start)), slog.Duration("gives_up_after", declareRetryFor))
			logged = time.Now()
		}
		t := time.NewTimer(pause/2 + rand.N(pause))
		select {
		case <-ctx.Done():
			t.Stop()
			return v, fmt.Errorf("%s: %w", what, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// jsTemporarilyUnavailable is JetStream's error code for "JetStream system
// temporarily unavailable" (no meta leader yet, for example).
const jsTemporarilyUnavailable jetstream.ErrorCode = 10008

// jsInsufficientResources is JetStream's error code for "insufficient
// resources": among others, the answer to a consumer create while most of
// its stream's peers are offline.
const jsInsufficientResources jetstream.ErrorCode = 10023

// jsNoSuitablePeers is JetStream's error code for "no suitable peers for
// placement": the cluster has fewer JetStream servers than the stream's
// replicas. It is not retried: a new cluster answers "temporarily
// unavailable" until it has seen every server of its routes, and a formed
// one with a server down still places a stream on it; so this answer means
// that nats.replicas is larger than the cluster.
const jsNoSuitablePeers jetstream.ErrorCode = 10005

// transient reports whether a JetStream API call failed for a reason that
// may pass: no answer in time, a cluster not ready or not whole, or (for
// the first connection) no server reachable yet. No responders at all is
// not one of them: the server has no JetStream.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoServers):
		return true
	case errors.As(err, &apiErr):
		return apiErr.ErrorCode == jsTemporarilyUnavailable || apiErr.ErrorCode == jsInsufficientResources
	}
	return false
}

// sameStream reports whether have already has every setting of want.
func sameStream(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Retention == want.Retention &&
		have.MaxAge == want.MaxAge && have.MaxMsgsPerSubject == want.MaxMsgsPerSubject &&
		have.Duplicates == want.Duplicates && have.Storage == want.Storage &&
		have.Replicas == want.Replicas && have.Description == want.Description
}
