package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// The JWS algorithms signoff signs logout tokens with (OIDC Back-Channel
// Logout 1.0 §2.6: a client's id_token_signed_response_alg, else RS256).
const (
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256, on an RSA key of at least
	// 2048 bits.
	RS256 = "RS256"
	// ES256 is ECDSA on P-256 with SHA-256.
	ES256 = "ES256"
	// EdDSA is Ed25519 (RFC 8037).
	EdDSA = "EdDSA"
	// DefaultAlgorithm is used wherever an algorithm is left empty, as for a
	// client without id_token_signed_response_alg (BCL-17).
	DefaultAlgorithm = RS256
)

// minRSABits is the smallest RSA modulus signoff signs with.
const minRSABits = 2048

// numAlgs is the number of signing algorithms; see algIndex.
const numAlgs = 3

// algIndex maps a signing algorithm to its slot in a Set, or -1. The empty
// string means DefaultAlgorithm.
func algIndex(alg string) int {
	switch alg {
	case RS256, "":
		return 0
	case ES256:
		return 1
	case EdDSA:
		return 2
	}
	return -1
}

// Key is one signing key. KID and Alg are read-only: they are baked into the
// precomputed JWS headers when the key is loaded. A Key is immutable and safe
// for concurrent use.
type Key struct {
	// KID is the key id: the JWK's kid when it had one, otherwise the RFC
	// 7638 JWK thumbprint (base64url SHA-256) of the public key.
	KID string
	// Alg is the JWS algorithm the key signs with: RS256, ES256 or EdDSA.
	Alg string

	signer  crypto.Signer
	method  jwt.SigningMethod
	sign    func(signingInput []byte, key any) ([]byte, error) // method's, chosen once
	jwk     publicJWK
	headers [3]string // base64url JWS headers for typ "", "JWT" and logout+jwt
	sigLen  int       // length of the base64url signature
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.signer.Public() }

// Sign returns a compact JWS of claims signed with k, with the header alg,
// kid and, when typ is not empty, typ.
func (k *Key) Sign(claims jwt.Claims, typ string) (string, error) {
	if claims == nil {
		return "", fmt.Errorf("signing %s JWT: %w", k.Alg, errNilClaims)
	}
	return k.signJSON(claims, typ)
}

// String names the key without its key material, so that printing a Key
// never prints a private key.
func (k *Key) String() string { return k.Alg + " key " + k.KID }

// GoString is String, for %#v.
func (k *Key) GoString() string { return k.String() }

// LogValue logs the kid and alg, never key material.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.KID), slog.String("alg", k.Alg))
}

// signJSON marshals v as the JWT claims and signs them.
func (k *Key) signJSON(v any, typ string) (string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encoding %s JWT claims: %w", k.Alg, err)
	}
	return k.signPayload(payload, typ)
}

// signPayload builds header.payload.signature in one buffer sized up front.
// The signature itself comes from golang-jwt's SigningMethod.
func (k *Key) signPayload(payload []byte, typ string) (string, error) {
	buf, err := k.appendSigned(nil, payload, typ)
	if err != nil {
		return "", err
	}
	return string(buf), nil
}

// appendSigned appends header.payload.signature to dst, growing it once.
func (k *Key) appendSigned(dst, payload []byte, typ string) ([]byte, error) {
	header, err := k.header(typ)
	if err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding
	dst = slices.Grow(dst, len(header)+1+enc.EncodedLen(len(payload))+1+k.sigLen)
	start := len(dst)
	dst = append(dst, header...)
	dst = append(dst, '.')
	dst = enc.AppendEncode(dst, payload)
	sig, err := k.sign(dst[start:], k.signer)
	if err != nil {
		return nil, fmt.Errorf("signing %s JWT with kid %q: %w", k.Alg, k.KID, err)
	}
	dst = append(dst, '.')
	return enc.AppendEncode(dst, sig), nil
}

// bytesSigner is a SigningMethod that signs a byte slice as it is.
type bytesSigner interface {
	signBytes(signingInput []byte, key any) ([]byte, error)
}

// signFunc is how m signs a signing input: without a copy of it when m is
// a bytesSigner, through m.Sign otherwise.
func signFunc(m jwt.SigningMethod) func([]byte, any) ([]byte, error) {
	if bs, ok := m.(bytesSigner); ok {
		return bs.signBytes
	}
	return func(signingInput []byte, key any) ([]byte, error) { return m.Sign(string(signingInput), key) }
}

// header returns the base64url JWS header for typ, precomputed for the
// common types.
func (k *Key) header(typ string) (string, error) {
	switch typ {
	case "":
		return k.headers[0], nil
	case "JWT":
		return k.headers[1], nil
	case LogoutTokenType:
		return k.headers[2], nil
	}
	return encodeHeader(k.Alg, k.KID, typ)
}

// jwsHeader is the protected header signoff writes.
type jwsHeader struct {
	Alg string `json:"alg"`
	KID string `json:"kid"`
	Typ string `json:"typ,omitempty"`
}

