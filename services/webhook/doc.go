// Package webhook is signoff's webhook worker, for applications that are
// not OpenID Connect clients: for every client with a webhook_uri that took
// part in an ended session, it POSTs a signed JSON event to that URI.
//
// Like the back-channel worker it is built on shared/propagate, which
// consumes session-ended events, fans out, retries and records progress;
// this package delivers one logout to one client ([Propagator]) and [Run]
// wires the two.
//
// # The request
//
//	POST <webhook_uri>
//	Content-Type: application/json
//	Signoff-Event-Id: <logout_id>
//	Signoff-Signature: t=1735787045,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
//	{"type":"signoff.logout","logout_id":"…","sid":"…","sub":"…","iss":"…",
//	 "client_id":"…","reason":"end_session","time":"2025-01-02T03:04:05Z"}
//
// The body is a [Payload]. sid is absent when the logout ended all of the
// subject's sessions: sids then lists this client's sessions that ended
// (end those, not every session of sub: the user may have signed in again
// since). With neither (a signoff before sids, during a rolling upgrade),
// end every session of sub that started before time, or every session of
// sub when you do not know when they started. sub is the sub this client
// was given. A logout may be
// delivered more than once (a retry, a redelivery): de-duplicate on the
// body's logout_id, which the signature covers (Signoff-Event-Id carries
// the same value for logs and routing, unsigned: do not trust it alone).
// Answer with any 2xx once the
// sessions are ended; 408, 429 (with Retry-After if you like) and 5xx are
// retried with backoff; any other status, or a redirect, fails the delivery
// without retry.
//
// # Verifying the signature
//
// Signoff-Signature carries t, the Unix time in seconds at which this
// attempt was signed, and v1, the hex HMAC-SHA256 of "<t>.<raw body>" keyed
// with the UTF-8 bytes of the client's webhook_secret (the scheme of
// Stripe's webhooks). Every
// attempt is signed anew, so a late retry still carries a fresh t. A
// receiver:
//
//  1. reads the raw body, before any JSON decoding;
//  2. splits the header on ',' into key=value pairs and takes t and every
//     v1 (unknown keys are ignored, so that new schemes can be added);
//  3. computes HMAC-SHA256(webhook_secret, t + "." + body) and compares it
//     with each v1 in constant time (hmac.Equal in Go,
//     crypto.timingSafeEqual in Node.js, hmac.compare_digest in Python);
//  4. rejects the request unless one matches and t is within 5 minutes of
//     its own clock, which bounds replays of a captured request.
//
// [Verify] does all of it and is the reference implementation.
package webhook
