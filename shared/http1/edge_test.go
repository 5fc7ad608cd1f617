package http1_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/http1"
)

// A request whose context has ended is not sent, on a new connection or a
// kept one.
func TestEndedContextSendsNothing(t *testing.T) {
	r := newReceiver(t, nil)
	tr := &http1.Transport{}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := post(t, tr, ctx, r.URL, "x=1")
	require.ErrorIs(t, err, context.Canceled)

	status, _, _ := answer(t, tr, r.URL, "x=2") // a kept connection now
	require.Equal(t, 200, status)
	for range 50 {
		_, err = post(t, tr, ctx, r.URL, "x=3")
		require.ErrorIs(t, err, context.Canceled)
	}
	assert.Len(t, r.requests(), 1)
}

// A receiver that sends a stray answer after the real one, in the same
// TCP segment, so that it is read with the real one: on plain HTTP it sits
// in the connection's read buffer and no longer in the socket; over TLS it
// is a record of its own that the client's TLS layer reads at once. The
// next request must not take it for its answer.
func TestStrayAnswerIsNotTheNextAnswer(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	serverTLS, clientTLS := srv.TLS, srv.Client().Transport.(*http.Transport).TLSClientConfig
	srv.Close()
	for _, tc := range []struct {
		name              string
		scheme            string
		server, transport *tls.Config
	}{
		{name: "plain HTTP", scheme: "http"},
		{name: "TLS", scheme: "https", server: serverTLS, transport: clientTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, accepted := serveWithStray(t, tc.server)
			tr := &http1.Transport{TLSConfig: tc.transport}
			defer tr.CloseIdleConnections()
			for i := range 2 {
				status, _, body := answer(t, tr, tc.scheme+"://"+addr+"/", "x=1")
				assert.Equal(t, 200, status, "request %d", i)
				assert.Equal(t, "ok", body, "request %d", i)
			}
			assert.EqualValues(t, 2, accepted.Load(), "the connection with the stray answer was not reused")
		})
	}
}

// serveWithStray serves, over TLS when conf is set, "ok" to every request,
// and on its first connection a stray 503 after each answer, in the same
// write. It returns its address and how many connections it accepted.
func serveWithStray(t *testing.T, conf *tls.Config) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted := &atomic.Int64{}
	go func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			n := accepted.Add(1)
			go func() {
				defer raw.Close()
				bc := &batchConn{Conn: raw}
				var c net.Conn = bc
				if conf != nil {
					tc := tls.Server(bc, conf)
					if tc.Handshake() != nil {
						return
					}
					c = tc
				}
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					bc.batching = true
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					if n == 1 {
						_, _ = io.WriteString(c, "HTTP/1.1 503 Stray\r\nContent-Length: 0\r\n\r\n")
					}
					if bc.flush() != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), accepted
}

// batchConn holds what is written while batching and sends it with one
// write on flush.
type batchConn struct {
	net.Conn
	batching bool
	buf      []byte
}

func (c *batchConn) Write(p []byte) (int, error) {
	if !c.batching {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *batchConn) flush() error {
	_, err := c.Conn.Write(c.buf)
	c.buf, c.batching = c.buf[:0], false
	return err
}

// recorder is a fallback that records what it was given and answers 299.
type recorder struct{ got []*http.Request }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = append(r.got, req)
	return &http.Response{StatusCode: 299, Body: http.NoBody, Request: req}, nil
}

// What only net/http does goes to the fallback.
func TestFallbackTakes(t *testing.T) {
	r := newReceiver(t, nil)
	for name, set := range map[string]func(*http.Request){
		"credentials in the URL":     func(req *http.Request) { req.URL.User = url.UserPassword("a", "b") },
		"a non-ASCII host":           func(req *http.Request) { req.Host = "bücher.example" },
		"Expect":                     func(req *http.Request) { req.Header.Set("Expect", "100-continue") },
		"a non-canonical hop-by-hop": func(req *http.Request) { req.Header["transfer-encoding"] = []string{"chunked"} },
		"a body over 64 KiB": func(req *http.Request) {
			body := strings.Repeat("x", 64<<10+1)
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
		},
	} {
		t.Run(name, func(t *testing.T) {
			fb := &recorder{}
			req, err := http.NewRequest(http.MethodPost, r.URL, strings.NewReader("x=1"))
			require.NoError(t, err)
			set(req)
			resp, err := (&http1.Transport{Fallback: fb}).RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, 299, resp.StatusCode)
			assert.Len(t, fb.got, 1)
			_, hasDeadline := fb.got[0].Context().Deadline()
			assert.True(t, hasDeadline, "the fallback is bounded by RequestTimeout too")
		})
	}
	assert.Empty(t, r.requests())
}

