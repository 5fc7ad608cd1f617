package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// printSnapshots prints every run's snapshots, one row per phase.
func printSnapshots(w io.Writer, runs []sizingRun) {
	fmt.Fprintln(w, "| sessions | phase | in the index | RSS | peak RSS | Go heap in use | live objects | of which NATS server | of which session index | of which rest | store_dir on disk |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		for i, s := range r.snaps {
			fmt.Fprintf(w, "| %d | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.n, sizingPhases[i], s.sessions,
				mib(s.rss), mib(s.peakRSS), mib(s.heapInuse), mib(s.heapAlloc), mib(s.nats), mib(s.index), mib(s.rest), mib(s.store))
		}
	}
}

// printPerSession prints, for each phase after fresh, the slope of each
// measure over the runs' session counts: bytes per session. With one run
// it is the difference from the run's own fresh snapshot.
func printPerSession(w io.Writer, runs []sizingRun) {
	fmt.Fprintln(w, "| bytes per session | RSS | Go heap in use | live objects | NATS server | session index | rest | store_dir on disk |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	measures := []func(snapshot) int64{
		func(s snapshot) int64 { return s.rss },
		func(s snapshot) int64 { return s.heapInuse },
		func(s snapshot) int64 { return s.heapAlloc },
		func(s snapshot) int64 { return s.nats },
		func(s snapshot) int64 { return s.index },
		func(s snapshot) int64 { return s.rest },
		func(s snapshot) int64 { return s.store },
	}
	for phase := 1; phase < len(sizingPhases); phase++ {
		row := "| " + sizingPhases[phase]
		for _, m := range measures {
			row += fmt.Sprintf(" | %.0f", perSession(runs, phase, m))
		}
		fmt.Fprintln(w, row+" |")
	}
}

// printPerStream prints the store_dir's bytes per session by stream, as
// printPerSession does for the whole.
func printPerStream(w io.Writer, runs []sizingRun) {
	var names []string
	for _, r := range runs {
		for _, sn := range r.snaps {
			for name := range sn.streams {
				if !slices.Contains(names, name) {
					names = append(names, name)
				}
			}
		}
	}
	slices.Sort(names)
	fmt.Fprintln(w, "| store_dir bytes per session | "+strings.Join(names, " | ")+" |")
	fmt.Fprintln(w, "|---"+strings.Repeat("|---:", len(names))+"|")
	for phase := 1; phase < len(sizingPhases); phase++ {
		row := "| " + sizingPhases[phase]
		for _, name := range names {
			row += fmt.Sprintf(" | %.0f", perSession(runs, phase, func(s snapshot) int64 { return s.streams[name] }))
		}
		fmt.Fprintln(w, row+" |")
	}
}

// perSession is the slope of measure m over the runs' session counts in
// the given phase; with one run, over that run's fresh snapshot and this
// phase's.
func perSession(runs []sizingRun, phase int, m func(snapshot) int64) float64 {
	var xs, ys []float64
	for _, r := range runs {
		xs = append(xs, float64(r.n))
		ys = append(ys, float64(m(r.snaps[phase])))
		if len(runs) == 1 {
			xs = append(xs, 0)
			ys = append(ys, float64(m(r.snaps[0])))
		}
	}
	return slope(xs, ys)
}

// slope is the least-squares slope of y over x; 0 when x does not vary.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// mib formats b bytes in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
