// Command loadtest drives the real end-session flow through a real signoff
// all-in-one process and K real back-channel receivers that verify every
// logout token, and reports logouts per second, the product's own CPU time
// per logout (from its /proc stat, apart from this tool's), browser-visible
// latency (first request to the final redirect) and propagation latency
// (until every client has its valid token).
//
//	go build -o bin/signoff ./services/signoff
//	go run ./services/signoff/cmd/loadtest -signoff bin/signoff -k 10 -alg ES256 -n 300
//
// With -baseline it compares two binaries: each scenario runs -rounds
// times on each, alternating (baseline, candidate, candidate, baseline,
// ...) so that a machine whose speed drifts favours neither, and it
// reports the median of the per-round CPU ratios.
//
// With -sizing 10000,50000 it measures instead the product's resident
// memory, Go heap and store_dir per live and per ended session (sizing.go).
//
// It only talks to 127.0.0.1, and every loop is bounded in count and time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// scenario is one measured run.
type scenario struct {
	K           int
	Alg         string
	Delay       time.Duration // every receiver answers after Delay
	Hang        int           // this many receivers never answer
	FailPercent int           // this share of answers are 500
	N           int           // logouts
	Concurrency int           // browsers at once
}

func (s scenario) String() string {
	d := fmt.Sprintf("K=%d %s", s.K, s.Alg)
	if s.Delay > 0 {
		d += fmt.Sprintf(", answers after %s", s.Delay)
	}
	if s.Hang > 0 {
		d += fmt.Sprintf(", %d of %d hang", s.Hang, s.K)
	}
	if s.FailPercent > 0 {
		d += fmt.Sprintf(", %d%% of answers 500", s.FailPercent)
	}
	return d
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("signoff", "bin/signoff", "the signoff binary to measure")
	baseline := fs.String("baseline", "", "a second signoff binary to compare -signoff with, round by round")
	rounds := fs.Int("rounds", 4, "with -baseline: runs of each scenario on each binary")
	matrix := fs.Bool("matrix", false, "run the benchmark matrix of docs/benchmarks.md")
	var s scenario
	fs.IntVar(&s.K, "k", 10, "back-channel clients per session")
	fs.StringVar(&s.Alg, "alg", "ES256", "logout token algorithm: RS256, ES256 or EdDSA")
	fs.DurationVar(&s.Delay, "delay", 0, "receivers answer after this delay")
	fs.IntVar(&s.Hang, "hang", 0, "receivers that never answer")
	fs.IntVar(&s.FailPercent, "fail", 0, "percent of answers that are 500")
	fs.IntVar(&s.N, "n", 300, "logouts")
	fs.IntVar(&s.Concurrency, "c", 4, "concurrent browsers")
	fs.StringVar(&profileFile, "cpuprofile", "", "write a CPU profile of the product's logout phase to this file")
	sizing := fs.String("sizing", "", "comma-separated session counts (10000,50000): measure the product's memory and disk per session instead of logouts (docs/benchmarks.md, Memory per session); -k defaults to 3")
	settle := fs.Duration("settle", 15*time.Second, "with -sizing: wait this long before each snapshot")
	profiles := fs.String("profiles", "", "with -sizing: write each snapshot's heap profile into this directory")
	fs.StringVar(&memProfileFile, "memprofile", "", "write the product's heap profile (every allocation, after a garbage collection) after the logouts to this file, and before them to this file.before")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sizing != "" {
		ns, err := parseCounts(*sizing)
		if err != nil {
			return err
		}
		o := sizingOptions{ns: ns, k: 3, alg: s.Alg, concurrency: max(s.Concurrency, 1), settle: *settle, profiles: *profiles}
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "k" {
				o.k = s.K
			}
		})
		return runSizing(ctx, *bin, o, stdout, stderr)
	}
	if profileFile != "" || memProfileFile != "" {
		addr, err := freePort()
		if err != nil {
			return err
		}
		pprofAddr = addr
	}
	scenarios := []scenario{s}
	if *matrix {
		scenarios = benchMatrix(s.N)
	}
	rsa := bareRSA()
	fmt.Fprintf(stdout, "bare RSA-2048 signature here: %.3f ms of CPU (10 of them: %.2f ms)\n\n",
		float64(rsa)/float64(time.Millisecond), float64(10*rsa)/float64(time.Millisecond))
	if *baseline != "" {
		return compare(ctx, *baseline, *bin, scenarios, max(*rounds, 1), stdout, stderr)
	}
	fmt.Fprintln(stdout, tableHeader)
	var notes []string
	for _, sc := range scenarios {
		r, err := measure(ctx, *bin, sc, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
		fmt.Fprintln(stdout, r.row())
		if n := r.footnote(); n != "" {
			notes = append(notes, n)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(stdout, "\n%s\n", strings.Join(notes, "\n"))
	}
	return nil
}

// compare runs every scenario rounds times on the baseline and on the
// candidate binary, alternating, and prints every run and then the
// medians: the candidate's CPU per logout over the baseline's, per round.
func compare(ctx context.Context, baseline, candidate string, scenarios []scenario, rounds int, stdout, stderr io.Writer) error {
	// The table with a first column more: the binary.
	fmt.Fprintln(stdout, "| binary "+strings.Replace(tableHeader, "\n|", "\n|---|", 1))
	type pair struct{ base, cand *result }
	for _, sc := range scenarios {
		var runs []pair
		for i := range rounds {
			order := []string{baseline, candidate}
			if i%2 == 1 {
				order = []string{candidate, baseline}
			}
			var p pair
			for _, bin := range order {
				r, err := measure(ctx, bin, sc, stderr)
				if err != nil {
					return fmt.Errorf("%s with %s: %w", sc, bin, err)
				}
				label := "candidate"
				if bin == baseline {
					label, p.base = "baseline", r
				} else {
					p.cand = r
				}
				fmt.Fprintf(stdout, "| %s %s\n", label, r.row())
			}
			runs = append(runs, p)
		}
		ratios := make([]float64, len(runs))
		for i, p := range runs {
			ratios[i] = float64(p.cand.cpu) / float64(p.base.cpu)
		}
		fmt.Fprintf(stdout, "\n%s: candidate CPU per logout / baseline's, per round: %s; median %.3f\n\n",
			sc, formatRatios(ratios), median(ratios))
	}
	return nil
}

func formatRatios(rs []float64) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = fmt.Sprintf("%.3f", r)
	}
	return strings.Join(s, " ")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func benchMatrix(n int) []scenario {
	c := 4
	return []scenario{
		{K: 1, Alg: "ES256", N: n, Concurrency: c},
		{K: 10, Alg: "ES256", N: n, Concurrency: c},
		{K: 10, Alg: "EdDSA", N: n, Concurrency: c},
		{K: 10, Alg: "RS256", N: n, Concurrency: c},
		{K: 50, Alg: "ES256", N: n / 3, Concurrency: c},
		{K: 1, Alg: "ES256", Delay: 50 * time.Millisecond, N: n, Concurrency: c},
		{K: 10, Alg: "ES256", Delay: 50 * time.Millisecond, N: n, Concurrency: c},
		{K: 50, Alg: "ES256", Delay: 50 * time.Millisecond, N: n / 3, Concurrency: c},
		{K: 10, Alg: "ES256", Hang: 1, N: n, Concurrency: c},
		{K: 10, Alg: "ES256", FailPercent: 20, N: n, Concurrency: c},
	}
}

// deadline bounds one scenario.
const deadline = 4 * time.Minute
