// Package http1 provides an http.RoundTripper for many small requests to
// many receivers over HTTP/1.1 keep-alive connections: the propagation
// workers' POSTs of logout tokens and webhooks.
//
// [Transport] does what net/http's Transport does for such a request with
// about half of its CPU on the client's side: it writes the request with
// one system call and reads the answer ([http.ReadResponse]) in the
// caller's goroutine, where net/http hands every request to two goroutines
// per connection. Like net/http, and unlike fasthttp, the other fast
// client we measured, it notices a receiver closing an idle keep-alive
// connection: before it reuses one, it peeks at the socket (a non-blocking
// MSG_PEEK) and dials anew when the receiver has closed it or sent
// anything unasked (also a TLS record already read), so a client that
// gets a logout now and then is not sent it on a dead connection, and no
// answer is taken for another's.
//
// A request it is not made for goes to [Transport.Fallback], bounded by
// RequestTimeout: a proxied one, one whose body length is unknown or
// large, one with credentials in its URL or a non-ASCII host, one with
// hop-by-hop headers (Connection, Upgrade, Expect, ...), a scheme other
// than http and https. It speaks HTTP/1.1 only, also over TLS (ALPN
// "http/1.1"). A request whose context has ended is never sent.
//
// Where the socket cannot be peeked at (not Linux, macOS or the BSDs), idle
// connections are never reused: every request dials.
package http1
