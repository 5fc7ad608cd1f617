package testports

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePortsAreBelowTheEphemeralRangeAndFree(t *testing.T) {
	eph := ephemeralStart()
	ports := Free(t, 20)
	seen := map[int]bool{}
	for _, p := range ports {
		if p >= eph || p < eph-below || p < 1024 {
			t.Errorf("port %d outside [%d, %d)", p, eph-below, eph)
		}
		if seen[p] {
			t.Errorf("port %d given twice", p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d is not free: %v", p, err)
			continue
		}
		ln.Close()
	}
}

func TestFreeSkipsPortsInUse(t *testing.T) {
	// Occupy every port of a small range but one: free must find that one.
	lo := Free(t, 1)[0] &^ 7
	forget()
	hi := lo + 8
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for p := lo; p < hi; p++ {
		if p == lo+7 {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Skipf("port %d is in use by someone else: %v", p, err)
		}
		held = append(held, ln)
	}
	got, err := free(1, lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != lo+7 {
		t.Fatalf("got port %d, want the only free one, %d", got[0], lo+7)
	}
}

// Ports handed out are not handed out again in the same process, though
// nothing listens on them yet.
func TestFreeNeverRepeats(t *testing.T) {
	forget()
	const lo = 20000
	first, err := free(4, lo, lo+8)
	if err != nil {
		t.Skipf("ports in use by someone else: %v", err)
	}
	second, err := free(4, lo, lo+8)
	if err != nil {
		t.Skipf("ports in use by someone else: %v", err)
	}
	for _, p := range second {
		for _, q := range first {
			if p == q {
				t.Fatalf("port %d handed out twice: %v then %v", p, first, second)
			}
		}
	}
	if _, err := free(1, lo, lo+8); err == nil {
		t.Fatal("a ninth port out of eight")
	}
}

// forget lets this package's tests start over with every port.
func forget() {
	given.Lock()
	defer given.Unlock()
	clear(given.ports)
}
