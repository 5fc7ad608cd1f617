package keys_test

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/keys"
)

func TestJWKS(t *testing.T) {
	set := loadSet(t, "rsa", "ec", "ed", "ec2")
	raw := set.JWKS()
	assert.Equal(t, &raw[0], &set.JWKS()[0], "computed once, not per call")

	var members struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(raw, &members))
	require.Len(t, members.Keys, 4)
	required := map[string][]string{"RSA": {"n", "e"}, "EC": {"crv", "x", "y"}, "OKP": {"crv", "x"}}
	seen := map[string]bool{}
	for _, k := range members.Keys {
		kty, _ := k["kty"].(string)
		require.Contains(t, required, kty)
		for _, m := range append([]string{"kid", "alg"}, required[kty]...) {
			assert.NotEmpty(t, k[m], "%s key has %s", kty, m)
		}
		assert.Equal(t, "sig", k["use"])
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			assert.NotContains(t, k, private, "no private member %s is published", private)
		}
		id := fmt.Sprint(k["kid"], k["kty"], k["alg"])
		assert.False(t, seen[id], "no duplicate kid+kty+alg")
		seen[id] = true
	}

	var set2 jwkset.JWKSMarshal
	require.NoError(t, json.Unmarshal(raw, &set2))
	store, err := set2.ToStorage()
	require.NoError(t, err)
	for _, m := range set2.Keys {
		_, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		assert.NoError(t, err, "jwkset validates %s", m.KID)
	}
	for _, alg := range set.Algorithms() {
		k, err := set.Signer(alg)
		require.NoError(t, err)
		j, err := store.KeyRead(t.Context(), k.KID)
		require.NoError(t, err)
		assert.Equal(t, alg, j.Marshal().ALG.String())
		assert.True(t, k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(j.Key()))
	}
}

func TestSignHeadersAndVerifies(t *testing.T) {
	set := loadSet(t, "rsa", "ec", "ed")
	claims := jwt.RegisteredClaims{Issuer: issuer, Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		for _, typ := range []string{"", "JWT", keys.LogoutTokenType, "example+jwt"} {
			t.Run(alg+"/"+typ, func(t *testing.T) {
				token, err := set.Sign(alg, claims, typ)
				require.NoError(t, err)
				k, err := set.Signer(alg)
				require.NoError(t, err)
				parsed, err := jwt.ParseWithClaims(token, &jwt.RegisteredClaims{}, func(*jwt.Token) (any, error) {
					return k.Public(), nil
				}, jwt.WithValidMethods([]string{alg}), jwt.WithIssuer(issuer))
				require.NoError(t, err)
				assert.Equal(t, k.KID, parsed.Header["kid"])
				assert.Equal(t, alg, parsed.Header["alg"])
				if typ == "" {
					assert.NotContains(t, parsed.Header, "typ")
				} else {
					assert.Equal(t, typ, parsed.Header["typ"])
				}
			})
		}
	}
}

func TestSignErrors(t *testing.T) {
	set := loadSet(t, "ec")
	tests := []struct {
		name    string
		alg     string
		claims  jwt.Claims
		wantErr error
	}{
		{"none", "none", jwt.MapClaims{}, keys.ErrUnsupportedAlgorithm},
		{"HMAC", "HS256", jwt.MapClaims{}, keys.ErrUnsupportedAlgorithm},
		{"PS256", "PS256", jwt.MapClaims{}, keys.ErrUnsupportedAlgorithm},
		{"no key for alg", keys.EdDSA, jwt.MapClaims{}, keys.ErrNoKey},
		{"no key for the default alg", "", jwt.MapClaims{}, keys.ErrNoKey},
		{"nil claims", keys.ES256, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token, err := set.Sign(tc.alg, tc.claims, "")
			require.Error(t, err)
			assert.Empty(t, token)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
			}
		})
	}
}

func TestSignConcurrently(t *testing.T) {
	set := loadSet(t, "ec", "ed")
	v, err := keys.NewHintVerifier(t.Context(), hintConfig(), issuer, set, nil)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			alg := []string{keys.ES256, keys.EdDSA}[i%2]
			for range 20 {
				now := time.Now()
				token, err := set.IDToken(alg, issuer, "client", "alice", "sid", now, now.Add(time.Minute))
				if !assert.NoError(t, err) {
					return
				}
				_, err = v.Verify(context.Background(), token)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
}

func TestKeyNeverPrintsKeyMaterial(t *testing.T) {
	set := loadSet(t, "ec")
	k, err := set.Signer(keys.ES256)
	require.NoError(t, err)
	want := "ES256 key " + k.KID
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.Equal(t, want, fmt.Sprintf(verb, k), verb)
	}
}
