// Package rp is a demo relying party: an app that signs people in with the
// dev IdP (authorization code flow), signs them out through signoff's
// end-session endpoint, and receives signoff's logouts: back-channel logout
// tokens, front-channel iframes and webhooks. It shows what it received.
// It is a DEMO: sessions live in memory.
package rp
