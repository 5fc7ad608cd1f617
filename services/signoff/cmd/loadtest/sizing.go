package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// With -sizing, the tool measures what sessions cost the all-in-one
// process in memory and on disk, for operators who size it
// (docs/benchmarks.md, "Memory per session"). For each session count N,
// against a fresh product with K back-channel clients (receivers that
// answer 204 at once) and a new store_dir, it takes a snapshot of the
// process:
//
//  1. fresh: ready, no sessions;
//  2. live: after N sessions with K participations each (PUT);
//  3. ended: after every session was ended (DELETE) and the index shows
//     every back-channel delivery of every session delivered;
//  4. restarted: after a restart on the same store_dir, once ready (the
//     index rebuilt from the streams).
//
// A snapshot waits -settle first (nats-server drops a file block's cache
// 10 s after its last use), forces a garbage collection through the
// product's pprof endpoint and reads its heap profile, then VmRSS and
// VmHWM from /proc and the size of the store_dir on disk. The cost of a
// session is the slope of a line fitted through the runs' snapshots of the
// same phase, so what every process has (the runtime, the server, the
// caches) does not count.
//
// This file runs the measurement; sizing_readings.go reads the product
// (its API, metrics, /proc and store_dir), heap.go its heap profile, and
// sizing_report.go prints the tables.

// sizingPhases are the snapshots of one run, in order.
var sizingPhases = []string{"fresh", "live", "ended", "restarted"}

// snapshot is the product's memory and disk at one moment.
type snapshot struct {
	rss, peakRSS         int64            // VmRSS and VmHWM (peak since the process started)
	heapInuse, heapAlloc int64            // runtime.MemStats right after a forced collection
	nats, index, rest    int64            // heap in use by owner, estimated from the profile's samples
	sessions             int64            // signoff_index_sessions
	store                int64            // bytes allocated on disk under the store_dir
	streams              map[string]int64 // the same, per stream directory
}

// sizingRun is one session count's four snapshots.
type sizingRun struct {
	n       int
	snaps   []snapshot // in the order of sizingPhases
	rebuild time.Duration
	joins   time.Duration // all the PUTs
	ends    time.Duration // all the DELETEs until every delivery settled
}

// sizingOptions are the flags of -sizing.
type sizingOptions struct {
	ns          []int
	k           int
	alg         string
	concurrency int
	settle      time.Duration
	profiles    string // a directory for each snapshot's heap profile, or ""
}

