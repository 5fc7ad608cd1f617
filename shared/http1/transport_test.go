package http1_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/http1"
)

// receiver is a real HTTP server on loopback that records what it got and
// counts the connections it accepted and closed.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []string // method, URI, headers and body of each request
	accepted atomic.Int64
	closed   chan net.Conn
}

func newReceiver(t *testing.T, h http.HandlerFunc, configure ...func(*http.Server)) *receiver {
	t.Helper()
	r := &receiver{closed: make(chan net.Conn, 100)}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, fmt.Sprintf("%s %s ct=%s ua=%s len=%d body=%s",
			req.Method, req.RequestURI, req.Header.Get("Content-Type"), req.UserAgent(), req.ContentLength, b))
		r.mu.Unlock()
		if h != nil {
			h(w, req)
		}
	}))
	r.Config.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			r.accepted.Add(1)
		case http.StateClosed, http.StateHijacked:
			r.closed <- c
		}
	}
	for _, f := range configure {
		f(r.Config)
	}
	r.Start()
	t.Cleanup(r.Close)
	return r
}

// waitClosed waits until a connection to r has closed, and fails the test
// after 10 seconds instead of hanging it.
func waitClosed(t *testing.T, r *receiver, what string) {
	t.Helper()
	select {
	case <-r.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("no connection closed within 10 s: %s", what)
	}
}

func (r *receiver) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func post(t *testing.T, tr http.RoundTripper, ctx context.Context, u, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "test/1")
	return tr.RoundTrip(req)
}

// answer posts and returns the status, a header and the whole body.
func answer(t *testing.T, tr http.RoundTripper, u, body string) (int, http.Header, string) {
	t.Helper()
	resp, err := post(t, tr, context.Background(), u, body)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		status  int
		header  [2]string
		body    string
		chunked bool
	}{
		{"200 without a body", func(w http.ResponseWriter, r *http.Request) {}, 200, [2]string{}, "", false},
		{"204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, 204, [2]string{}, "", false},
		{"400 with a JSON error", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":"invalid_request"}`)
		}, 400, [2]string{"Content-Type", "application/json"}, `{"error":"invalid_request"}`, false},
		{"500 with Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(500)
		}, 500, [2]string{"Retry-After", "7"}, "", false},
		{"a chunked body", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "one,")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "two")
		}, 200, [2]string{}, "one,two", true},
		{"103 Early Hints, then 200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, "ok")
		}, 200, [2]string{"Link", "</style.css>; rel=preload"}, "ok", false},
		{"a redirect is an answer, never followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
		}, 302, [2]string{"Location", "https://elsewhere.example/"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, tc.handler)
			tr := &http1.Transport{}
			defer tr.CloseIdleConnections()
			for range 3 { // on one connection
				resp, err := post(t, tr, context.Background(), r.URL+"/logout?tenant=a%20b", "logout_token=abc")
				require.NoError(t, err)
				body, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, tc.status, resp.StatusCode)
				if tc.header[0] != "" {
					assert.Equal(t, tc.header[1], resp.Header.Get(tc.header[0]))
				}
				assert.Equal(t, tc.body, string(body))
				if tc.chunked {
					assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
				}
			}
			want := "POST /logout?tenant=a%20b ct=application/x-www-form-urlencoded ua=test/1 len=16 body=logout_token=abc"
			assert.Equal(t, []string{want, want, want}, r.requests())
			assert.EqualValues(t, 1, r.accepted.Load(), "connections")
		})
	}
}

// A receiver that closes an idle keep-alive connection (its idle timeout,
// a restart) must not make the next request fail: the transport notices
// and dials anew.
func TestReceiverClosesIdleConnections(t *testing.T) {
	r := newReceiver(t, nil, func(s *http.Server) { s.IdleTimeout = 20 * time.Millisecond })
	tr := &http1.Transport{}
	defer tr.CloseIdleConnections()
	for i := range 5 {
		status, _, _ := answer(t, tr, r.URL, "n="+fmt.Sprint(i))
		require.Equal(t, 200, status, "request %d", i)
		waitClosed(t, r, "the receiver closes the idle connection")
	}
	assert.EqualValues(t, 5, r.accepted.Load())
}

