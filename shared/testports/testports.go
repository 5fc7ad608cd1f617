// Package testports gives tests loopback TCP ports to name before the
// program that listens on them starts: a cluster's route ports, or the
// listen address in a child process's configuration.
//
// The usual way, listening on port 0 and closing the listener, takes a
// port from the kernel's ephemeral range, where every outgoing connection
// of every process on the machine also takes its local port. Between the
// close and the program's listen, a connection made by another test (go
// test runs packages in parallel) can take that port, and the program
// fails to listen. testports picks ports below the ephemeral range, which
// the kernel never hands out on its own, at random, and checks that each is
// free now. Only another test that picked the same port at random can take
// it in between. Within one test binary, no port is handed out twice.
package testports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// below is the width of the range under the ephemeral ports that ports are
// picked from.
const below = 12000

// Free returns n distinct loopback TCP ports that are free now and are not
// in the ephemeral range.
func Free(t testing.TB, n int) []int {
	t.Helper()
	eph := ephemeralStart()
	ports, err := free(n, max(eph-below, 1024), eph)
	if err != nil {
		t.Fatalf("testports: %v", err)
	}
	return ports
}

// Addr returns one free loopback address, such as "127.0.0.1:23456".
func Addr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(Free(t, 1)[0]))
}

// given are the ports handed out in this process: two calls never return
// the same port, even if the first one's is not listened on yet.
var given = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// free picks n free ports in [lo, hi) that were not handed out before.
func free(n, lo, hi int) ([]int, error) {
	given.Lock()
	defer given.Unlock()
	if hi-lo < 2*n {
		return nil, fmt.Errorf("no room for %d ports in [%d, %d)", n, lo, hi)
	}
	ports := make([]int, 0, n)
	taken := map[int]bool{}
	for tries := 0; len(ports) < n; tries++ {
		if tries == 100*n {
			return nil, fmt.Errorf("found %d free ports of %d in [%d, %d)", len(ports), n, lo, hi)
		}
		p := lo + rand.IntN(hi-lo)
		if taken[p] || given.ports[p] {
			continue
		}
		taken[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // in use
		}
		if err := ln.Close(); err != nil {
			return nil, fmt.Errorf("closing port %d: %w", p, err)
		}
		ports = append(ports, p)
	}
	for _, p := range ports {
		given.ports[p] = true
	}
	return ports, nil
}

// ephemeralStart is the first port of the kernel's ephemeral range: Linux
// says where; elsewhere, the IANA range's start.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 49152
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 49152
	}
	p, err := strconv.Atoi(f[0])
	if err != nil || p <= 1024 {
		return 49152
	}
	return p
}
