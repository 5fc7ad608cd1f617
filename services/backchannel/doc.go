// Package backchannel is signoff's OpenID Connect Back-Channel Logout 1.0
// worker: for every client with a backchannel_logout_uri that took part in
// an ended session, it POSTs a freshly signed logout token to that URI.
//
// The worker is built on shared/propagate, which consumes the session-ended
// events, fans out, retries and records progress; this package only
// delivers one logout to one client ([Propagator]) and says which clients
// it serves ([Wants], [Skip]). [Run] wires the two.
//
// What a client receives (Back-Channel Logout 1.0 §2.4, §2.5):
//
//	POST <backchannel_logout_uri, query kept>
//	Content-Type: application/x-www-form-urlencoded
//
//	logout_token=<JWT>
//
// The JWT has the header typ logout+jwt, alg (the client's
// id_token_signed_response_alg, RS256 when unset) and a kid published at
// jwks_uri, and the claims iss, aud (the client_id), iat, exp (iat + 2
// minutes), a jti unique to every token, events
// {"http://schemas.openid.net/event/backchannel-logout":{}}, sid (when the
// logout ended one session) and sub (the sub this client was given), and
// never nonce.
//
// Answers: any 2xx means delivered (the spec names 200; 204 is common); 408, 429, 5xx and network failures
// are retried, honouring Retry-After; a redirect is never followed and,
// like any other 4xx, fails the delivery at once (§2.8, BCL-27, BCL-30).
package backchannel
