package sessions_test

import (
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/services/front/internal/sessions"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/natstest"
)

// publishWindow bounds the asynchronous publishes in flight while the
// benchmark fills the state stream.
const publishWindow = 4096

// BenchmarkRebuild measures what a restarted front pays before it serves:
// a fresh index projected from a state stream of n sessions with two
// participations each, until the feed is Ready. Every participation was
// reported twice, so the stream's history is twice its live state; the
// rebuild reads the live state only (stream-msgs vs. published-msgs).
// In the -ended cases every session was also ended: its logout is in the
// events stream, and its two deliveries' progress batch follows its
// participations in the state stream, as a worker writes it.
// Run it with -benchtime 1x: filling the stream is not timed but is slow.
func BenchmarkRebuild(b *testing.B) {
	for _, tc := range []struct {
		name  string
		n     int
		ended bool
	}{{"100k", 100_000, false}, {"100k-ended", 100_000, true}, {"1M", 1_000_000, false}} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.n >= 1_000_000 && testing.Short() {
				b.Skip("1M sessions: skipped with -short")
			}
			benchmarkRebuild(b, tc.n, tc.ended)
		})
	}
}

func benchmarkRebuild(b *testing.B, n int, ended bool) {
	cfg := config.Default()
	s := natstest.RunServer(b, b.TempDir())
	nc, _ := natstest.Connect(b, s)
	var pubErrs atomic.Int64
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(2*publishWindow),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { pubErrs.Add(1) }),
	)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if err := natsconn.EnsureStreams(ctx, js, cfg, nil); err != nil {
		b.Fatal(err)
	}

	// Two rounds: the second re-reports every participation on the same
	// subject, which the state stream keeps once.
	published, began := 0, time.Now()
	publish := func(subject string, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := js.PublishAsync(subject, data); err != nil {
			b.Fatalf("publishing message %d: %v", published, err)
		}
		published++
		if published%publishWindow == 0 {
			waitPublished(b, js)
		}
	}
	clients := [...]string{"app1", "app2"}
	for round := range 2 {
		at := time.Now().UTC().Add(time.Duration(round-1) * time.Minute)
		for i := range n {
			sid := benchSID(i)
			sub := "user-" + strconv.Itoa(100000+i%900000)
			for _, client := range clients {
				publish(event.ParticipationSubject(sid, client), event.Joined{SID: sid, ClientID: client, Sub: sub, Time: at})
			}
			if !ended || round == 0 {
				continue
			}
			logoutID := "logout-" + strconv.Itoa(i)
			e := event.SessionEnded{LogoutID: logoutID, SID: sid, Sub: sub, Iss: "https://idp.example",
				Reason: event.ReasonAPI, Time: at.Add(time.Second)}
			batch := event.DeliveryBatch{LogoutID: logoutID, SID: sid, Channel: config.ChannelBackchannel, Time: e.Time}
			for _, client := range clients {
				e.Clients = append(e.Clients, event.Participant{ClientID: client, Sub: sub, Channels: []string{config.ChannelBackchannel}})
				batch.Deliveries = append(batch.Deliveries, event.BatchDelivery{ClientID: client, Status: event.StatusDelivered, Attempts: 1})
			}
			publish(event.SubjectSessionEnded, e)
			publish(event.BatchSubject(logoutID, config.ChannelBackchannel, 1), batch)
		}
	}
	waitPublished(b, js)
	b.Logf("published %d messages in %v", published, time.Since(began).Round(time.Millisecond))
	if e := pubErrs.Load(); e > 0 {
		b.Fatalf("%d publishes failed", e)
	}
	stream, err := js.Stream(ctx, natsconn.StreamState)
	if err != nil {
		b.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	want := uint64(2 * n)
	if ended {
		want = uint64(3 * n) // and a batch per session
	}
	if info.State.Msgs != want {
		b.Fatalf("state stream holds %d messages, want %d", info.State.Msgs, want)
	}

	logger := slog.New(slog.DiscardHandler)
	b.ResetTimer()
	for range b.N {
		ix, err := index.New()
		if err != nil {
			b.Fatal(err)
		}
		feed := sessions.NewFeed(js, ix, cfg.Sessions.Retention, logger)
		if err := feed.Start(ctx); err != nil {
			b.Fatal(err)
		}
		select {
		case <-feed.Ready():
		case <-time.After(30 * time.Minute):
			b.Fatal("index not rebuilt in 30 minutes")
		}
		b.StopTimer()
		feed.Stop()
		if got := ix.Len(); got != n {
			b.Fatalf("rebuilt index holds %d sessions, want %d", got, n)
		}
		if ended {
			checkEnded(b, ix, n)
		}
		b.StartTimer()
	}
	b.StopTimer()
	perRebuild := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perRebuild, "s/rebuild")
	b.ReportMetric(float64(n)/perRebuild, "sessions/s")
	b.ReportMetric(perRebuild*1e9/float64(n), "ns/session")
	b.ReportMetric(float64(info.State.Msgs), "stream-msgs")
	b.ReportMetric(float64(published), "published-msgs")
}

// checkEnded fails b unless sessions of the rebuilt index, a sample of
// them, show their logout and its two deliveries.
func checkEnded(b *testing.B, ix *index.Index, n int) {
	b.Helper()
	for i := 0; i < n; i += n / 100 {
		s, ok := ix.Session(benchSID(i))
		if !ok || !s.Ended() || s.LogoutID != "logout-"+strconv.Itoa(i) || len(s.Deliveries) != 2 {
			b.Fatalf("rebuilt session %d: %+v, want it ended by logout-%d with 2 deliveries", i, s, i)
		}
	}
}

func waitPublished(b *testing.B, js jetstream.JetStream) {
	b.Helper()
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatalf("%d publishes not acknowledged in a minute", js.PublishAsyncPending())
	}
}

// benchSID returns the sid of session i: a 36-character UUIDv4-shaped
// string derived from i (the same as the index benchmarks use).
func benchSID(i int) string {
	var raw [16]byte
	x := uint64(i)
	for h := range 2 {
		// splitmix64: a fixed, well-spread bit pattern per i.
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		for k := range 8 {
			raw[h*8+k] = byte(z >> (8 * k))
		}
	}
	raw[6] = raw[6]&0x0f | 0x40 // version 4
	raw[8] = raw[8]&0x3f | 0x80 // RFC 4122 variant
	var buf [36]byte
	hex.Encode(buf[0:8], raw[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], raw[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], raw[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], raw[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:36], raw[10:16])
	return string(buf[:])
}
