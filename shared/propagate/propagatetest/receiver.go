package propagatetest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Receiver is a real HTTP server standing in for the clients: each client
// has its own path, answers by a script, and every request is checked by
// the worker's Check and recorded.
type Receiver struct {
	t   testing.TB
	srv *httptest.Server
	chk func(t testing.TB, r *http.Request, body []byte, clientID string) string

	mu       sync.Mutex
	script   map[string][]int         // client -> statuses to answer, in order; the last repeats
	hang     map[string]chan struct{} // client -> closed to stop hanging
	pass     map[string]int           // client -> requests still answered before it hangs
	requests map[string][]string      // client -> logout ids received, in order
}

func newReceiver(t testing.TB, chk func(testing.TB, *http.Request, []byte, string) string) *Receiver {
	r := &Receiver{t: t, chk: chk, script: map[string][]int{}, hang: map[string]chan struct{}{}, pass: map[string]int{}, requests: map[string][]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		r.mu.Lock()
		for _, ch := range r.hang {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
		r.mu.Unlock()
		r.srv.Close()
	})
	return r
}

// URL is the endpoint of one client.
func (r *Receiver) URL(clientID string) string { return r.srv.URL + "/c/" + clientID }

// Answer scripts the statuses that clientID answers, in order; the last
// one repeats.
func (r *Receiver) Answer(clientID string, statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script[clientID] = statuses
}

// Hang makes clientID hang until the returned function is called.
func (r *Receiver) Hang(clientID string) (release func()) { return r.HangAfter(clientID, 0) }

// HangAfter lets clientID answer its next n requests by its script, then
// makes it hang until the returned function is called; the requests that
// hang are answered by the script once released.
func (r *Receiver) HangAfter(clientID string, n int) (release func()) {
	ch := make(chan struct{})
	r.mu.Lock()
	r.hang[clientID], r.pass[clientID] = ch, n
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			delete(r.hang, clientID)
			delete(r.pass, clientID)
			r.mu.Unlock()
			close(ch)
		})
	}
}

// Requests returns the logout ids that clientID received, in order.
func (r *Receiver) Requests(clientID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests[clientID]...)
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	client := strings.TrimPrefix(req.URL.Path, "/c/")
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	logoutID := r.chk(r.t, req, body, client)
	r.mu.Lock()
	r.requests[client] = append(r.requests[client], logoutID)
	hang := r.hang[client]
	if r.pass[client] > 0 {
		r.pass[client]--
		hang = nil
	}
	status := http.StatusOK
	if s := r.script[client]; len(s) > 0 {
		status = s[0]
		if len(s) > 1 {
			r.script[client] = s[1:]
		}
	}
	r.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
			return
		case <-time.After(time.Minute):
		}
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	if status == http.StatusBadRequest {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"test says no"}`))
		return
	}
	w.WriteHeader(status)
}
