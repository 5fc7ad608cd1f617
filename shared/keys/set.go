package keys

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// Set is signoff's signing keys, grouped by algorithm. The first key of each
// algorithm signs; every key is published by JWKS, so a new key can be
// published before it signs and an old one kept until tokens signed with it
// have expired (rotation without a gap).
//
// A Set is built by Load and never changes afterwards, so all its methods
// are safe for concurrent use and take no lock.
type Set struct {
	active [numAlgs]*Key // the signing key of each algorithm, by algIndex
	keys   []*Key        // every key, in load order
	algs   []string      // algorithms with a key, in algIndex order
	jwks   []byte        // the published JWK Set, computed once
}

// newSet builds a Set from keys in load order and computes its JWK Set.
func newSet(keys []*Key) (*Set, error) {
	s := &Set{keys: keys}
	seen := make(map[string]*Key, len(keys))
	published := struct {
		Keys []publicJWK `json:"keys"`
	}{Keys: make([]publicJWK, 0, len(keys))}
	for _, k := range keys {
		if other, ok := seen[k.KID]; ok {
			return nil, fmt.Errorf("%w %q: used by an %s key and an %s key", ErrDuplicateKID, k.KID, other.Alg, k.Alg)
		}
		seen[k.KID] = k
		if i := algIndex(k.Alg); s.active[i] == nil {
			s.active[i] = k
		}
		published.Keys = append(published.Keys, k.jwk)
	}
	for _, alg := range [numAlgs]string{RS256, ES256, EdDSA} {
		if s.active[algIndex(alg)] != nil {
			s.algs = append(s.algs, alg)
		}
	}
	b, err := json.Marshal(published)
	if err != nil {
		return nil, fmt.Errorf("encoding JWK Set: %w", err)
	}
	s.jwks = slices.Clip(b)
	return s, nil
}

// Signer returns the key that signs with alg: the first key loaded for that
// algorithm. An empty alg means DefaultAlgorithm. The error wraps ErrNoKey
// when the Set has no key for alg and ErrUnsupportedAlgorithm when signoff
// cannot sign with it at all.
func (s *Set) Signer(alg string) (*Key, error) {
	i := algIndex(alg)
	if i < 0 {
		return nil, fmt.Errorf("%w %q: signoff signs with RS256, ES256 or EdDSA", ErrUnsupportedAlgorithm, alg)
	}
	if k := s.active[i]; k != nil {
		return k, nil
	}
	if alg == "" {
		alg = DefaultAlgorithm
	}
	return nil, fmt.Errorf("%w for %s", ErrNoKey, alg)
}

// Algorithms returns the algorithms the Set can sign with, in the order
// RS256, ES256, EdDSA. It suits id_token_signing_alg_values_supported.
func (s *Set) Algorithms() []string { return slices.Clone(s.algs) }

// JWKS returns the JWK Set (RFC 7517 §5) of every public key, each with kid,
// kty, alg, use "sig" and its key members (n and e, or crv, x and y), to be
// served at jwks_uri. It is computed once by Load; the returned slice is
// shared, so callers must not modify it.
func (s *Set) JWKS() []byte { return s.jwks }

// Sign returns a compact JWS of claims, signed with the active key of alg
// (an empty alg means DefaultAlgorithm), with the header alg, kid and, when
// typ is not empty, typ. It never signs with none.
func (s *Set) Sign(alg string, claims jwt.Claims, typ string) (string, error) {
	k, err := s.Signer(alg)
	if err != nil {
		return "", err
	}
	return k.Sign(claims, typ)
}
