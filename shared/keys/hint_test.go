package keys_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

// hintConfig verifies hints with signoff's own keys and the default
// algorithms.
func hintConfig() config.IDTokenHint { return config.IDTokenHint{} }

// hintClaims are valid ID token claims for client-a.
func hintClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": issuer, "sub": "alice", "aud": "client-a", "sid": "sid-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// withClaim returns hintClaims with name set to value.
func withClaim(name string, value any) jwt.MapClaims {
	c := hintClaims()
	c[name] = value
	return c
}

// signWith signs claims with a key of the test's choosing and sets kid.
func signWith(t *testing.T, method jwt.SigningMethod, key any, kid any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != nil {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// withoutSignature replaces the header of token by header and drops the
// signature, as the conformance suite does for alg none.
func withoutSignature(t *testing.T, token string, header map[string]any, keepSig bool) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if !keepSig {
		parts[2] = ""
	}
	return b64JSON(t, header) + "." + parts[1] + "." + parts[2]
}

func TestHintVerifierOwnKeys(t *testing.T) {
	set := loadSet(t, "rsa", "ec", "ed")
	v, err := keys.NewHintVerifier(t.Context(), hintConfig(), issuer, set, nil)
	require.NoError(t, err)
	t.Cleanup(v.Close)
	kid := func(alg string) string {
		k, err := set.Signer(alg)
		require.NoError(t, err)
		return k.KID
	}
	mint := func(alg string, iat, exp time.Time) string {
		token, err := set.IDToken(alg, issuer, "client-a", "alice", "sid-1", iat, exp)
		require.NoError(t, err)
		return token
	}
	sign := func(claims jwt.Claims, typ string) string {
		token, err := set.Sign(keys.ES256, claims, typ)
		require.NoError(t, err)
		return token
	}
	now := time.Now()
	valid := mint(keys.ES256, now, now.Add(time.Hour))
	parts := strings.Split(valid, ".")

	var payload map[string]any
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &payload))
	payload["sub"] = "mallory"
	tampered := parts[0] + "." + b64JSON(t, payload) + "." + parts[2]
	flipped := []byte(parts[2])
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}

	clientClaims := jwt.MapClaims{"iss": "client-a", "aud": issuer, "sub": "client-a", "exp": now.Add(time.Hour).Unix()}
	clientKey := fixture("ec3")
	pubDER, err := x509.MarshalPKIXPublicKey(fixture("rsa").Public())
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	noSub, noExp := hintClaims(), hintClaims()
	delete(noSub, "sub")
	delete(noExp, "exp")
	multiAud := hintClaims()
	multiAud["aud"], multiAud["azp"] = []string{"client-b", "client-a"}, "client-a"

	tests := []struct {
		name       string
		token      string
		wantReason string // empty: accepted
		wantExpire bool
	}{
		{name: "RS256", token: mint(keys.RS256, now, now.Add(time.Hour))},
		{name: "ES256", token: valid},
		{name: "EdDSA", token: mint(keys.EdDSA, now, now.Add(time.Hour))},
		{name: "expired but valid (RIL-11)", token: mint(keys.ES256, now.Add(-2*time.Hour), now.Add(-time.Hour)), wantExpire: true},
		{name: "several audiences with azp", token: sign(multiAud, "JWT")},
		{name: "wrong iss", token: func() string {
			token, err := set.IDToken(keys.ES256, "https://evil.example.com", "client-a", "alice", "", now, now.Add(time.Hour))
			require.NoError(t, err)
			return token
		}(), wantReason: "iss does not match"},
		{name: "iss with a trailing slash", token: func() string {
			token, err := set.IDToken(keys.ES256, issuer+"/", "client-a", "alice", "", now, now.Add(time.Hour))
			require.NoError(t, err)
			return token
		}(), wantReason: "iss does not match"},
		{name: "alg none, signature removed (CERT)", token: withoutSignature(t, valid, map[string]any{"alg": "none"}, false), wantReason: "alg none is not allowed"},
		{name: "alg none with kid and the old signature", token: withoutSignature(t, valid, map[string]any{"alg": "none", "kid": kid(keys.ES256)}, true), wantReason: "alg none is not allowed"},
		{name: "alg NONE", token: withoutSignature(t, valid, map[string]any{"alg": "NONE"}, false), wantReason: "alg none is not allowed"},
		{name: "tampered payload", token: tampered, wantReason: "signature does not verify"},
		{name: "tampered signature", token: parts[0] + "." + parts[1] + "." + string(flipped), wantReason: "signature does not verify"},
		{name: "signed by a client key (CERT)", token: signWith(t, jwt.SigningMethodES256, clientKey, thumbprint(t, clientKey), clientClaims), wantReason: "unknown kid"},
		{name: "signed by a client key without kid", token: signWith(t, jwt.SigningMethodES256, clientKey, nil, hintClaims()), wantReason: "signature does not verify"},
		{name: "client key claiming our kid", token: signWith(t, jwt.SigningMethodES256, clientKey, kid(keys.ES256), hintClaims()), wantReason: "signature does not verify"},
		{name: "HS256 keyed with our public key", token: signWith(t, jwt.SigningMethodHS256, pubPEM, kid(keys.RS256), hintClaims()), wantReason: `alg "HS256" is not allowed`},
		{name: "HS256 keyed with our JWKS", token: signWith(t, jwt.SigningMethodHS256, set.JWKS(), nil, hintClaims()), wantReason: `alg "HS256" is not allowed`},
		{name: "PS256 with our RS256 key", token: signWith(t, jwt.SigningMethodPS256, fixture("rsa"), kid(keys.RS256), hintClaims()), wantReason: "no key for alg PS256"},
		{name: "ES256 header on our RSA kid", token: signWith(t, jwt.SigningMethodES256, fixture("ec"), kid(keys.RS256), hintClaims()), wantReason: "no key for alg ES256"},
		{name: "crit header (RFC 7515 §4.1.11)", token: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, hintClaims())
			tok.Header["kid"], tok.Header["crit"], tok.Header["x-unknown"] = kid(keys.ES256), []string{"x-unknown"}, 1
			s, err := tok.SignedString(fixture("ec"))
			require.NoError(t, err)
			return s
		}(), wantReason: "crit header"},
		{name: "crit b64 false", token: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, hintClaims())
			tok.Header["kid"], tok.Header["crit"], tok.Header["b64"] = kid(keys.ES256), []string{"b64"}, false
			s, err := tok.SignedString(fixture("ec"))
			require.NoError(t, err)
			return s
		}(), wantReason: "crit header"},
		{name: "kid is a number", token: signWith(t, jwt.SigningMethodES256, fixture("ec"), 7, hintClaims()), wantReason: "unknown kid"},
		{name: "logout token", token: func() string {
			token, err := set.LogoutToken(keys.ES256, issuer, "client-a", "alice", "sid-1", now)
			require.NoError(t, err)
			return token
		}(), wantReason: `typ "logout+jwt"`},
		{name: "logout claims without typ", token: sign(&keys.LogoutClaims{Issuer: issuer, Audience: "client-a", Subject: "alice", ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}, ""), wantReason: "a logout token is not an ID token"},
		{name: "access token", token: sign(hintClaims(), "at+jwt"), wantReason: `typ "at+jwt"`},
		{name: "access token with scope", token: sign(withClaim("scope", "openid profile"), "JWT"), wantReason: "an access token"},
		{name: "access token with scp", token: sign(withClaim("scp", []string{"read"}), "JWT"), wantReason: "an access token"},
		{name: "Cognito access token", token: sign(withClaim("token_use", "access"), "JWT"), wantReason: "an access token"},
		{name: "Cognito ID token", token: sign(withClaim("token_use", "id"), "JWT")},
		{name: "Keycloak access token", token: sign(withClaim("typ", "Bearer"), "JWT"), wantReason: "an access token"},
		{name: "Keycloak ID token", token: sign(withClaim("typ", "ID"), "JWT")},
		{name: "nbf in the future", token: sign(withClaim("nbf", now.Add(10*time.Minute).Unix()), "JWT"), wantReason: "nbf is in the future"},
		{name: "nbf within the clock skew", token: sign(withClaim("nbf", now.Add(4*time.Minute).Unix()), "JWT")},
		{name: "iat in the future", token: sign(withClaim("iat", now.Add(10*time.Minute).Unix()), "JWT"), wantReason: "iat is in the future"},
		{name: "no sub", token: sign(noSub, "JWT"), wantReason: "sub is missing"},
		{name: "sid that JSON changed", token: func() string {
			c := hintClaims()
			c["sid"] = "sid-\ufffd"
			return signWith(t, jwt.SigningMethodES256, fixture("ec"), kid(keys.ES256), c)
		}(), wantReason: "sub or sid is not UTF-8 text"},
		{name: "no exp", token: sign(noExp, "JWT"), wantReason: "exp is missing"},
		{name: "empty", token: "", wantReason: "empty"},
		{name: "too long", token: strings.Repeat("a", 20_000), wantReason: "longer than"},
		{name: "one segment", token: "garbage", wantReason: "malformed token"},
		{name: "four segments", token: valid + ".x", wantReason: "malformed token"},
		{name: "bad base64", token: "%%%.***.!!!", wantReason: "malformed token"},
		{name: "JSON array header", token: "W10." + parts[1] + "." + parts[2], wantReason: "malformed token"},
		{name: "no alg", token: withoutSignature(t, valid, map[string]any{"typ": "JWT"}, true), wantReason: "alg is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := v.Verify(t.Context(), tc.token)
			if tc.wantReason != "" {
				require.ErrorIs(t, err, keys.ErrInvalidHint)
				var he *keys.HintError
				require.ErrorAs(t, err, &he)
				assert.Contains(t, he.Reason, tc.wantReason)
				assert.Nil(t, h)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, issuer, h.Issuer)
			assert.Equal(t, "alice", h.Subject)
			assert.Equal(t, "sid-1", h.SID)
			assert.True(t, h.IssuedTo("client-a"))
			assert.Equal(t, tc.wantExpire, h.Expired)
			assert.False(t, h.ExpiresAt.IsZero())
			assert.False(t, h.IssuedAt.IsZero())
		})
	}
}

