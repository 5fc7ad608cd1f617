package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

const tableHeader = "| scenario | logouts | logouts/s | product CPU per logout | in RSA-2048 signatures | browser p50 | browser p99 | propagation p50 | propagation p99 | tokens verified | invalid |\n" +
	"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"

type result struct {
	s                  scenario
	rate               float64
	cpu                time.Duration
	rsa                time.Duration // one bare RSA-2048 signature, measured right after
	browser, propagate []time.Duration
	overshot           []time.Duration // the receivers' sleeps past their delay
	verified, invalid  int64
}

func (r *result) row() string {
	return fmt.Sprintf("| %s | %d | %.0f | %.2f ms | %.2f | %s | %s | %s | %s | %d | %d |",
		r.s, r.s.N, r.rate, float64(r.cpu)/float64(time.Millisecond), float64(r.cpu)/float64(r.rsa),
		pct(r.browser, 50), pct(r.browser, 99), pct(r.propagate, 50), pct(r.propagate, 99), r.verified, r.invalid)
}

// footnote says how late the receivers' sleeps woke, when they slept.
func (r *result) footnote() string {
	if len(r.overshot) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: the receivers' %v sleeps woke late by %s at p50, %s at p99 (this tool's jitter; "+
		"the propagation columns count the delay, not the wake-up)", r.s, r.s.Delay, pct(r.overshot, 50), pct(r.overshot, 99))
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "n/a"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	d := s[min(len(s)-1, (len(s)*p+99)/100-1)]
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// measure runs one scenario against a fresh signoff process.
func measure(ctx context.Context, bin string, s scenario, logs io.Writer) (*result, error) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	recv := newReceivers(s)
	defer recv.close()
	p, err := startProduct(ctx, bin, s, recv.srv.URL, logs)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	if err := recv.loadJWKS(p.base, p.base); err != nil {
		return nil, err
	}
	// The dev keys the product generated also sign ID tokens here: hints.
	ks, err := keys.Load(config.Keys{GenerateDir: filepath.Join(p.dir, "keys")}, []string{"RS256"}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// Sessions first: the IdP reports every client's participation.
	sids := make([]string, s.N)
	hints := make([]string, s.N)
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	err = parallel(ctx, s.N, 8, func(i int) error {
		sids[i] = fmt.Sprintf("lt-%s-%d", run, i)
		for c := range s.K {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPut,
				fmt.Sprintf("%s/api/v1/sessions/%s/clients/c%d", p.base, sids[i], c), strings.NewReader(fmt.Sprintf(`{"sub":"sub-c%d"}`, c)))
			req.Header.Set("Authorization", "Bearer loadtest")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				return fmt.Errorf("participation: HTTP %d", resp.StatusCode)
			}
		}
		now := time.Now()
		hints[i], err = ks.IDToken("RS256", p.base, "c0", "sub-c0", sids[i], now, now.Add(time.Hour))
		return err
	})
	if err != nil {
		return nil, err
	}

	// Then the logouts, C browsers at a time. (The profiles start first:
	// the allocation profile's garbage collection is not a logout's.)
	stopProfile := profile(ctx)
	defer stopProfile()
	cpu0, err := p.cpu()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	starts := make([]time.Time, s.N)
	browser := make([]time.Duration, s.N)
	err = parallel(ctx, s.N, s.Concurrency, func(i int) error {
		state := fmt.Sprintf("st-%d&x=<%%>", i)
		q := url.Values{"id_token_hint": {hints[i]}, "post_logout_redirect_uri": {recv.srv.URL + "/done"}, "state": {state}}
		starts[i] = time.Now()
		resp, err := client.Get(p.base + "/connect/endsession?" + q.Encode())
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		browser[i] = time.Since(starts[i])
		want := recv.srv.URL + "/done?state=" + url.QueryEscape(state)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			return fmt.Errorf("logout %d: HTTP %d to %q", i, resp.StatusCode, resp.Header.Get("Location"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Until every healthy client has every token.
	prop := make([]time.Duration, 0, s.N)
	end := start
	for _, i := range seq(s.N) {
		for {
			last, ok := recv.complete(sids[i])
			if ok {
				prop = append(prop, last.Sub(starts[i]))
				end = maxTime(end, last)
				break
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("logout %d never fully propagated", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	cpu1, err := p.cpu()
	if err != nil {
		return nil, err
	}
	stopProfile()
	recv.mu.Lock()
	verified := int64(len(recv.jtis))
	overshot := slices.Clone(recv.overshot) // late retries may still add to it
	recv.mu.Unlock()
	return &result{
		s: s, rate: float64(s.N) / end.Sub(start).Seconds(), cpu: (cpu1 - cpu0) / time.Duration(s.N), rsa: bareRSA(),
		browser: browser, propagate: prop, overshot: overshot, verified: verified, invalid: recv.invalid.Load(),
	}, nil
}

// profile takes a CPU profile of the product until the returned function
// is called, when -cpuprofile is set. With -memprofile, it writes the
// product's allocation profile (since its start) now, to the file's name
// with ".before", and again when the returned function is called: `go
// tool pprof -base FILE.before FILE` shows what the logouts allocated.
// Both are complete up to the moment they are taken (allocsPath).
func profile(ctx context.Context) func() {
	if profileFile == "" && memProfileFile == "" {
		return func() {}
	}
	if memProfileFile != "" {
		fetchProfile(ctx, allocsPath, memProfileFile+".before")
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if profileFile != "" {
			fetchProfile(ctx, "/debug/pprof/profile?seconds=8", profileFile)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			<-done
			if memProfileFile != "" {
				fetchProfile(ctx, allocsPath, memProfileFile)
			}
			cancel()
		})
	}
}

// allocsPath is the product's heap profile, which holds every allocation
// up to the moment it is asked for. The allocs profile is only as of the
// last garbage collection, and its endpoint ignores gc=1; the heap
// endpoint runs one first (its profile is the same, with another default
// sample type).
const allocsPath = "/debug/pprof/heap?gc=1"

// fetchProfile writes the product's pprof answer at path into file; a
// profile is a debugging aid, so failures are only reported.
func fetchProfile(ctx context.Context, path, file string) {
	if err := writeProfile(ctx, path, file); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest: profile:", err)
	}
}

// writeProfile is fetchProfile returning its error. An answer other than
// 200 is an error and leaves file alone: its body is not a profile.
func writeProfile(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprofAddr+path, nil)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching %s: HTTP %d", path, resp.StatusCode)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("writing the profile: %w", err)
	}
	_, err = io.Copy(f, resp.Body)
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("writing the profile %s: %w", file, err)
	}
	return nil
}

// parallel runs f(0..n-1) on c goroutines and returns the first error.
func parallel(ctx context.Context, n, c int, f func(int) error) error {
	next := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// bareRSA is the CPU time of one RSA-2048 PKCS#1 v1.5 signature here,
// the floor of an RS256 logout token and the unit that makes runs on
// machines of different speeds (or one machine at busier moments)
// comparable: the thread's own CPU time, so time stolen by the
// hypervisor or other processes is not in it.
func bareRSA() time.Duration {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0
	}
	digest := sha256.Sum256([]byte("signoff"))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const n = 200
	start := threadCPU()
	for range n {
		_, _ = rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
	}
	return (threadCPU() - start) / n
}

// threadCPU is the calling thread's user and system CPU time.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusageThread is Linux's RUSAGE_THREAD.
const rusageThread = 1