// A request nobody should send is refused, not handed to the fallback.
func TestRefusesUnroutable(t *testing.T) {
	fb := &recorder{}
	failingProxy := func(*http.Request) (*url.URL, error) { return nil, errors.New("no proxy for you") }
	_, err := (&http1.Transport{Fallback: fb, Proxy: failingProxy}).RoundTrip(httptest.NewRequest(http.MethodPost, "http://example.com/", nil))
	require.Error(t, err, "a proxy that cannot be chosen")
	assert.Contains(t, err.Error(), "no proxy for you")

	req := httptest.NewRequest(http.MethodPost, "http://example.com/", nil)
	req.URL.Host, req.Host = "", ""
	_, err = (&http1.Transport{Fallback: fb}).RoundTrip(req)
	require.Error(t, err, "no host")
	assert.Empty(t, fb.got)
}

func TestBadBodies(t *testing.T) {
	r := newReceiver(t, nil)
	req, _ := http.NewRequest(http.MethodPost, r.URL, nil)
	req.ContentLength = 5
	_, err := (&http1.Transport{}).RoundTrip(req)
	require.Error(t, err)

	req, _ = http.NewRequest(http.MethodPost, r.URL, strings.NewReader("longer than said"))
	req.ContentLength = 3
	_, err = (&http1.Transport{}).RoundTrip(req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "longer than its ContentLength")
	assert.Empty(t, r.requests())
}

// The pool is bounded per host and in all, and idle connections are
// closed after IdleTimeout.
func TestIdleBounds(t *testing.T) {
	a, b := newReceiver(t, nil), newReceiver(t, nil)
	tr := &http1.Transport{MaxIdle: 1}
	defer tr.CloseIdleConnections()
	answer(t, tr, a.URL, "x=1")
	answer(t, tr, b.URL, "x=1") // the pool is full: b's connection is closed
	waitClosed(t, b, "the pool is full: b's connection is closed")
	answer(t, tr, a.URL, "x=2")
	assert.EqualValues(t, 1, a.accepted.Load(), "a's connection was kept")

	c := newReceiver(t, nil)
	tr = &http1.Transport{IdleTimeout: 30 * time.Millisecond}
	answer(t, tr, c.URL, "x=1")
	waitClosed(t, c, "an idle connection is closed after its IdleTimeout")
}

func TestHeadersAsNetHTTP(t *testing.T) {
	var headers atomic.Value
	r := newReceiver(t, func(w http.ResponseWriter, req *http.Request) { headers.Store(req.Header.Clone()) })
	tr := &http1.Transport{}
	defer tr.CloseIdleConnections()

	req, _ := http.NewRequest(http.MethodPost, r.URL, strings.NewReader("x=1"))
	req.Header["User-Agent"] = []string{""} // none, as net/http
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	_, ok := headers.Load().(http.Header)["User-Agent"]
	assert.False(t, ok)

	// Close asks the receiver to close (here the kept connection): the
	// next request dials anew.
	req, _ = http.NewRequest(http.MethodPost, r.URL, strings.NewReader("x=1"))
	req.Close = true
	resp, err = tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	waitClosed(t, r, "Close closes the connection")
	status, _, _ := answer(t, tr, r.URL, "x=1")
	assert.Equal(t, 200, status)
	assert.EqualValues(t, 2, r.accepted.Load())
}