func TestHintVerifierAlgorithmAllowList(t *testing.T) {
	set := loadSet(t, "rsa", "ec")
	v, err := keys.NewHintVerifier(t.Context(), config.IDTokenHint{Algorithms: []string{keys.ES256}}, issuer, set, nil)
	require.NoError(t, err)
	now := time.Now()
	token, err := set.IDToken(keys.RS256, issuer, "client-a", "alice", "", now, now.Add(time.Hour))
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), token)
	require.ErrorIs(t, err, keys.ErrInvalidHint)
	assert.EqualError(t, err, `keys: invalid id_token_hint: alg "RS256" is not allowed`)
}

func TestNewHintVerifierConfigErrors(t *testing.T) {
	set := loadSet(t, "ec")
	tests := []struct {
		name    string
		cfg     config.IDTokenHint
		issuer  string
		own     *keys.Set
		wantErr error
	}{
		{name: "HMAC allowed", cfg: config.IDTokenHint{Algorithms: []string{"ES256", "HS256"}}, issuer: issuer, own: set, wantErr: keys.ErrUnsupportedAlgorithm},
		{name: "none allowed", cfg: config.IDTokenHint{Algorithms: []string{"none"}}, issuer: issuer, own: set, wantErr: keys.ErrUnsupportedAlgorithm},
		{name: "no issuer", issuer: "", own: set, wantErr: keys.ErrConfig},
		{name: "uri and file", cfg: config.IDTokenHint{JWKSURI: "https://idp.example.com/jwks", JWKSFile: "jwks.json"}, issuer: issuer, wantErr: keys.ErrConfig},
		{name: "no keys at all", issuer: issuer, wantErr: keys.ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keys.NewHintVerifier(t.Context(), tc.cfg, tc.issuer, tc.own, nil)
			assert.ErrorIs(t, err, tc.wantErr)
		})
	}
}

