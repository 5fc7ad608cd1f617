package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// heapProfile is what -sizing reads from the product's heap profile in
// its text form (/debug/pprof/heap?debug=1): the runtime's MemStats,
// and the bytes in use estimated from the samples, by whose code
// allocated them.
type heapProfile struct {
	memStats map[string]int64 // "HeapInuse", "HeapAlloc", ... as printed
	inUse    map[string]int64 // owner (ownerNATS, ...) -> bytes in use
}

// The owners of heap bytes, by the first rule that matches a frame of
// the allocation's stack.
const (
	ownerNATS  = "NATS server"   // the embedded nats-server
	ownerIndex = "session index" // go-memdb, its radix trees and the front's index package
	ownerRest  = "rest"          // everything else: the front, the workers, the NATS client, Go
)

// owner tells who is behind an allocation from its stack's function
// names, innermost first. The embedded server comes first: it allocates
// for what the front stores, not the other way round.
func owner(funcs []string) string {
	for _, f := range funcs {
		if strings.HasPrefix(f, "github.com/nats-io/nats-server/") {
			return ownerNATS
		}
	}
	for _, f := range funcs {
		if strings.HasPrefix(f, "github.com/hashicorp/go-memdb") ||
			strings.HasPrefix(f, "github.com/hashicorp/go-immutable-radix") ||
			strings.HasPrefix(f, "github.com/signoff/signoff/services/front/internal/index.") {
			return ownerIndex
		}
	}
	return ownerRest
}

// parseHeapProfile reads a heap profile written with debug=1 by
// runtime/pprof: a header with the sampling rate, then one record per
// stack ("inuse_objects: inuse_bytes [alloc_objects: alloc_bytes] @
// addresses", then a "#\taddr\tfunc+off\tfile:line" line per frame), then
// "# Name = value" lines of runtime.MemStats. The records' counts are the
// samples' own: like pprof, this scales them up by the probability that an
// allocation of their average size was sampled.
func parseHeapProfile(r io.Reader) (*heapProfile, error) {
	p := &heapProfile{memStats: map[string]int64{}, inUse: map[string]int64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading the heap profile: %w", err)
		}
		return nil, errors.New("reading the heap profile: empty")
	}
	var rate int64
	header := sc.Text()
	if i := strings.LastIndex(header, "@ heap/"); !strings.HasPrefix(header, "heap profile:") || i < 0 {
		return nil, fmt.Errorf("reading the heap profile: unexpected header %q", header)
	} else if v, err := strconv.ParseInt(header[i+len("@ heap/"):], 10, 64); err != nil {
		return nil, fmt.Errorf("reading the heap profile's sampling rate: %w", err)
	} else {
		rate = v / 2 // runtime/pprof prints twice MemProfileRate
	}
	var objects, bytes int64 // the current record's, until its frames are read
	var funcs []string
	inRecord := false
	flush := func() {
		if inRecord {
			_, b := scaleHeapSample(objects, bytes, rate)
			p.inUse[owner(funcs)] += b
		}
		inRecord, funcs = false, funcs[:0]
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#\t"):
			// A frame: "#\t0x4a5b6c\tpkg.Func+0x2c\t/file.go:12", with
			// more tabs where a tabwriter aligned the columns.
			if f := strings.Fields(line); inRecord && len(f) >= 3 {
				name, _, _ := strings.Cut(f[2], "+0x")
				funcs = append(funcs, name)
			}
		case strings.HasPrefix(line, "# ") && strings.Contains(line, " = "):
			flush()
			name, value, _ := strings.Cut(strings.TrimPrefix(line, "# "), " = ")
			if v, err := strconv.ParseInt(value, 10, 64); err == nil {
				p.memStats[name] = v
			}
		case !strings.HasPrefix(line, "#") && strings.Contains(line, "] @"):
			flush()
			if _, err := fmt.Sscanf(line, "%d: %d [", &objects, &bytes); err != nil {
				return nil, fmt.Errorf("reading a heap profile record %q: %w", line, err)
			}
			inRecord = true
		default:
			flush()
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the heap profile: %w", err)
	}
	if _, ok := p.memStats["HeapInuse"]; !ok {
		return nil, errors.New("reading the heap profile: no HeapInuse among its MemStats")
	}
	return p, nil
}

// scaleHeapSample is runtime/pprof's: a sampled allocation of size s
// stands for 1/(1-exp(-s/rate)) of them.
func scaleHeapSample(count, size, rate int64) (int64, int64) {
	if count == 0 || size == 0 {
		return 0, 0
	}
	if rate <= 1 {
		return count, size
	}
	avg := float64(size) / float64(count)
	scale := 1 / (1 - math.Exp(-avg/float64(rate)))
	return int64(float64(count) * scale), int64(float64(size) * scale)
}
