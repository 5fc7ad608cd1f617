package http1

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Defaults of the Transport's zero fields.
const (
	// DefaultDialTimeout is the DialTimeout of a Transport whose field is
	// zero.
	DefaultDialTimeout = 5 * time.Second
	// DefaultTLSHandshakeTimeout is the default TLSHandshakeTimeout.
	DefaultTLSHandshakeTimeout = 5 * time.Second
	// DefaultRequestTimeout is the default RequestTimeout.
	DefaultRequestTimeout = 15 * time.Second
	// DefaultMaxIdlePerHost is the default MaxIdlePerHost.
	DefaultMaxIdlePerHost = 64
	// DefaultMaxIdle is the default MaxIdle.
	DefaultMaxIdle = 256
	// DefaultIdleTimeout is the default IdleTimeout.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultMaxResponseHeaderBytes is the default MaxResponseHeaderBytes.
	DefaultMaxResponseHeaderBytes = 64 << 10
)

// maxBody is the largest request body the Transport sends itself; larger
// ones go to the Fallback.
const maxBody = 64 << 10

// maxDrain is how much of an unread response body Close reads to keep the
// connection; with more left, the connection is closed instead.
const maxDrain = 4 << 10

// Transport is an http.RoundTripper for small requests over HTTP/1.1
// keep-alive connections (see the package documentation). Its zero value
// uses the Default* constants and no Fallback. It is safe for concurrent use;
// its fields must not change once it is in use.
type Transport struct {
	// DialTimeout bounds a TCP connect; TLSHandshakeTimeout a TLS
	// handshake.
	DialTimeout, TLSHandshakeTimeout time.Duration
	// RequestTimeout bounds a whole exchange, from writing the request to
	// the end of the answer's body, when the request's context has no
	// earlier deadline. It bounds every request the Fallback takes too.
	RequestTimeout time.Duration
	// TLSConfig is cloned for every TLS connection, with ServerName set
	// to the host and NextProtos to http/1.1. Nil means TLS 1.2 or later
	// with the system's roots.
	TLSConfig *tls.Config
	// MaxIdlePerHost bounds the idle connections kept per scheme and
	// host, MaxIdle those kept in all; IdleTimeout is how long one is
	// kept.
	MaxIdlePerHost, MaxIdle int
	IdleTimeout             time.Duration
	// MaxResponseHeaderBytes bounds the status line and headers of an
	// answer.
	MaxResponseHeaderBytes int
	// Proxy says which proxy a request goes through, as
	// http.Transport.Proxy does; a request with one goes to the Fallback.
	// Nil means no proxy.
	Proxy func(*http.Request) (*url.URL, error)
	// Fallback takes the requests the Transport does not send itself. Nil
	// means they fail.
	Fallback http.RoundTripper

	mu      sync.Mutex
	idle    map[hostKey][]*conn // most recently used last
	numIdle int
	janitor *time.Timer
}

// hostKey names the connections that can serve a request.
type hostKey struct {
	tls  bool
	addr string // host:port
}

// errFallback is returned by route for a request the Fallback takes.
var errFallback = errors.New("http1: not for this transport")

// RoundTrip sends req and returns its answer, as http.RoundTripper
// documents: a non-2xx answer is not an error, redirects are not followed,
// and the caller must close the answer's body (which returns the
// connection to the pool once the body is read). The request's context
// bounds the whole exchange, body included.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		return nil, fmt.Errorf("http1: %w", err)
	}
	key, err := t.route(req)
	if errors.Is(err, errFallback) {
		return t.fallback(req)
	}
	if err != nil {
		closeBody(req)
		return nil, err
	}
	head, err := encode(req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	defer putBuffer(head)
	c, err := t.conn(ctx, key)
	if err != nil {
		return nil, err
	}
	return c.roundTrip(ctx, req, *head, t)
}