func TestReceiverAsksToClose(t *testing.T) {
	r := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Connection", "close") })
	tr := &http1.Transport{}
	for i := range 3 {
		status, _, _ := answer(t, tr, r.URL, "n="+fmt.Sprint(i))
		require.Equal(t, 200, status)
	}
	assert.EqualValues(t, 3, r.accepted.Load())
}

// rawReceiver answers every request on a new connection with answer, as
// is, and closes the connection: for answers net/http's server never
// writes.
func rawReceiver(t *testing.T, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_, _ = io.WriteString(c, answer)
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

// An answer without a length ends when the receiver closes the connection.
func TestAnswerUntilClose(t *testing.T) {
	u := rawReceiver(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
	tr := &http1.Transport{}
	for range 2 {
		status, _, body := answer(t, tr, u, "x=1")
		assert.Equal(t, 200, status)
		assert.Equal(t, "all of it", body)
	}
}

func TestInformationalAnswersAreBounded(t *testing.T) {
	hints := strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 5)
	final := "HTTP/1.1 204 No Content\r\n\r\n"
	status, _, _ := answer(t, &http1.Transport{}, rawReceiver(t, hints+final), "x=1")
	assert.Equal(t, 204, status)

	_, err := post(t, &http1.Transport{}, context.Background(), rawReceiver(t, hints+hints+final), "x=1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "informational")
}

func TestLongBodyClosedUnreadClosesTheConnection(t *testing.T) {
	long := strings.Repeat("x", 64<<10)
	r := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, long) })
	tr := &http1.Transport{}
	defer tr.CloseIdleConnections()
	for range 2 {
		resp, err := post(t, tr, context.Background(), r.URL, "x=1")
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close()) // 64 KiB left: not drained
	}
	assert.EqualValues(t, 2, r.accepted.Load())

	short := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "short") })
	for range 2 {
		resp, err := post(t, tr, context.Background(), short.URL, "x=1")
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close()) // drained, the connection kept
	}
	assert.EqualValues(t, 1, short.accepted.Load())
}

func TestTLS(t *testing.T) {
	r := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = fmt.Fprintf(w, "%s %q", req.Proto, req.TLS.NegotiatedProtocol)
	}))
	var accepted atomic.Int64
	r.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	r.EnableHTTP2 = true // the transport still speaks HTTP/1.1
	r.StartTLS()
	defer r.Close()
	// A configuration that offers h2 too: the transport asks for
	// http/1.1 alone all the same.
	cfg := r.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	tr := &http1.Transport{TLSConfig: cfg}
	defer tr.CloseIdleConnections()
	for range 3 {
		status, _, body := answer(t, tr, r.URL, "x=1")
		assert.Equal(t, 200, status)
		assert.Contains(t, []string{`HTTP/1.1 "http/1.1"`, `HTTP/1.1 ""`}, body)
	}
	assert.EqualValues(t, 1, accepted.Load())

	// A certificate the roots do not vouch for.
	_, err := post(t, &http1.Transport{}, context.Background(), r.URL, "x=1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TLS handshake")
}

func TestContextBoundsTheExchange(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t, func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	})
	defer close(release)
	tr := &http1.Transport{}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := post(t, tr, ctx, r.URL, "x=1")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = post(t, tr, ctx, r.URL, "x=1")
	require.ErrorIs(t, err, context.Canceled)

	// Without a deadline in the context, RequestTimeout.
	tr = &http1.Transport{RequestTimeout: 50 * time.Millisecond}
	_, err = post(t, tr, context.Background(), r.URL, "x=1")
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "%v", err)
}

func TestHeadersTooLarge(t *testing.T) {
	r := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("b", 8<<10))
	})
	_, err := post(t, &http1.Transport{MaxResponseHeaderBytes: 4 << 10}, context.Background(), r.URL, "x=1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "headers are too large")

	status, h, _ := answer(t, &http1.Transport{}, r.URL, "x=1")
	assert.Equal(t, 200, status)
	assert.Len(t, h.Get("X-Big"), 8<<10)
}