// encodeHeader returns the base64url JSON of a JWS header.
func encodeHeader(alg, kid, typ string) (string, error) {
	b, err := json.Marshal(jwsHeader{Alg: alg, KID: kid, Typ: typ})
	if err != nil {
		return "", fmt.Errorf("encoding JWS header: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newKey checks priv, infers its algorithm, normalises it through PKCS#8
// and precomputes what signing needs. kid and alg come from a JWK and may
// be empty: an empty kid becomes the RFC 7638 thumbprint, an empty alg the
// one inferred from the key type.
func newKey(priv crypto.Signer, kid, alg string) (*Key, error) {
	inferred, err := inferAlg(priv)
	if err != nil {
		return nil, err
	}
	switch {
	case alg == "":
		alg = inferred
	case algIndex(alg) < 0:
		return nil, fmt.Errorf("%w %q: signoff signs with RS256, ES256 or EdDSA", ErrUnsupportedAlgorithm, alg)
	case alg != inferred:
		return nil, fmt.Errorf("%w: alg %s does not fit this key, which signs %s", ErrInvalidKey, alg, inferred)
	}
	signer, err := normalise(priv)
	if err != nil {
		return nil, err
	}
	jwk, err := newPublicJWK(signer.Public(), alg)
	if err != nil {
		return nil, err
	}
	if kid == "" {
		kid = jwk.thumbprint()
	}
	jwk.KID = kid
	method := signingMethod(alg)
	k := &Key{KID: kid, Alg: alg, signer: signer, method: method, sign: signFunc(method), jwk: jwk}
	for i, typ := range [...]string{"", "JWT", LogoutTokenType} {
		if k.headers[i], err = encodeHeader(alg, kid, typ); err != nil {
			return nil, err
		}
	}
	k.sigLen = base64.RawURLEncoding.EncodedLen(signatureSize(signer))
	if err := k.selfTest(); err != nil {
		return nil, err
	}
	return k, nil
}

// inferAlg returns the algorithm a private key signs with and rejects keys
// signoff does not sign with.
func inferAlg(priv crypto.Signer) (string, error) {
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if bits := p.N.BitLen(); bits < minRSABits {
			return "", fmt.Errorf("%w: RSA key has %d bits, at least %d are needed", ErrInvalidKey, bits, minRSABits)
		}
		return RS256, nil
	case *ecdsa.PrivateKey:
		if name := p.Curve.Params().Name; name != "P-256" {
			return "", fmt.Errorf("%w: EC key on curve %s, only P-256 (ES256) is supported", ErrInvalidKey, name)
		}
		return ES256, nil
	case ed25519.PrivateKey:
		return EdDSA, nil
	}
	return "", fmt.Errorf("%w: %T is not an RSA, P-256 or Ed25519 private key", ErrInvalidKey, priv)
}

// normalise round-trips priv through PKCS#8, which validates it and returns
// the form the standard library signs with fastest (RSA precomputation,
// ECDSA without the deprecated big.Int path). It also catches a JWK whose
// private and public members do not belong together.
func normalise(priv crypto.Signer) (crypto.Signer, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding as PKCS#8: %w", ErrInvalidKey, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: decoding PKCS#8: %w", ErrInvalidKey, err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a signer", ErrInvalidKey, parsed)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := priv.Public().(equaler); !ok || !pub.Equal(signer.Public()) {
		return nil, fmt.Errorf("%w: the public key does not belong to the private key", ErrInvalidKey)
	}
	return signer, nil
}

// selfTest signs a fixed message and verifies it with the public key, so a
// broken key fails at Load rather than in the middle of a logout.
func (k *Key) selfTest() error {
	const msg = "signoff key self-test"
	sig, err := k.method.Sign(msg, k.signer)
	if err != nil {
		return fmt.Errorf("%w: self-test signing with kid %q: %w", ErrInvalidKey, k.KID, err)
	}
	if err := k.method.Verify(msg, sig, k.signer.Public()); err != nil {
		return fmt.Errorf("%w: self-test verifying with kid %q: %w", ErrInvalidKey, k.KID, err)
	}
	return nil
}

// signatureSize returns the length in bytes of a JWS signature by s.
func signatureSize(s crypto.Signer) int {
	if p, ok := s.(*rsa.PrivateKey); ok {
		return p.Size()
	}
	return 64 // ES256 (R||S) and Ed25519
}

// publicJWK is the public JWK of a key as published at jwks_uri (RFC 7517,
// RFC 7518 §6, RFC 8037 §2), with the members BCL-18 checks.
type publicJWK struct {
	KTY string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	KID string `json:"kid"`
	CRV string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// newPublicJWK returns the JWK members of pub, without kid.
func newPublicJWK(pub crypto.PublicKey, alg string) (publicJWK, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	j := publicJWK{Use: "sig", Alg: alg}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		j.KTY, j.N, j.E = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		point, err := p.Bytes() // 0x04 || X || Y, each coordinate full length
		if err != nil {
			return publicJWK{}, fmt.Errorf("%w: encoding EC public key: %w", ErrInvalidKey, err)
		}
		size := (len(point) - 1) / 2
		j.KTY, j.CRV, j.X, j.Y = "EC", p.Curve.Params().Name, b64(point[1:1+size]), b64(point[1+size:])
	case ed25519.PublicKey:
		j.KTY, j.CRV, j.X = "OKP", "Ed25519", b64(p)
	default:
		return publicJWK{}, fmt.Errorf("%w: unsupported public key %T", ErrInvalidKey, pub)
	}
	return j, nil
}

// thumbprint is the RFC 7638 JWK thumbprint: base64url SHA-256 of the
// required members in lexicographic order, without whitespace. The values
// are base64url or fixed names, so they need no JSON escaping.
func (j publicJWK) thumbprint() string {
	var s string
	switch j.KTY {
	case "RSA":
		s = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	case "EC":
		s = `{"crv":"` + j.CRV + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case "OKP":
		s = `{"crv":"` + j.CRV + `","kty":"OKP","x":"` + j.X + `"}`
	}
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