func TestHintIssuedTo(t *testing.T) {
	tests := []struct {
		name      string
		hint      keys.Hint
		wantIDs   []string
		issuedTo  []string
		notIssued []string
	}{
		{name: "one aud", hint: keys.Hint{Audience: []string{"a"}}, wantIDs: []string{"a"}, issuedTo: []string{"a"}, notIssued: []string{"b", ""}},
		{name: "several aud", hint: keys.Hint{Audience: []string{"a", "b"}}, wantIDs: []string{"a", "b"}, issuedTo: []string{"a", "b"}, notIssued: []string{"c"}},
		{name: "azp picks one aud", hint: keys.Hint{Audience: []string{"a", "b"}, AuthorizedParty: "b"}, wantIDs: []string{"b"}, issuedTo: []string{"b"}, notIssued: []string{"a"}},
		{name: "azp outside aud", hint: keys.Hint{Audience: []string{"a"}, AuthorizedParty: "b"}, wantIDs: nil, notIssued: []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.wantIDs, tc.hint.ClientIDs())
			for _, id := range tc.issuedTo {
				assert.True(t, tc.hint.IssuedTo(id), id)
			}
			for _, id := range tc.notIssued {
				assert.False(t, tc.hint.IssuedTo(id), id)
			}
		})
	}
}

func TestHintErrorLogsItself(t *testing.T) {
	err := error(&keys.HintError{Reason: "unknown kid", Err: errors.New("kid \"x\" not found")})
	assert.ErrorIs(t, err, keys.ErrInvalidHint)
	assert.EqualError(t, err, "keys: invalid id_token_hint: unknown kid")
	var he *keys.HintError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "[reason=unknown kid cause=kid \"x\" not found]", he.LogValue().String())
}
