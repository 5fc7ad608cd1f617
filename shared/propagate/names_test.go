package propagate_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
	"github.com/signoff/signoff/shared/propagate"
)

func TestTasksConsumerNames(t *testing.T) {
	assert.Equal(t, "retry-backchannel-my-app", propagate.TasksConsumer("backchannel", "my-app"), "unchanged where it was unambiguous")
	names := map[string]bool{}
	for _, p := range [][2]string{{"notify", "team-a"}, {"notify-team", "a"}, {"a", "b/c"}, {"a", `b\c`}, {"a", strings.Repeat("x", 250)}} {
		name := propagate.TasksConsumer(p[0], p[1])
		assert.True(t, natsconn.ValidConsumerName(name), "%q", name)
		assert.False(t, names[name], "%q is the name of another pair", name)
		names[name] = true
	}
}

// TestRetriesOfKindsWhoseNamesOverlap: kind "notify" with client "team-a"
// and kind "notify-team" with client "a" each retry their own deliveries
// (their consumers once shared a name, and the second worker took the
// first one's tasks); a client id with a '/' has retries too.
func TestRetriesOfKindsWhoseNamesOverlap(t *testing.T) {
	recv := newFlakyReceiver(t)
	_, js := natstest.Connect(t, natstest.RunServer(t, ""))
	cfg := config.Default()
	cfg.Clients = []config.Client{
		{ClientID: "team-a", WebhookURI: recv.URL + "/notify/team-a"},
		{ClientID: "a", WebhookURI: recv.URL + "/notify-team/a"},
		{ClientID: "team/b", WebhookURI: recv.URL + "/notify/team-b"},
	}
	require.NoError(t, natsconn.EnsureStreams(t.Context(), js, cfg, nil))
	runNamed(t, js, cfg, "notify", "team-a", "team/b")
	runNamed(t, js, cfg, "notify-team", "a")

	publishTo(t, js, "L-names", "team-a", "a", "team/b")
	recv.waitCalls(t, map[string]int{"/notify/team-a": 2, "/notify-team/a": 2, "/notify/team-b": 2})

	// Three retry consumers, each with its own tasks.
	assert.ElementsMatch(t, []string{event.WorkSubject("notify", "team-a"), event.WorkSubject("notify-team", "a"),
		event.WorkSubject("notify", "team/b")}, workFilters(t, js))
}

// TestRetriesKeepAnOlderConsumer: the retry consumer that a worker of a
// kind with a '-' made before the names changed is bound as it is (its
// tasks are on a work queue stream, which takes no second consumer of
// them).
func TestRetriesKeepAnOlderConsumer(t *testing.T) {
	recv := newFlakyReceiver(t)
	js, cfg := appStreams(t, recv.URL+"/app")
	_, err := js.CreateConsumer(t.Context(), natsconn.StreamWork, jetstream.ConsumerConfig{
		Durable: "retry-slack-notify-app", FilterSubject: event.WorkSubject("slack-notify", "app"),
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
	runNamed(t, js, cfg, "slack-notify", "app")

	publishTo(t, js, "L-old", "app")
	recv.waitCalls(t, map[string]int{"/app": 2})
	assert.Equal(t, []string{event.WorkSubject("slack-notify", "app")}, workFilters(t, js), "no second consumer")
}

// flakyReceiver answers 503 to the first request on each path, then 200.
type flakyReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
}

func newFlakyReceiver(t *testing.T) *flakyReceiver {
	r := &flakyReceiver{calls: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.calls[req.URL.Path]++
		n := r.calls[req.URL.Path]
		r.mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *flakyReceiver) waitCalls(t *testing.T, want map[string]int) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r.mu.Lock()
		defer r.mu.Unlock()
		assert.Equal(c, want, r.calls)
	}, 20*time.Second, 20*time.Millisecond, "each delivery retried once after its 503")
}

// workFilters are the filter subjects of the consumers of SIGNOFF_WORK.
func workFilters(t *testing.T, js jetstream.JetStream) []string {
	st, err := js.Stream(t.Context(), natsconn.StreamWork)
	require.NoError(t, err)
	var filters []string
	consumers := st.ListConsumers(t.Context())
	for info := range consumers.Info() {
		filters = append(filters, info.Config.FilterSubject)
	}
	require.NoError(t, consumers.Err())
	return filters
}

// TestStopWhileStarting: a worker whose context ends while it starts (a
// SIGTERM during start-up) returns nil, as a stop, not a failure.
func TestStopWhileStarting(t *testing.T) {
	js, cfg := appStreams(t, "http://127.0.0.1:9/hook")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.NoError(t, propagate.Run(ctx, testjson(js, cfg)))
}
