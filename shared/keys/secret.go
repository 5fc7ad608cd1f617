package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
)

// DeriveSecret returns a 32-byte secret for purpose, derived with HKDF-SHA256
// from the private keys of the Set (their PKCS#8 encodings, in load order).
// Every replica loaded with the same keys derives the same secret, so
// secrets such as the CSRF key need no configuration of their own; a key
// rotation changes them.
func (s *Set) DeriveSecret(purpose string) ([]byte, error) {
	var ikm []byte
	for _, k := range s.keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.signer)
		if err != nil {
			return nil, fmt.Errorf("deriving secret from %s: %w", k, err)
		}
		ikm = append(ikm, der...)
	}
	out, err := hkdf.Key(sha256.New, ikm, nil, "signoff "+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("deriving secret: %w", err)
	}
	return out, nil
}