func TestRefusesToSplitTheRequest(t *testing.T) {
	r := newReceiver(t, nil)
	for name, set := range map[string]func(*http.Request){
		"CRLF in a value":   func(req *http.Request) { req.Header["X-A"] = []string{"a\r\nX-Injected: 1"} },
		"LF in a value":     func(req *http.Request) { req.Header["X-A"] = []string{"a\nb"} },
		"colon in a name":   func(req *http.Request) { req.Header["X-A: b"] = []string{"c"} },
		"NUL in a value":    func(req *http.Request) { req.Header["X-A"] = []string{"a\x00"} },
		"CRLF in the host":  func(req *http.Request) { req.Host = "a\r\nX-Injected: 1" },
		"space in a method": func(req *http.Request) { req.Method = "POST /x HTTP/1.1\r\n" },
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, r.URL, strings.NewReader("x=1"))
			require.NoError(t, err)
			set(req)
			_, err = (&http1.Transport{}).RoundTrip(req)
			require.Error(t, err)
		})
	}
	assert.Empty(t, r.requests())
}

// What the transport does not send itself goes to the fallback: here
// through a proxy, which is a real HTTP server too.
func TestFallback(t *testing.T) {
	target := newReceiver(t, nil)
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		proxied.Add(1)
		assert.Equal(t, target.URL+"/via", req.RequestURI) // the absolute form
		_, _ = io.WriteString(w, "proxied")
	}))
	defer proxy.Close()
	proxyURL, _ := url.Parse(proxy.URL)
	tr := &http1.Transport{
		Proxy:    func(*http.Request) (*url.URL, error) { return proxyURL, nil },
		Fallback: &http.Transport{Proxy: http.ProxyURL(proxyURL)},
	}
	status, _, body := answer(t, tr, target.URL+"/via", "x=1")
	assert.Equal(t, 200, status)
	assert.Equal(t, "proxied", body)
	assert.EqualValues(t, 1, proxied.Load())
	assert.Empty(t, target.requests())

	// Without a fallback, such a request fails.
	tr.Fallback = nil
	_, err := post(t, tr, context.Background(), target.URL, "x=1")
	require.Error(t, err)

	// A body of unknown length, and Expect, go to the fallback too.
	direct := &http1.Transport{Fallback: &http.Transport{}}
	req, _ := http.NewRequest(http.MethodPost, target.URL+"/unknown-length", io.NopCloser(strings.NewReader("x=1")))
	resp, err := direct.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, []string{"POST /unknown-length ct= ua=Go-http-client/1.1 len=-1 body=x=1"}, target.requests())
}

func TestRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	_, err = post(t, &http1.Transport{}, context.Background(), "http://"+addr+"/", "x=1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused")
}

// Many goroutines, one transport, some answers closing their connections:
// every request gets its own answer (run with -race).
func TestConcurrentRequests(t *testing.T) {
	var n atomic.Int64
	r := newReceiver(t, func(w http.ResponseWriter, req *http.Request) {
		if n.Add(1)%7 == 0 {
			w.Header().Set("Connection", "close")
		}
		_, _ = io.Copy(w, strings.NewReader(req.URL.Query().Get("i")))
	})
	tr := &http1.Transport{MaxIdlePerHost: 4}
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := range 20 {
		wg.Go(func() {
			for i := range 20 {
				id := fmt.Sprintf("%d-%d", g, i)
				resp, err := post(t, tr, context.Background(), r.URL+"/?i="+id, "x=1")
				if err != nil {
					errs <- err
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != id {
					errs <- fmt.Errorf("asked %s, got %q", id, b)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Len(t, r.requests(), 400)
	assert.Less(t, r.accepted.Load(), int64(200), "connections are reused")
}

func TestReadAfterClose(t *testing.T) {
	r := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "abc") })
	resp, err := post(t, &http1.Transport{}, context.Background(), r.URL, "x=1")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, resp.Body.Close())
	_, err = resp.Body.Read(make([]byte, 1))
	require.Error(t, err)
	assert.False(t, errors.Is(err, io.EOF))
}
