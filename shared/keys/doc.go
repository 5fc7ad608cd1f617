// Package keys holds signoff's signing keys and the JWTs signed or verified
// with them.
//
// A [Set] is loaded once at start by [Load] from PEM or JWK files, or, in dev
// mode, generated into a folder and kept there so that a restart keeps the
// same kid. Keys are grouped by algorithm (RS256, ES256, EdDSA): the first key
// of each algorithm signs, and every key is published in the JWK Set served
// at jwks_uri, so keys rotate without a gap (OIDC Back-Channel Logout 1.0
// §2.6, spec BCL-17, BCL-18). A Set is immutable after Load and safe for
// concurrent use without locks, because signing sits on the hot path of every
// logout fan-out.
//
// [Set.LogoutToken] mints the logout+jwt of OIDC Back-Channel Logout 1.0
// §2.4: one audience, exp two minutes after iat, a random jti, the
// back-channel logout event, sid and/or sub, and never a nonce (BCL-6..20).
//
// [HintVerifier] checks an id_token_hint as RP-Initiated Logout 1.0 §2 and §4
// require (RIL-8..11): the signature must verify with the IdP's keys (a
// jwks_uri, a JWK Set file, or signoff's own keys), the algorithm must be an
// allowed asymmetric one (never none, never HMAC) and iss must equal the
// issuer exactly. A hint whose only fault is a past exp is accepted and
// reported as [Hint.Expired]. Every rejection wraps [ErrInvalidHint].
package keys
