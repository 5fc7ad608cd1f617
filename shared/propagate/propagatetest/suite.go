// Package propagatetest is the conformance suite that every propagation
// worker passes: it runs the worker against a real in-process NATS
// JetStream server and real HTTP receivers, and checks exactly-once
// delivery per target, skipped targets, retries, dead letters and replay,
// circuit breakers, the per-target bound, redelivered events and recovery
// from a dead replica. It also holds the helpers a worker's own tests
// share (helpers.go): StartWorker, Publish, WaitStatus, OutcomeOf.
//
//	func TestConformance(t *testing.T) {
//		propagatetest.Run(t, propagatetest.Worker{Kind: "webhook", ...})
//	}
package propagatetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/syncbuf"
)

// Worker is what a worker kind gives the suite.
type Worker struct {
	// Kind is the worker kind under test.
	Kind string
	// Configure makes c a target of the worker whose deliveries reach url.
	Configure func(c *config.Client, url string)
	// Options returns the worker's Wants, Skip and Propagator for cfg; the
	// suite sets JS, Clients, Logger and fast retry and breaker policies.
	Options func(t testing.TB, cfg *config.Config) propagate.Options
	// Check verifies one request that reached clientID and returns the
	// logout id it carries. It fails t when the request is not valid.
	Check func(t testing.TB, r *http.Request, body []byte, clientID string) string
}

// Issuer is the issuer of the suite's configuration.
const Issuer = "http://127.0.0.1:8080"

// Run runs the suite.
func Run(t *testing.T, w Worker) {
	t.Run("every target gets exactly one delivery", func(t *testing.T) { testOncePerTarget(t, w) })
	t.Run("a permanent failure is not retried and is dead-lettered, then replayed", func(t *testing.T) { testPermanent(t, w) })
	t.Run("transient failures are retried until delivered", func(t *testing.T) { testTransient(t, w) })
	t.Run("an open breaker defers and later delivers", func(t *testing.T) { testBreaker(t, w) })
	t.Run("a mostly healthy target's streak of failures does not open its breaker", func(t *testing.T) { testBreakerRatio(t, w) })
	t.Run("a hanging target takes only its own slots", func(t *testing.T) { testPerTarget(t, w) })
	t.Run("a retry slower than AckWait is not handed to another replica", func(t *testing.T) { testSlowRetry(t, w) })
	t.Run("a dead replica's logout is completed by another", func(t *testing.T) { testDeadReplica(t, w) })
	t.Run("a skipped target gets nothing and its delivery is settled", func(t *testing.T) { testSkip(t, w) })
	t.Run("a redelivered event hands its parked deliveries off again and repeats no settled one", func(t *testing.T) { testRedelivered(t, w) })
	t.Run("a client missing from a replica's configuration waits for one that knows it", func(t *testing.T) { testUnknownClient(t, w) })
	t.Run("a client given this channel first at the fronts waits for a replica that serves it", func(t *testing.T) { testChangedClient(t, w) })
}

// ackWait is the workers' AckWait in the suite: short, so that a dead
// replica's work comes back soon.
const ackWait = 2 * time.Second

type harness struct {
	t        *testing.T
	w        Worker
	srv      *server.Server
	js       jetstream.JetStream
	cfg      *config.Config
	recv     *Receiver
	mu       sync.Mutex
	progress []event.Delivery // every progress record, in order
	logs     syncbuf.Buffer   // every replica's log
	// Logouts handled exactly once (wantSummary): one summary line each.
	summarised []string
	// skip makes the replicas started later skip these clients, with the
	// reason, before the worker's own Skip is asked.
	skip map[string]string
	// timeout bounds the Propagate calls of the replicas started later.
	timeout time.Duration
}

