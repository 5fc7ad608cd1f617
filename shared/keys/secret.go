package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
)

// Secret is a 32-byte secret derived from one signing key, named by that
// key's kid.
type Secret struct {
	KID string
	Key []byte
}

// DeriveSecrets returns a secret for purpose per key of the Set, in load
// order, each derived with HKDF-SHA256 from its key alone (the key's PKCS#8
// encoding). Secrets such as the CSRF key so need no configuration of their
// own, and replicas that share a key derive the same secret from it
// whatever their other keys: a value MACed with the first secret is
// accepted by every replica that still holds that key. In a key rotation
// (add the new key last, then move it first, then drop the old one; each
// step finished everywhere before the next) replicas one step apart take
// each other's values.
func (s *Set) DeriveSecrets(purpose string) ([]Secret, error) {
	if len(s.keys) == 0 {
		return nil, ErrNoKey
	}
	out := make([]Secret, 0, len(s.keys))
	for _, k := range s.keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.signer)
		if err != nil {
			return nil, fmt.Errorf("deriving secret from %s: %w", k, err)
		}
		key, err := hkdf.Key(sha256.New, der, nil, "signoff "+purpose, 32)
		if err != nil {
			return nil, fmt.Errorf("deriving secret from %s: %w", k, err)
		}
		out = append(out, Secret{KID: k.KID, Key: key})
	}
	return out, nil
}
