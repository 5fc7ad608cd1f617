package propagate

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns the HTTP client for workers that deliver over HTTP:
// bounded at
// every step (dial 5s, TLS handshake 5s, response headers 10s, whole
// request 15s), TLS 1.2 or later (BCL-24), keep-alive connections pooled
// per receiver, and redirects never followed: a 3xx is returned as the
// answer, so a token only ever goes to the registered URI (BCL-30).
// Proxies come from the environment, as with http.DefaultTransport.
func NewHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            dialer.DialContext,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:    5 * time.Second,
			ResponseHeaderTimeout:  10 * time.Second,
			ExpectContinueTimeout:  time.Second,
			MaxIdleConns:           256,
			MaxIdleConnsPerHost:    64, // the worker's default Concurrency: several clients may share a host
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
			ForceAttemptHTTP2:      true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       15 * time.Second,
	}
}
