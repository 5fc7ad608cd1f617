//go:build unix

package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
)

// jwk is a public key from jwks_uri.
type jwk struct {
	alg string
	pub crypto.PublicKey
}

// fetchKeys reads the front's JWK Set at jwksURI.
func fetchKeys(ctx context.Context, c *http.Client, jwksURI string) (map[string]jwk, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURI, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", jwksURI, resp.StatusCode)
	}
	var set struct {
		Keys []struct {
			Kty, Use, Alg, Kid, Crv, N, E, X, Y string
			D                                   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", jwksURI, err)
	}
	keys := map[string]jwk{}
	for _, k := range set.Keys {
		if k.D != "" {
			return nil, fmt.Errorf("%s publishes a private key (kid %q)", jwksURI, k.Kid)
		}
		if k.Kid == "" || k.Use != "sig" {
			return nil, fmt.Errorf("%s: key without kid or not use sig: %+v", jwksURI, k)
		}
		var pub crypto.PublicKey
		switch {
		case k.Kty == "RSA" && k.Alg == "RS256":
			n, e := b64int(k.N), b64int(k.E)
			if n == nil || e == nil || !e.IsInt64() {
				return nil, fmt.Errorf("%s: bad RSA key %q", jwksURI, k.Kid)
			}
			pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case k.Kty == "EC" && k.Alg == "ES256" && k.Crv == "P-256":
			x, y := b64int(k.X), b64int(k.Y)
			if x == nil || y == nil {
				return nil, fmt.Errorf("%s: bad EC key %q", jwksURI, k.Kid)
			}
			pub = &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
		case k.Kty == "OKP" && k.Alg == "EdDSA" && k.Crv == "Ed25519":
			x, err := base64.RawURLEncoding.DecodeString(k.X)
			if err != nil || len(x) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("%s: bad Ed25519 key %q", jwksURI, k.Kid)
			}
			pub = ed25519.PublicKey(x)
		default:
			return nil, fmt.Errorf("%s: unexpected key kty %q alg %q crv %q", jwksURI, k.Kty, k.Alg, k.Crv)
		}
		keys[k.Kid] = jwk{alg: k.Alg, pub: pub}
	}
	return keys, nil
}

func b64int(s string) *big.Int {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil
	}
	return new(big.Int).SetBytes(b)
}