// parseCounts reads -sizing's comma-separated session counts.
func parseCounts(s string) ([]int, error) {
	var ns []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-sizing: %q is not a positive session count", f)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// runSizing measures every session count of o and prints the snapshots
// and the cost per session.
func runSizing(ctx context.Context, bin string, o sizingOptions, stdout, logs io.Writer) error {
	addr, err := freePort()
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	pprofAddr = addr
	if o.profiles != "" {
		if err := os.MkdirAll(o.profiles, 0o755); err != nil {
			return fmt.Errorf("creating the profiles' directory: %w", err)
		}
	}
	fmt.Fprintf(stdout, "memory and disk per session: K=%d back-channel clients (%s), receivers answer 204; snapshots after %s and a forced GC\n\n",
		o.k, o.alg, o.settle)
	var runs []sizingRun
	for _, n := range o.ns {
		r, err := sizeOne(ctx, bin, o, n, logs)
		if err != nil {
			return fmt.Errorf("sizing with %d sessions: %w", n, err)
		}
		runs = append(runs, *r)
		fmt.Fprintf(stdout, "N=%d: %d PUTs in %.1f s, %d ended and settled in %.1f s, index rebuilt in %.1f s after the restart\n",
			n, n*o.k, r.joins.Seconds(), n, r.ends.Seconds(), r.rebuild.Seconds())
	}
	fmt.Fprintln(stdout)
	printSnapshots(stdout, runs)
	fmt.Fprintln(stdout)
	printPerSession(stdout, runs)
	fmt.Fprintln(stdout)
	printPerStream(stdout, runs)
	return nil
}

// sizeOne takes the four snapshots with n sessions.
func sizeOne(ctx context.Context, bin string, o sizingOptions, n int, logs io.Writer) (*sizingRun, error) {
	// Generous, but bounded: 100k sessions take a few minutes here.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute+time.Duration(n)*20*time.Millisecond)
	defer cancel()
	var delivered atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	dir, err := os.MkdirTemp("", "signoff-sizing-")
	if err != nil {
		return nil, fmt.Errorf("creating the product's directory: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg, addr, err := writeConfig(dir, scenario{K: o.k, Alg: o.alg}, recv.URL)
	if err != nil {
		return nil, err
	}
	p, err := launch(ctx, bin, cfg, dir, addr, logs, time.Minute)
	if err != nil {
		return nil, err
	}
	running := p
	defer func() {
		if running != nil {
			running.halt()
		}
	}()
	r := &sizingRun{n: n}
	snap := func() error {
		s, err := takeSnapshot(ctx, p, o, fmt.Sprintf("%d-%s", n, sizingPhases[len(r.snaps)]))
		if err != nil {
			return fmt.Errorf("taking the %s snapshot: %w", sizingPhases[len(r.snaps)], err)
		}
		r.snaps = append(r.snaps, *s)
		return nil
	}
	if err := snap(); err != nil {
		return nil, err
	}

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	api := func(method, path, body string, want int) error {
		req, err := http.NewRequestWithContext(ctx, method, p.base+path, strings.NewReader(body))
		if err != nil {
			return fmt.Errorf("building the request: %w", err)
		}
		req.Header.Set("Authorization", "Bearer loadtest")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("sending the request: %w", err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
		}
		return nil
	}
	sids := make([]string, n)
	for i := range sids {
		sids[i] = uuid()
	}
	start := time.Now()
	err = parallel(ctx, n, o.concurrency, func(i int) error {
		for c := range o.k {
			err := api(http.MethodPut, fmt.Sprintf("/api/v1/sessions/%s/clients/c%d", sids[i], c),
				fmt.Sprintf(`{"sub":"user-%06d"}`, i), http.StatusNoContent)
			if err != nil {
				return fmt.Errorf("recording a participation: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.joins = time.Since(start)
	if err := snap(); err != nil {
		return nil, err
	}

	start = time.Now()
	err = parallel(ctx, n, o.concurrency, func(i int) error {
		if err := api(http.MethodDelete, "/api/v1/sessions/"+sids[i], "", http.StatusAccepted); err != nil {
			return fmt.Errorf("ending a session: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := waitSettled(ctx, client, p.base, sids, o, &delivered); err != nil {
		return nil, err
	}
	r.ends = time.Since(start)
	if err := snap(); err != nil {
		return nil, err
	}

	p.halt()
	running = nil
	start = time.Now()
	if p, err = launch(ctx, bin, cfg, dir, addr, logs, 10*time.Minute); err != nil {
		return nil, fmt.Errorf("restarting: %w", err)
	}
	running = p
	r.rebuild = time.Since(start)
	if err := snap(); err != nil {
		return nil, err
	}
	return r, nil
}

// waitSettled waits until the receivers had every delivery, then until
// the index shows every session ended with its K back-channel deliveries
// delivered.
func waitSettled(ctx context.Context, client *http.Client, base string, sids []string, o sizingOptions, delivered *atomic.Int64) error {
	want := int64(len(sids) * o.k)
	for delivered.Load() < want {
		if err := sleepContext(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for the deliveries (%d of %d): %w", delivered.Load(), want, err)
		}
	}
	left := sids
	for len(left) > 0 {
		settled := make([]bool, len(left))
		err := parallel(ctx, len(left), o.concurrency, func(i int) error {
			ok, err := sessionSettled(ctx, client, base, left[i], o.k)
			settled[i] = ok
			return err
		})
		if err != nil {
			return fmt.Errorf("reading the sessions: %w", err)
		}
		var next []string
		for i, ok := range settled {
			if !ok {
				next = append(next, left[i])
			}
		}
		if left = next; len(left) > 0 {
			if err := sleepContext(ctx, 500*time.Millisecond); err != nil {
				return fmt.Errorf("waiting for %d sessions to settle in the index: %w", len(left), err)
			}
		}
	}
	return nil
}

// takeSnapshot waits o.settle, forces a garbage collection and reads the
// product's heap profile (written into o.profiles too, if set), its
// resident memory, the sessions in its index and its store_dir's usage.
func takeSnapshot(ctx context.Context, p *product, o sizingOptions, name string) (*snapshot, error) {
	if err := sleepContext(ctx, o.settle); err != nil {
		return nil, fmt.Errorf("waiting %s to settle: %w", o.settle, err)
	}
	if o.profiles != "" {
		// The profile for pprof -top, its own collection first.
		if err := writeProfile(ctx, allocsPath, filepath.Join(o.profiles, "heap-"+name+".pprof")); err != nil {
			return nil, err
		}
	}
	body, err := get(ctx, "http://"+pprofAddr+"/debug/pprof/heap?gc=1&debug=1", "")
	if err != nil {
		return nil, err
	}
	hp, err := parseHeapProfile(strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	s := &snapshot{heapInuse: hp.memStats["HeapInuse"], heapAlloc: hp.memStats["HeapAlloc"],
		nats: hp.inUse[ownerNATS], index: hp.inUse[ownerIndex], rest: hp.inUse[ownerRest]}
	if s.rss, s.peakRSS, err = residentMemory(p.cmd.Process.Pid); err != nil {
		return nil, err
	}
	metrics, err := get(ctx, p.base+"/metrics", "loadtest")
	if err != nil {
		return nil, err
	}
	if s.sessions, err = gauge(metrics, "signoff_index_sessions"); err != nil {
		return nil, err
	}
	if s.store, err = diskUsage(filepath.Join(p.dir, "nats")); err != nil {
		return nil, err
	}
	if s.streams, err = streamUsage(filepath.Join(p.dir, "nats")); err != nil {
		return nil, err
	}
	return s, nil
}

// uuid is a random version 4 UUID, the shape of most IdPs' sids.
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// sleepContext sleeps for d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