func setup(t *testing.T, w Worker, clients int) *harness {
	t.Helper()
	h := &harness{t: t, w: w, timeout: 3 * time.Second}
	h.recv = newReceiver(t, w.Check)
	h.srv = natstest.RunServer(t, "")
	nc, js := natstest.Connect(t, h.srv)
	h.js = js
	cfg := config.Default()
	cfg.Issuer = Issuer
	cfg.Keys.GenerateDir = t.TempDir()
	for i := 1; i <= clients; i++ {
		c := config.Client{ClientID: "c" + strconv.Itoa(i), Name: "Client " + strconv.Itoa(i)}
		w.Configure(&c, h.recv.URL(c.ClientID))
		cfg.Clients = append(cfg.Clients, c)
	}
	h.cfg = cfg
	// Registered first, so it runs once every replica has stopped.
	t.Cleanup(h.checkDeliveryLogs)
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	_, err := nc.Subscribe(event.DeliveryPrefix+">", func(m *nats.Msg) {
		var d event.Delivery
		if json.Unmarshal(m.Data, &d) == nil {
			h.mu.Lock()
			h.progress = append(h.progress, d)
			h.mu.Unlock()
		}
	})
	require.NoError(t, err)
	// A batch holds every outcome so far: log each delivery once.
	seen := map[string]bool{}
	_, err = nc.Subscribe(event.BatchPrefix+">", func(m *nats.Msg) {
		var b event.DeliveryBatch
		if json.Unmarshal(m.Data, &b) != nil {
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for i := range b.Deliveries {
			d := b.Delivery(i)
			if key := d.LogoutID + "/" + d.Channel + "/" + d.ClientID; !seen[key] {
				seen[key] = true
				h.progress = append(h.progress, d)
			}
		}
	})
	require.NoError(t, err)
	return h
}

// start runs one replica of the worker on its own connection and returns
// a function that stops it: gracefully, or as if it died (its connection
// closes first).
func (h *harness) start(perTarget int) (stop func(die bool)) {
	return h.startWith(h.cfg, perTarget)
}

// startWith runs one replica with its own configuration cfg.
func (h *harness) startWith(cfg *config.Config, perTarget int) (stop func(die bool)) {
	return h.startReplica(cfg, perTarget).stop
}

// replica is one running replica of the worker.
type replica struct {
	// cut closes the replica's connection: to JetStream it is dead at
	// once, while the calls it has in flight run on and end without
	// storing their outcomes.
	cut func()
	// stop stops it: gracefully, or as if it died (its connection closes
	// first).
	stop func(die bool)
}

// startReplica runs one replica with its own configuration cfg.
func (h *harness) startReplica(cfg *config.Config, perTarget int) *replica {
	nc, js := natstest.Connect(h.t, h.srv)
	o := h.w.Options(h.t, cfg)
	o.JS, o.Clients = js, cfg.Registry()
	o.Logger = slog.New(slog.NewJSONHandler(&h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if len(h.skip) > 0 {
		skip, own := maps.Clone(h.skip), o.Skip
		o.Skip = func(c *config.Client, e *event.SessionEnded) (string, bool) {
			if reason, ok := skip[c.ClientID]; ok {
				return reason, true
			}
			if own != nil {
				return own(c, e)
			}
			return "", false
		}
	}
	o.PerTarget = perTarget
	o.Timeout = h.timeout
	o.AckWait = ackWait
	o.Retry = propagate.RetryPolicy{Initial: 50 * time.Millisecond, Max: 400 * time.Millisecond, MaxAttempts: 8}
	o.Breaker = propagate.BreakerPolicy{Failures: 3, OpenFor: 600 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- propagate.Run(ctx, o) }()
	var once sync.Once
	stop := func(die bool) {
		once.Do(func() {
			if die {
				nc.Close()
			}
			cancel()
			select {
			case err := <-done:
				if !die {
					assert.NoError(h.t, err)
				}
			case <-time.After(10 * time.Second):
				h.t.Error("worker did not stop")
			}
		})
	}
	h.t.Cleanup(func() { stop(true) })
	return &replica{cut: nc.Close, stop: stop}
}

var logoutSeq int

// publish publishes a session-ended event for every client, as a front
// with the suite's configuration would, and returns it.
func (h *harness) publish() *event.SessionEnded {
	h.t.Helper()
	return h.publishAs(h.cfg)
}

// publishAs publishes a session-ended event for every client of the
// suite's configuration, as a front with configuration cfg would: each
// participant carries its channels in cfg. A nil cfg is a front older
// than the channels: the participants carry none.
func (h *harness) publishAs(cfg *config.Config) *event.SessionEnded {
	h.t.Helper()
	reg := config.NewRegistry(nil)
	if cfg != nil {
		reg = cfg.Registry()
	}
	logoutSeq++
	e := &event.SessionEnded{
		LogoutID: "L" + strconv.Itoa(logoutSeq) + strconv.FormatInt(time.Now().UnixNano(), 36),
		SID:      "sid-" + strconv.Itoa(logoutSeq), Sub: "alice", Iss: Issuer,
		Reason: event.ReasonEndSession, Time: time.Now().UTC(),
	}
	for _, c := range h.cfg.Clients {
		channels, _ := reg.Channels(c.ClientID)
		e.Clients = append(e.Clients, event.Participant{ClientID: c.ClientID, Sub: "sub-" + c.ClientID, Channels: channels})
	}
	data, err := json.Marshal(e)
	require.NoError(h.t, err)
	_, err = h.js.Publish(h.t.Context(), event.SubjectSessionEnded, data, jetstream.WithMsgID(e.LogoutID))
	require.NoError(h.t, err)
	return e
}

// statuses returns every status recorded for one delivery, in order.
func (h *harness) statuses(logoutID, clientID string) []event.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []event.Status
	for _, d := range h.progress {
		if d.LogoutID == logoutID && d.ClientID == clientID && d.Channel == h.w.Kind {
			out = append(out, d.Status)
		}
	}
	return out
}

// last returns the last progress of one delivery from the state stream,
// as the front's index shows it: its own record, or its batch entry.
func (h *harness) last(logoutID, clientID string) *event.Delivery {
	st, err := h.js.Stream(h.t.Context(), natsconn.StreamState)
	require.NoError(h.t, err)
	msg, err := st.GetLastMsgForSubject(h.t.Context(), event.DeliverySubject(logoutID, h.w.Kind, clientID))
	if err == nil {
		d, err := event.Decode[event.Delivery](msg.Data)
		require.NoError(h.t, err)
		return d
	}
	require.ErrorIs(h.t, err, jetstream.ErrMsgNotFound)
	for n := 8; n >= 1; n-- {
		msg, err = st.GetLastMsgForSubject(h.t.Context(), event.BatchSubject(logoutID, h.w.Kind, n))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		require.NoError(h.t, err)
		b, err := event.Decode[event.DeliveryBatch](msg.Data)
		require.NoError(h.t, err)
		for i := range b.Deliveries {
			if b.Deliveries[i].ClientID == clientID {
				d := b.Delivery(i)
				return &d
			}
		}
	}
	return nil
}

func (h *harness) waitStatus(logoutID, clientID string, want event.Status) *event.Delivery {
	h.t.Helper()
	var last atomic.Pointer[event.Delivery] // the condition may still run when a failed wait reports
	require.Eventually(h.t, func() bool {
		d := h.last(logoutID, clientID)
		last.Store(d)
		return d != nil && d.Status == want
	}, 20*time.Second, 20*time.Millisecond, "%s/%s never %s (last %s)", logoutID, clientID, want,
		lazy(func() string { return fmt.Sprintf("%+v", last.Load()) }))
	return last.Load()
}

// lazy is a failure message's argument that is formatted when the message
// is, so that a wait that fails shows the last value it saw, not the one
// before it began.
type lazy func() string

func (l lazy) String() string { return l() }

func count(ids []string, id string) int {
	n := 0
	for _, s := range ids {
		if s == id {
			n++
		}
	}
	return n
}

// checkDeliveryLogs checks that every log line about a delivery names its
// logout, its session (sid, empty for a logout of all of a subject's
// sessions) and its client, so that an operator can follow one delivery
// through the logs.
func (h *harness) checkDeliveryLogs() {
	if h.t.Skipped() {
		return
	}
	lines := 0
	for line := range strings.Lines(h.logs.String()) {
		var rec map[string]any
		if !assert.NoError(h.t, json.Unmarshal([]byte(line), &rec), "log lines are JSON: %s", line) {
			continue
		}
		msg, _ := rec["msg"].(string)
		if !strings.HasPrefix(msg, "deliver") {
			continue
		}
		lines++
		for _, key := range []string{"logout_id", "client_id"} {
			v, _ := rec[key].(string)
			assert.NotEmpty(h.t, v, "%s in %s", key, line)
		}
		assert.Contains(h.t, rec, "sid", "sid in %s", line)
	}
	assert.Positive(h.t, lines, "no log line about a delivery")
	h.checkSummaries()
}

// summaries returns the lines that sum up a handling of logout
// logoutID's event ("logout propagated").
func (h *harness) summaries(logoutID string) []map[string]any {
	var lines []map[string]any
	for line := range strings.Lines(h.logs.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "logout propagated" && rec["logout_id"] == logoutID {
			lines = append(lines, rec)
		}
	}
	return lines
}

// wantSummary waits for the info line that sums up the first attempts of
// logout logoutID, whose event is handled once, and checks its counts;
// checkDeliveryLogs checks at the end that no second line came.
func (h *harness) wantSummary(logoutID string, want map[string]float64) {
	h.t.Helper()
	h.wantSummaryOf(logoutID, false, want)
}

// wantSummaryOf is wantSummary for an event that is acknowledged by its
// first handling (redelivered false) or by a later one, the only one
// that stored every outcome (redelivered true).
func (h *harness) wantSummaryOf(logoutID string, redelivered bool, want map[string]float64) {
	h.t.Helper()
	var lines []map[string]any
	require.Eventually(h.t, func() bool {
		lines = h.summaries(logoutID)
		return len(lines) > 0
	}, 10*time.Second, 10*time.Millisecond, "a summary line for logout %s", logoutID)
	h.summarised = append(h.summarised, logoutID)
	level, _ := lines[0]["level"].(string)
	assert.Equal(h.t, "INFO", level, "level of the summary of %s", logoutID)
	assert.Equal(h.t, redelivered, lines[0]["redelivered"], "the summary of %s", logoutID)
	for k, v := range want {
		assert.Equal(h.t, v, lines[0][k], "%s of the summary of %s", k, logoutID)
	}
}

// checkSummaries checks every summary line: its counts add up to its
// targets, and a logout handled once has one line.
func (h *harness) checkSummaries() {
	for line := range strings.Lines(h.logs.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "logout propagated" {
			continue
		}
		sum := 0.0
		for _, k := range []string{"delivered", "failed", "skipped", "parked", "settled_before"} {
			n, ok := rec[k].(float64)
			assert.True(h.t, ok, "%s in %s", k, line)
			sum += n
		}
		assert.Equal(h.t, rec["targets"], sum, "the counts add up to the targets: %s", line)
	}
	for _, id := range h.summarised {
		assert.Len(h.t, h.summaries(id), 1, "summary lines of logout %s", id)
	}
}
