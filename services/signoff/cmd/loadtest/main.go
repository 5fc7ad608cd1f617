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
	fs.StringVar(&memProfileFile, "memprofile", "", "write the product's allocation profile (pprof allocs, after the run) to this file")
	if err := fs.Parse(args); err != nil {
		return err
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
	fmt.Fprintln(stdout, tableHeader)
	for _, sc := range scenarios {
		r, err := measure(ctx, *bin, sc, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
		fmt.Fprintln(stdout, r.row())
	}
	return nil
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
