package keys_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/signoff/signoff/shared/keys"
)

// BenchmarkSign measures one logout token per op, the per-client cost of a
// logout fan-out: claims, jti, and the signature.
func BenchmarkSign(b *testing.B) {
	set := loadSet(b, "rsa", "ec", "ed")
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			now := time.Now()
			for b.Loop() {
				if _, err := set.LogoutToken(alg, issuer, "client-a", "alice", "sid-1", now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLogoutFanout measures the signing CPU of one logout that reaches
// K=10 clients.
func BenchmarkLogoutFanout(b *testing.B) {
	set := loadSet(b, "rsa", "ec", "ed")
	clients := []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"}
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		b.Run(alg+"/K=10", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				now := time.Now()
				for _, c := range clients {
					if _, err := set.LogoutToken(alg, issuer, c, "alice", "sid-1", now); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkBareRSASign is the floor for RS256: PKCS#1 v1.5 over a SHA-256
// digest with the same 2048-bit key, nothing else.
func BenchmarkBareRSASign(b *testing.B) {
	key := fixture("rsa").(*rsa.PrivateKey)
	digest := sha256.Sum256([]byte("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSJ9"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures one id_token_hint verification with own keys.
func BenchmarkVerify(b *testing.B) {
	set := loadSet(b, "rsa", "ec", "ed")
	v, err := keys.NewHintVerifier(b.Context(), hintConfig(), issuer, set, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			now := time.Now()
			token, err := set.IDToken(alg, issuer, "client-a", "alice", "sid-1", now, now.Add(time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
