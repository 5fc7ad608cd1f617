package keys

import (
	"crypto"
	"time"
)

// WithUnknownKIDRefreshEvery lets tests refresh a jwks_uri on unknown kids
// more often than once a minute.
func WithUnknownKIDRefreshEvery(d time.Duration) HintOption {
	return func(o *hintOptions) { o.unknownKIDEvery = d }
}

// Thumbprint exposes the RFC 7638 thumbprint of a public key.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j, err := newPublicJWK(pub, "")
	if err != nil {
		return "", err
	}
	return j.thumbprint(), nil
}