// Answers without a body, whatever their headers say, keep the connection.
func TestBodilessAnswersKeepTheConnection(t *testing.T) {
	r := newReceiver(t, func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Length", "10")
		if req.Method == http.MethodPost {
			w.WriteHeader(http.StatusNotModified)
		}
	})
	tr := &http1.Transport{}
	defer tr.CloseIdleConnections()
	for _, method := range []string{http.MethodHead, http.MethodPost, http.MethodHead} {
		req, _ := http.NewRequest(method, r.URL, nil)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Empty(t, b)
		resp.Body.Close()
	}
	assert.EqualValues(t, 1, r.accepted.Load())
}

// The fallback's exchange is bounded by RequestTimeout.
func TestFallbackIsBounded(t *testing.T) {
	release := make(chan struct{})
	proxy := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer proxy.Close()
	defer close(release) // before Close, which waits for the handler
	tr := &http1.Transport{RequestTimeout: 50 * time.Millisecond, Fallback: &http.Transport{}}
	req, _ := http.NewRequest(http.MethodPost, proxy.URL, io.NopCloser(strings.NewReader("x"))) // unknown length
	_, err := tr.RoundTrip(req)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
}

// TLS below 1.2 is refused by default.
func TestRefusesOldTLS(t *testing.T) {
	old := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	// MinVersion too: Go's server refuses below TLS 1.2 by default, so a server
	// capped at 1.1 would fail every handshake whatever the client allows.
	old.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	old.StartTLS()
	defer old.Close()
	_, err := post(t, &http1.Transport{}, context.Background(), old.URL, "x=1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "protocol version")
}

// A request without a User-Agent gets Go's, as with net/http; a caller's
// own is sent instead, once.
func TestUserAgent(t *testing.T) {
	var agents atomic.Value
	r := newReceiver(t, func(_ http.ResponseWriter, req *http.Request) { agents.Store(req.Header.Values("User-Agent")) })
	tr := &http1.Transport{}
	defer tr.CloseIdleConnections()
	for _, tc := range []struct {
		name, set string
		want      []string
	}{
		{"none", "", []string{"Go-http-client/1.1"}},
		{"the caller's", "signoff-test/1", []string{"signoff-test/1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, r.URL, strings.NewReader("x=1"))
			require.NoError(t, err)
			if tc.set != "" {
				req.Header.Set("User-Agent", tc.set)
			}
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.want, agents.Load())
		})
	}
}

// A POST without a body says Content-Length: 0, as net/http's does (some
// receivers answer 411 Length Required otherwise); a GET says nothing.
func TestBodilessPostSaysContentLengthZero(t *testing.T) {
	var lengths atomic.Value
	r := newReceiver(t, func(_ http.ResponseWriter, req *http.Request) { lengths.Store(req.Header.Values("Content-Length")) })
	tr := &http1.Transport{}
	defer tr.CloseIdleConnections()
	for _, tc := range []struct {
		method string
		want   []string
	}{
		{http.MethodPost, []string{"0"}},
		{http.MethodGet, nil},
	} {
		t.Run(tc.method, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, r.URL, nil)
			require.NoError(t, err)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.want, lengths.Load())
		})
	}
}

// A receiver that closes the connection in the middle of its answer's head
// makes the request fail with io.ErrUnexpectedEOF, not io.EOF.
// (http.ReadResponse maps io.EOF itself on these paths, so this pins the
// behaviour rather than the mapping in conn.ioError, which it repeats.)
func TestAnswerCutShort(t *testing.T) {
	for name, cut := range map[string]string{
		"no answer":             "",
		"in the headers":        "HTTP/1.1 200 OK\r\nContent-Type: text/pl",
		"before the blank line": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := post(t, &http1.Transport{}, context.Background(), rawReceiver(t, cut), "x=1")
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			assert.NotErrorIs(t, err, io.EOF)
		})
	}
}

// An answer of 101 Switching Protocols to a request that did not ask for
// it is refused, even when an answer follows it.
func TestRefusesSwitchingProtocols(t *testing.T) {
	u := rawReceiver(t, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"+
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	_, err := post(t, &http1.Transport{}, context.Background(), u, "x=1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "switched protocols")
}
