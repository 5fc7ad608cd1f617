package http1_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/http1"
)

// After n exchanges at once, the pool keeps MaxIdlePerHost of their n
// connections and closes the others: n more exchanges at once reuse
// MaxIdlePerHost connections and dial the rest.
func TestIdlePerHostBound(t *testing.T) {
	const n, perHost = 5, 2
	arrived, release := make(chan struct{}, 2*n), make(chan struct{}, 2*n)
	r := newReceiver(t, func(_ http.ResponseWriter, req *http.Request) {
		arrived <- struct{}{}
		select { // until all n are here, each on a connection of its own
		case <-release:
		case <-req.Context().Done():
		}
	})
	tr := &http1.Transport{MaxIdlePerHost: perHost}
	defer tr.CloseIdleConnections()
	atOnce := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				resp, err := post(t, tr, context.Background(), r.URL, "x=1")
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		for range n {
			select {
			case <-arrived:
			case err := <-errs:
				t.Fatal(err)
			case <-time.After(10 * time.Second):
				t.Fatal("the exchanges did not reach the receiver at once within 10 s")
			}
		}
		for range n {
			release <- struct{}{}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	atOnce()
	require.EqualValues(t, n, r.accepted.Load())
	atOnce()
	assert.EqualValues(t, n+n-perHost, r.accepted.Load(), "%d connections kept and reused", perHost)
}

// An idle connection older than IdleTimeout is not reused, even before
// the janitor has closed it: the request dials anew.
func TestExpiredIdleConnectionIsNotReused(t *testing.T) {
	r := newReceiver(t, nil)
	tr := &http1.Transport{IdleTimeout: time.Minute} // no sweep during the test
	defer tr.CloseIdleConnections()
	answer(t, tr, r.URL, "x=1")
	tr.AgeIdle(time.Minute)
	status, _, _ := answer(t, tr, r.URL, "x=2")
	assert.Equal(t, 200, status)
	require.EqualValues(t, 2, r.accepted.Load(), "a new connection")
	waitClosed(t, r, "the expired connection is closed")
}

// The janitor keeps running while connections are idle: a connection that
// is too young for its first sweep is closed by a later one.
func TestJanitorSweepsAgain(t *testing.T) {
	r := newReceiver(t, nil)
	const idle = 200 * time.Millisecond
	tr := &http1.Transport{IdleTimeout: idle}
	defer tr.CloseIdleConnections()
	answer(t, tr, r.URL, "x=1") // the first sweep is due in 200 ms
	// As if the connection had been used again 100 ms later: the first
	// sweep keeps it (unless it came more than 100 ms late).
	tr.AgeIdle(-idle / 2)
	waitClosed(t, r, "a later sweep closes the connection")
}

// CloseIdleConnections closes the Fallback's idle connections too.
func TestCloseIdleConnectionsClosesTheFallbacks(t *testing.T) {
	r := newReceiver(t, nil)
	tr := &http1.Transport{Fallback: &http.Transport{}}
	req, err := http.NewRequest(http.MethodPost, r.URL, io.NopCloser(strings.NewReader("x=1"))) // unknown length: the fallback's
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body) // at EOF, net/http has put the connection back in its pool
	resp.Body.Close()
	require.Len(t, r.requests(), 1)

	tr.CloseIdleConnections()
	waitClosed(t, r, "the fallback's idle connection is closed")
}
