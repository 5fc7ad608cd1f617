package propagate

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/signoff/signoff/shared/http1"
)

// NewHTTPClient returns the HTTP client for workers that deliver over HTTP:
// bounded at every step (dial 5s, TLS handshake 5s, the whole exchange
// 15s, or the worker's Timeout when sooner: 10s by default), TLS 1.2 or
// later (BCL-24), keep-alive connections pooled per receiver, and
// redirects never followed: a 3xx is returned as the answer, so a token
// only ever goes to the registered URI (BCL-30). Proxies come from the
// environment, as with http.DefaultTransport.
//
// Its transport is an [http1.Transport], which sends the workers' small
// POSTs at about half the CPU of net/http's, and hands what it does not
// send itself (a request through a proxy, above all) to a net/http
// Transport with the same bounds.
func NewHTTPClient() *http.Client {
	t := &http1.Transport{
		DialTimeout:            5 * time.Second,
		TLSHandshakeTimeout:    5 * time.Second,
		RequestTimeout:         15 * time.Second,
		TLSConfig:              &tls.Config{MinVersion: tls.VersionTLS12},
		MaxIdlePerHost:         DefaultConcurrency, // several clients may share a host
		MaxIdle:                2 * DefaultConcurrency,
		IdleTimeout:            90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		Proxy:                  http.ProxyFromEnvironment,
	}
	// The fallback has the same bounds; its own response-header bound sits
	// inside the whole exchange's, which RoundTrip applies to it too.
	dialer := &net.Dialer{Timeout: t.DialTimeout, KeepAlive: 30 * time.Second}
	t.Fallback = &http.Transport{
		Proxy:                  t.Proxy,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        t.TLSConfig,
		TLSHandshakeTimeout:    t.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           t.MaxIdle,
		MaxIdleConnsPerHost:    t.MaxIdlePerHost,
		IdleConnTimeout:        t.IdleTimeout,
		MaxResponseHeaderBytes: int64(t.MaxResponseHeaderBytes),
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		// No Timeout: the transport bounds every exchange itself (the
		// fallback's too), and http.Client would add a timer goroutine to
		// each request for a transport that is not net/http's.
	}
}
