package index_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/event"
)

// benchT0 is the time of every benchmark participation.
var benchT0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// benchClients are the two clients that take part in every benchmark session.
var benchClients = [2]string{"app1", "app2"}

// benchSID returns the sid of session i: a 36-character UUIDv4-shaped
// string derived from i. Every call allocates a new string, as decoding a
// message does, so that an index built from it holds what a projected one
// holds.
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

// benchJoined returns participation c (0 or 1) of session i, with freshly
// allocated strings like a decoded message.
func benchJoined(i, c int) *event.Joined {
	return &event.Joined{
		SID:      benchSID(i),
		ClientID: string([]byte(benchClients[c])),
		Sub:      "user-" + strconv.Itoa(100000+i%900000),
		Time:     benchT0,
	}
}

// fill applies n sessions of two participations each to a new index, with
// the stream sequences a projection would see.
func fill(b *testing.B, n int) *index.Index {
	b.Helper()
	ix, err := index.New()
	if err != nil {
		b.Fatal(err)
	}
	seq := uint64(0)
	for i := range n {
		for c := range benchClients {
			seq++
			if err := ix.ApplyJoined(benchJoined(i, c), seq); err != nil {
				b.Fatal(err)
			}
		}
	}
	return ix
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkApplyJoined measures one participation applied to an index that
// already holds 100k sessions; each op is one participation, two per
// session.
func BenchmarkApplyJoined(b *testing.B) {
	const prefill = 100_000
	ix := fill(b, prefill)
	seq := uint64(2 * prefill)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		seq++
		if err := ix.ApplyJoined(benchJoined(prefill+i/2, i%2), seq); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkMemoryPerSession measures the live heap the index holds per
// session of two participations. The time per op is the time to build the
// whole index and is not the point.
func BenchmarkMemoryPerSession(b *testing.B) {
	for _, tc := range []struct {
		name string
		n    int
	}{{"100k", 100_000}, {"1M", 1_000_000}} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.n >= 1_000_000 && testing.Short() {
				b.Skip("1M sessions: skipped with -short")
			}
			var perSession float64
			for range b.N {
				before := heapAlloc()
				ix := fill(b, tc.n)
				after := heapAlloc()
				if got := ix.Len(); got != tc.n {
					b.Fatalf("index holds %d sessions, want %d", got, tc.n)
				}
				runtime.KeepAlive(ix)
				perSession = float64(after-before) / float64(tc.n)
			}
			b.ReportMetric(perSession, "B/session")
		})
	}
}

// BenchmarkSessionLookup measures Session (the snapshot with its clients)
// in an index of 100k sessions.
func BenchmarkSessionLookup(b *testing.B) {
	const n = 100_000
	ix := fill(b, n)
	sids := make([]string, 1024)
	for i := range sids {
		sids[i] = benchSID(i * (n / len(sids)))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s, ok := ix.Session(sids[i%len(sids)])
		if !ok || len(s.Clients) != 2 {
			b.Fatalf("session %s: found %v, clients %v", sids[i%len(sids)], ok, s)
		}
		i++
	}
}

// BenchmarkWaitSettledAlreadySettled measures the common case of the
// logout wait: every target has settled by the time the front asks, among
// 10k other logouts' deliveries.
func BenchmarkWaitSettledAlreadySettled(b *testing.B) {
	ix, err := index.New()
	if err != nil {
		b.Fatal(err)
	}
	seq := uint64(0)
	for l := range 10_001 {
		for _, c := range benchClients {
			seq++
			d := &event.Delivery{LogoutID: fmt.Sprintf("L%05d", l), ClientID: c, Channel: "backchannel",
				Status: event.StatusDelivered, Attempts: 1, Time: benchT0}
			if err := ix.ApplyDelivery(d, seq); err != nil {
				b.Fatal(err)
			}
		}
	}
	targets := []index.Target{{ClientID: "app1", Channel: "backchannel"}, {ClientID: "app2", Channel: "backchannel"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ds, ok := ix.WaitSettled(ctx, "L05000", targets); !ok || len(ds) != 2 {
			b.Fatalf("not settled: %v", ds)
		}
	}
}

// BenchmarkApplyDeliveriesK10 measures what the front does with the
// progress batch of one logout to K=10 clients: first `pending` for all
// ten, then the batch that delivers them, among 10k other logouts'
// ledgers.
func BenchmarkApplyDeliveriesK10(b *testing.B) {
	ix, err := index.New()
	if err != nil {
		b.Fatal(err)
	}
	batch := func(logoutID string, st event.Status) []event.Delivery {
		ds := make([]event.Delivery, 10)
		for c := range ds {
			ds[c] = event.Delivery{LogoutID: logoutID, ClientID: "client-" + strconv.Itoa(c), Channel: "backchannel",
				Status: st, Attempts: 1, Time: benchT0}
		}
		return ds
	}
	seq := uint64(0)
	for l := range 10_000 {
		seq++
		if err := ix.ApplyDeliveries(batch(fmt.Sprintf("L%05d", l), event.StatusDelivered), seq); err != nil {
			b.Fatal(err)
		}
	}
	l := 10_000
	b.ReportAllocs()
	for b.Loop() {
		id := fmt.Sprintf("L%08d", l)
		l++
		seq++
		if err := ix.ApplyDeliveries(batch(id, event.StatusPending), seq); err != nil {
			b.Fatal(err)
		}
		seq++
		if err := ix.ApplyDeliveries(batch(id, event.StatusDelivered), seq); err != nil {
			b.Fatal(err)
		}
	}
}