// fallback sends req with the Fallback, within RequestTimeout as well.
func (t *Transport) fallback(req *http.Request) (*http.Response, error) {
	if t.Fallback == nil {
		closeBody(req)
		return nil, fmt.Errorf("http1: %s %s needs a fallback transport, and there is none", req.Method, req.URL.Redacted())
	}
	ctx, cancel := context.WithTimeout(req.Context(), or(t.RequestTimeout, DefaultRequestTimeout))
	resp, err := t.Fallback.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends a fallback exchange's context with its body.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// route returns the connections that can carry req, or errFallback for a
// request only net/http sends, or an error for one nobody should send.
func (t *Transport) route(req *http.Request) (hostKey, error) {
	u := req.URL
	if u == nil {
		return hostKey{}, errors.New("http1: request has no URL")
	}
	var key hostKey
	switch u.Scheme {
	case "http":
	case "https":
		key.tls = true
	default:
		return hostKey{}, errFallback
	}
	if req.ContentLength < 0 || req.ContentLength > maxBody || req.Body != nil && req.Body != http.NoBody && req.ContentLength == 0 {
		return hostKey{}, errFallback
	}
	if u.User != nil || !ascii(u.Host) || !ascii(req.Host) {
		return hostKey{}, errFallback // Basic auth from the URL, IDNA: net/http's
	}
	for name, values := range req.Header {
		if hopByHop[http.CanonicalHeaderKey(name)] {
			return hostKey{}, errFallback
		}
		if !httpguts.ValidHeaderFieldName(name) {
			return hostKey{}, fmt.Errorf("http1: invalid header name %q", name)
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return hostKey{}, fmt.Errorf("http1: invalid value of header %s", name)
			}
		}
	}
	if t.Proxy != nil {
		p, err := t.Proxy(req)
		if err != nil {
			return hostKey{}, fmt.Errorf("http1: choosing a proxy: %w", err)
		}
		if p != nil {
			return hostKey{}, errFallback
		}
	}
	if u.Host == "" {
		return hostKey{}, fmt.Errorf("http1: %s has no host", u.Redacted())
	}
	key.addr = u.Host
	if u.Port() == "" {
		port := "80"
		if key.tls {
			port = "443"
		}
		key.addr = net.JoinHostPort(u.Hostname(), port)
	}
	return key, nil
}

