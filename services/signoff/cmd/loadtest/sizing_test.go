package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heapText is a heap profile as runtime/pprof writes it with debug=1
// (its tabwriter pads the frames' columns with tabs), cut short: one
// record per owner, at a sampling rate of 512 KiB.
const heapText = "heap profile: 3: 1572864 [9: 4718592] @ heap/1048576\n" +
	"1: 524288 [3: 1572864] @ 0x1 0x2\n" +
	"#\t0x1\t\tgithub.com/nats-io/nats-server/v2/server.(*msgBlock).loadBlock+0x1f\t/x/filestore.go:1\n" +
	"#\t0x2\t\tgithub.com/nats-io/nats-server/v2/server.(*fileStore).load+0x2\t/x/filestore.go:2\n" +
	"\n" +
	"2: 256 [2: 256] @ 0x3 0x4\n" +
	"#\t0x3\t\tgithub.com/hashicorp/go-immutable-radix.(*Txn).insert+0x3\t/x/iradix.go:3\n" +
	"#\t0x4\t\tgithub.com/signoff/signoff/services/front/internal/sessions.(*Service).Join+0x4\t/x/sessions.go:4\n" +
	"\n" +
	"1: 1048576 [4: 3145472] @ 0x5\n" +
	"#\t0x5\t\tgithub.com/nats-io/nats.go.(*Conn).readLoop+0x5\t/x/nats.go:5\n" +
	"\n" +
	"\n# runtime.MemStats\n" +
	"# Alloc = 1573120\n" +
	"# HeapAlloc = 1573120\n" +
	"# HeapInuse = 2097152\n" +
	"# Stack = 65536 / 65536\n" +
	"# GCCPUFraction = 0.001\n"

func TestParseHeapProfile(t *testing.T) {
	p, err := parseHeapProfile(strings.NewReader(heapText))
	require.NoError(t, err)
	assert.Equal(t, int64(2097152), p.memStats["HeapInuse"])
	assert.Equal(t, int64(1573120), p.memStats["HeapAlloc"])
	// 512 KiB objects were sampled with probability 1-1/e; two of 128 B
	// stand for about 4096 times as many.
	assert.InDelta(t, 524288/(1-0.36787944), p.inUse[ownerNATS], 1)
	assert.InDelta(t, 256*4096.5, p.inUse[ownerIndex], 2)
	assert.InDelta(t, 1048576/(1-0.13533528), p.inUse[ownerRest], 2)
}

func TestParseHeapProfileRefusesOtherText(t *testing.T) {
	for _, text := range []string{"", "404 page not found\n", "heap profile: 0: 0 [0: 0] @ heap/1048576\n"} {
		_, err := parseHeapProfile(strings.NewReader(text))
		assert.Error(t, err, "%q", text)
	}
}

func TestOwner(t *testing.T) {
	tests := []struct {
		name  string
		funcs []string
		want  string
	}{
		{"server under the front", []string{"github.com/nats-io/nats-server/v2/server.(*stream).processJetStreamMsg",
			"github.com/signoff/signoff/services/front/internal/index.(*Index).ApplyJoined"}, ownerNATS},
		{"memdb", []string{"github.com/hashicorp/go-memdb.(*Txn).Insert", "main.main"}, ownerIndex},
		{"the index package", []string{"github.com/signoff/signoff/services/front/internal/index.(*Index).ApplyEnded"}, ownerIndex},
		{"the NATS client", []string{"github.com/nats-io/nats.go.(*Conn).processMsg"}, ownerRest},
		{"no frames", nil, ownerRest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, owner(tc.funcs))
		})
	}
}

func TestSlope(t *testing.T) {
	assert.InDelta(t, 4000, slope([]float64{10000, 50000, 100000}, []float64{50e6, 210e6, 410e6}), 1e-6)
	assert.InDelta(t, 2, slope([]float64{1, 2, 3}, []float64{1, 6, 5}), 1e-9)
	assert.Zero(t, slope([]float64{5, 5}, []float64{1, 2}))
}

func TestParseCounts(t *testing.T) {
	ns, err := parseCounts("10000, 50000,100000")
	require.NoError(t, err)
	assert.Equal(t, []int{10000, 50000, 100000}, ns)
	for _, bad := range []string{"", "10k", "0", "1,,2", "-5"} {
		_, err := parseCounts(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tsignoff\nVmPeak:\t 2000000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\nThreads:\t12\n"
	rss, peak, err := parseStatus(strings.NewReader(status))
	require.NoError(t, err)
	assert.Equal(t, int64(100000*1024), rss)
	assert.Equal(t, int64(123456*1024), peak)
	_, _, err = parseStatus(strings.NewReader("Name:\tsignoff\n"))
	assert.Error(t, err)
}

func TestGauge(t *testing.T) {
	text := "# HELP signoff_index_sessions sessions\n# TYPE signoff_index_sessions gauge\n" +
		"signoff_index_sessions_total 7\nsignoff_index_sessions 100000\n"
	v, err := gauge(text, "signoff_index_sessions")
	require.NoError(t, err)
	assert.Equal(t, int64(100000), v)
	_, err = gauge(text, "signoff_other")
	assert.Error(t, err)
}

// TestPerSession: over several runs, the slope of a phase's snapshots;
// with one run, the difference from its own fresh snapshot.
func TestPerSession(t *testing.T) {
	run := func(n int, fresh, live int64) sizingRun {
		return sizingRun{n: n, snaps: []snapshot{
			{rss: fresh, streams: map[string]int64{"S": 0}},
			{rss: live, streams: map[string]int64{"S": int64(n) * 700}},
		}}
	}
	rss := func(s snapshot) int64 { return s.rss }
	stream := func(s snapshot) int64 { return s.streams["S"] }
	runs := []sizingRun{run(10000, 36e6, 36e6+10000*11000), run(50000, 37e6, 37e6+50000*11000)}
	assert.InDelta(t, 11025, perSession(runs, 1, rss), 1e-6)
	assert.InDelta(t, 700, perSession(runs, 1, stream), 1e-6)
	assert.InDelta(t, 11000, perSession(runs[:1], 1, rss), 1e-6)
}
