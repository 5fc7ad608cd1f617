// Package idp is the demo's development identity provider: just enough of
// an OpenID Connect provider (authorization code flow) to sign a demo user
// in to the demo apps, issue ID tokens with sid, and report each client's
// participation to signoff. It is a DEMO: one hard-coded user, no consent,
// no refresh tokens, state in memory only.
package idp
