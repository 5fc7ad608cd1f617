// Package http1 provides an http.RoundTripper for many small requests to
// many receivers over HTTP/1.1 keep-alive connections: the propagation
// workers' POSTs of logout tokens and webhooks.
//
// [Transport] does what net/http's Transport does for such a request at
// about half of its CPU: it writes the request with one system call and
// reads the answer ([http.ReadResponse]) in the caller's goroutine, where
// net/http hands every request to two goroutines per connection. Like
// net/http, and unlike the other fast clients we measured, it notices a
// receiver closing an idle keep-alive connection: before it reuses one, it
// peeks at the socket (a non-blocking MSG_PEEK) and dials anew when the
// receiver has closed it, so a client that gets a logout now and then is
// not sent it on a dead connection.
//
// A request it is not made for goes to [Transport.Fallback] unchanged: a
// proxied one, one whose body length is unknown or large, one with
// hop-by-hop headers (Connection, Upgrade, Expect, ...), a scheme other
// than http and https. It speaks HTTP/1.1 only, also over TLS (ALPN
// "http/1.1").
package http1