// encode writes the request line, the headers and the body of req, whose
// headers route checked, into a pooled buffer; it consumes the body.
func encode(req *http.Request) (*[]byte, error) {
	u := req.URL
	host := cmp.Or(req.Host, u.Host)
	method := cmp.Or(req.Method, http.MethodGet)
	uri := u.RequestURI()
	switch {
	case !httpguts.ValidHeaderFieldName(method): // a method is a token too
		return nil, fmt.Errorf("http1: invalid method %q", method)
	case !httpguts.ValidHostHeader(host) || strings.ContainsFunc(uri, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return nil, fmt.Errorf("http1: invalid URL or host in request to %s", u.Redacted())
	case req.ContentLength > 0 && req.Body == nil:
		return nil, fmt.Errorf("http1: request has a ContentLength of %d and no body", req.ContentLength)
	}

	head := getBuffer()
	b := append((*head)[:0], method...)
	b = append(b, ' ')
	b = append(b, uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	for name, values := range req.Header {
		if name == "User-Agent" {
			continue
		}
		for _, v := range values {
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	// As net/http: Go's User-Agent unless the request has one, none when
	// the request's is empty.
	ua := "Go-http-client/1.1"
	if _, ok := req.Header["User-Agent"]; ok {
		ua = req.Header.Get("User-Agent")
	}
	if ua != "" {
		b = append(b, "User-Agent: "...)
		b = append(b, ua...)
		b = append(b, "\r\n"...)
	}
	if req.ContentLength > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, req.ContentLength, 10)
		b = append(b, "\r\n"...)
	}
	if req.Close {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	if req.ContentLength > 0 {
		n := len(b)
		b = append(b, make([]byte, req.ContentLength)...)
		_, err := io.ReadFull(req.Body, b[n:])
		if err == nil {
			var extra [1]byte
			if m, _ := req.Body.Read(extra[:]); m > 0 {
				err = fmt.Errorf("the body is longer than its ContentLength of %d", req.ContentLength)
			}
		}
		if err != nil {
			*head = b
			putBuffer(head)
			return nil, fmt.Errorf("http1: reading the request body: %w", err)
		}
	}
	closeBody(req)
	*head = b
	return head, nil
}

// hopByHop are the request headers that ask for what only net/http does
// (or that the Transport writes itself).
var hopByHop = map[string]bool{
	"Connection": true, "Content-Length": true, "Expect": true, "Host": true, "Keep-Alive": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// ascii reports whether s is all ASCII.
func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= 4*maxBody {
		buffers.Put(b)
	}
}

// conn returns an idle connection to key that the receiver has not closed,
// or a new one.
func (t *Transport) conn(ctx context.Context, key hostKey) (*conn, error) {
	now := time.Now()
	for {
		t.mu.Lock()
		list := t.idle[key]
		if len(list) == 0 {
			t.mu.Unlock()
			break
		}
		c := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[key] = list[:len(list)-1]
		t.numIdle--
		t.mu.Unlock()
		if now.Sub(c.idleSince) < t.idleTimeout() && c.alive() {
			return c, nil
		}
		c.close()
	}
	return t.dial(ctx, key)
}

// dial opens a connection to key, over TLS when key says so.
func (t *Transport) dial(ctx context.Context, key hostKey) (*conn, error) {
	d := net.Dialer{Timeout: or(t.DialTimeout, DefaultDialTimeout), KeepAlive: 30 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", key.addr)
	if err != nil {
		return nil, fmt.Errorf("http1: %w", err)
	}
	c := &conn{key: key, raw: raw, rw: raw}
	if key.tls {
		cfg := t.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(key.addr)
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(raw, cfg)
		hctx, cancel := context.WithTimeout(ctx, or(t.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout))
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("http1: TLS handshake with %s: %w", key.addr, err)
		}
		c.rw = tc
	}
	c.limit = limitedReader{r: c.rw}
	c.br = bufio.NewReaderSize(&c.limit, 4<<10)
	return c, nil
}

// put returns c to the idle pool, or closes it when the pool is full.
func (t *Transport) put(c *conn) {
	t.mu.Lock()
	if t.idle == nil {
		t.idle = map[hostKey][]*conn{}
	}
	list := t.idle[c.key]
	if len(list) >= or(t.MaxIdlePerHost, DefaultMaxIdlePerHost) || t.numIdle >= or(t.MaxIdle, DefaultMaxIdle) {
		t.mu.Unlock()
		c.close()
		return
	}
	c.idleSince = time.Now() // under the lock: each list is oldest first
	t.idle[c.key] = append(list, c)
	t.numIdle++
	if t.janitor == nil {
		t.janitor = time.AfterFunc(t.idleTimeout(), t.sweep)
	}
	t.mu.Unlock()
}

// sweep closes the connections idle for longer than the IdleTimeout, and
// runs again while any connection is idle.
func (t *Transport) sweep() {
	limit := time.Now().Add(-t.idleTimeout())
	var stale []*conn
	t.mu.Lock()
	for key, list := range t.idle {
		kept := list[:0]
		for _, c := range list {
			if c.idleSince.Before(limit) {
				stale = append(stale, c)
			} else {
				kept = append(kept, c)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(t.idle, key)
		} else {
			t.idle[key] = kept
		}
	}
	t.numIdle -= len(stale)
	if len(t.idle) > 0 {
		t.janitor.Reset(t.idleTimeout() / 2)
	} else {
		t.janitor = nil
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.close()
	}
}

// CloseIdleConnections closes every idle connection; http.Client's method
// of the same name calls it.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle, t.numIdle = nil, 0
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.close()
		}
	}
	if f, ok := t.Fallback.(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

func (t *Transport) idleTimeout() time.Duration { return or(t.IdleTimeout, DefaultIdleTimeout) }

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
