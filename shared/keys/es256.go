package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// es256 is golang-jwt's ES256 with deterministic nonces (RFC 6979, which
// crypto/ecdsa implements) instead of crypto/ecdsa's default hedged ones
// (draft-irtf-cfrg-det-sigs-with-noise): its HMAC-DRBG over SHA-512 cost a
// fifth of every signature and a third of its garbage. A deterministic
// nonce does not depend on the random source at all, so an entropy failure
// cannot leak the key; what the hedged one adds is resistance to fault
// injection on the signing machine. The signatures are ordinary ES256:
// verifiers cannot tell them apart, and Verify is golang-jwt's.
type es256 struct{ *jwt.SigningMethodECDSA }

// signingMethod returns the golang-jwt method that signs with alg.
func signingMethod(alg string) jwt.SigningMethod {
	if alg == ES256 {
		return es256{jwt.SigningMethodES256}
	}
	return jwt.GetSigningMethod(alg)
}

// Sign returns the JWS signature of signingString: r and s, 32 bytes each
// (RFC 7518 §3.4).
func (m es256) Sign(signingString string, key any) ([]byte, error) {
	return m.signBytes([]byte(signingString), key)
}

// signBytes is Sign of a byte slice.
func (m es256) signBytes(signingInput []byte, key any) ([]byte, error) {
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("ES256 key is a %T: %w", key, jwt.ErrInvalidKeyType)
	}
	digest := sha256.Sum256(signingInput)
	der, err := priv.Sign(nil, digest[:], crypto.SHA256) // nil rand: RFC 6979
	if err != nil {
		return nil, fmt.Errorf("ES256: %w", err)
	}
	var r, s []byte
	in, seq := cryptobyte.String(der), cryptobyte.String(nil)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() || len(r) > 32 || len(s) > 32 {
		return nil, errors.New("ES256: crypto/ecdsa returned a malformed signature")
	}
	sig := make([]byte, 64)
	copy(sig[32-len(r):32], r)
	copy(sig[64-len(s):], s)
	return sig, nil
}
