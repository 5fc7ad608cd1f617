package keys

import "errors"

// Errors returned by Load, the Set methods and the HintVerifier. Check them
// with errors.Is; the returned errors add the key, file or reason.
var (
	// ErrNoKey is returned when an algorithm that is needed, or asked for,
	// has no signing key.
	ErrNoKey = errors.New("keys: no signing key")
	// ErrUnsupportedAlgorithm is returned for an algorithm signoff cannot
	// sign with (only RS256, ES256 and EdDSA) or will not verify hints with
	// (none and HMAC, always).
	ErrUnsupportedAlgorithm = errors.New("keys: unsupported algorithm")
	// ErrInvalidKey is returned for a key file or key that cannot be used:
	// unparseable, public only, RSA under 2048 bits, a curve other than
	// P-256, encrypted, or with an alg or use that does not fit.
	ErrInvalidKey = errors.New("keys: invalid key")
	// ErrDuplicateKID is returned when two keys would be published with the
	// same kid (BCL-18 forbids two keys with the same kid, kty and alg).
	ErrDuplicateKID = errors.New("keys: duplicate kid")
	// ErrNoSubOrSID is returned by LogoutToken when both sub and sid are
	// empty (OIDC Back-Channel Logout 1.0 §2.4, BCL-12).
	ErrNoSubOrSID = errors.New("keys: a logout token needs sub or sid")
	// ErrMissingClaim is returned when a token would lack a claim that its
	// specification requires, such as iss or aud.
	ErrMissingClaim = errors.New("keys: missing required claim")
	// ErrConfig is returned by NewHintVerifier for settings it cannot work
	// with, such as an empty issuer or both jwks_uri and jwks_file.
	ErrConfig = errors.New("keys: invalid configuration")
	// ErrInvalidHint is wrapped by every error that HintVerifier.Verify
	// returns; the error is a *HintError that names the reason.
	ErrInvalidHint = errors.New("keys: invalid id_token_hint")
)

// Errors that callers have no reason to tell apart.
var (
	errNilClaims = errors.New("keys: claims are nil")
)
