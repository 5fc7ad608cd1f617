package keys_test

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/keys"
)

// publishedKeyfunc verifies with the keys of a published JWK Set only, as
// an RP does: by kid, and the key's alg must be the token's.
func publishedKeyfunc(t *testing.T, set *keys.Set) jwt.Keyfunc {
	t.Helper()
	var published jwkset.JWKSMarshal
	require.NoError(t, json.Unmarshal(set.JWKS(), &published))
	store, err := published.ToStorage()
	require.NoError(t, err)
	return func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		j, err := store.KeyRead(t.Context(), kid)
		if err != nil {
			return nil, err
		}
		if j.Marshal().ALG.String() != tok.Method.Alg() || j.Marshal().USE != jwkset.UseSig {
			return nil, jwt.ErrTokenUnverifiable
		}
		return j.Key(), nil
	}
}

func TestLogoutToken(t *testing.T) {
	set := loadSet(t, "rsa", "ec", "ed")
	keyfunc := publishedKeyfunc(t, set)
	now := time.Now().Truncate(time.Second)
	jti := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

	tests := []struct {
		name, sub, sid string
	}{
		{name: "sub and sid", sub: "alice-pairwise", sid: "sid-123"},
		{name: "sid only", sid: "sid-123"},
		{name: "sub only (every session of the user)", sub: "alice"},
	}
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		for _, tc := range tests {
			t.Run(alg+"/"+tc.name, func(t *testing.T) {
				token, err := set.LogoutToken(alg, issuer, "client-a", tc.sub, tc.sid, now)
				require.NoError(t, err)

				parsed, err := jwt.Parse(token, keyfunc,
					jwt.WithValidMethods([]string{alg}),
					jwt.WithIssuer(issuer),
					jwt.WithAudience("client-a"),
					jwt.WithExpirationRequired(),
					jwt.WithIssuedAt(),
					jwt.WithTimeFunc(func() time.Time { return now }),
				)
				require.NoError(t, err, "verifies against the published JWK Set")
				k, err := set.Signer(alg)
				require.NoError(t, err)
				assert.Equal(t, map[string]any{"alg": alg, "kid": k.KID, "typ": "logout+jwt"}, parsed.Header)

				_, claims := segments(t, token)
				assert.Equal(t, issuer, claims["iss"])
				assert.Equal(t, "client-a", claims["aud"], "aud is one string")
				assert.InDelta(t, float64(now.Unix()), claims["iat"], 0)
				assert.InDelta(t, 120, claims["exp"].(float64)-claims["iat"].(float64), 0)
				assert.Regexp(t, jti, claims["jti"])
				assert.Equal(t, map[string]any{keys.BackchannelLogoutEvent: map[string]any{}}, claims["events"])
				assert.NotContains(t, claims, "nonce")
				assertOptional(t, claims, "sub", tc.sub)
				assertOptional(t, claims, "sid", tc.sid)

				payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
				require.NoError(t, err)
				assert.Contains(t, string(payload), `"events":{"http://schemas.openid.net/event/backchannel-logout":{}}`)

				var typed keys.LogoutClaims
				_, err = jwt.ParseWithClaims(token, &typed, keyfunc, jwt.WithTimeFunc(func() time.Time { return now }))
				require.NoError(t, err, "decodes into LogoutClaims")
				assert.Equal(t, tc.sid, typed.SessionID)
			})
		}
	}
}

// assertOptional checks that claims has name equal to want, or lacks it
// when want is empty.
func assertOptional(t *testing.T, claims map[string]any, name, want string) {
	t.Helper()
	if want == "" {
		assert.NotContains(t, claims, name)
		return
	}
	assert.Equal(t, want, claims[name])
}

func TestLogoutTokenJTIsAreUnique(t *testing.T) {
	set := loadSet(t, "ec")
	now := time.Now()
	seen := make(map[string]bool, 1000)
	for range 1000 {
		token, err := set.LogoutToken(keys.ES256, issuer, "client-a", "", "sid", now)
		require.NoError(t, err)
		_, claims := segments(t, token)
		jti := claims["jti"].(string)
		require.False(t, seen[jti], "jti %s repeats", jti)
		seen[jti] = true
	}
}

func TestLogoutTokenErrors(t *testing.T) {
	set := loadSet(t, "ec")
	tests := []struct {
		name, alg, iss, aud, sub, sid string
		wantErr                       error
	}{
		{name: "neither sub nor sid", alg: keys.ES256, iss: issuer, aud: "c", wantErr: keys.ErrNoSubOrSID},
		{name: "no issuer", alg: keys.ES256, aud: "c", sid: "s", wantErr: keys.ErrMissingClaim},
		{name: "no audience", alg: keys.ES256, iss: issuer, sid: "s", wantErr: keys.ErrMissingClaim},
		{name: "none", alg: "none", iss: issuer, aud: "c", sid: "s", wantErr: keys.ErrUnsupportedAlgorithm},
		{name: "no key for alg", alg: keys.RS256, iss: issuer, aud: "c", sid: "s", wantErr: keys.ErrNoKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := set.LogoutToken(tc.alg, tc.iss, tc.aud, tc.sub, tc.sid, time.Now())
			assert.ErrorIs(t, err, tc.wantErr)
		})
	}
}

func TestIDToken(t *testing.T) {
	set := loadSet(t, "ed")
	iat := time.Unix(1_700_000_000, 0)
	token, err := set.IDToken(keys.EdDSA, issuer, "client-a", "alice", "sid-1", iat, iat.Add(time.Hour))
	require.NoError(t, err)
	header, claims := segments(t, token)
	k, err := set.Signer(keys.EdDSA)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"alg": "EdDSA", "kid": k.KID, "typ": "JWT"}, header)
	assert.Equal(t, map[string]any{
		"iss": issuer, "sub": "alice", "aud": "client-a", "sid": "sid-1",
		"iat": float64(1_700_000_000), "exp": float64(1_700_003_600),
	}, claims)
}

func TestLogoutTokenClaimsMatchEncodingJSON(t *testing.T) {
	set := loadSet(t, "ed")
	tests := []struct {
		name, aud, sub, sid string
	}{
		{name: "plain", aud: "client-a", sub: "alice", sid: "sid-1"},
		{name: "needs escaping", aud: `client "a"`, sub: "a\\b<c>&d\u2028é\x01", sid: "\t"},
		{name: "invalid UTF-8", aud: "client-a", sid: "\xff\xfe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token, err := set.LogoutToken(keys.EdDSA, issuer, tc.aud, tc.sub, tc.sid, time.Now())
			require.NoError(t, err)
			payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
			require.NoError(t, err)
			var c keys.LogoutClaims
			require.NoError(t, json.Unmarshal(payload, &c))
			c.Audience, c.Subject, c.SessionID = tc.aud, tc.sub, tc.sid // as given, before any decoding
			want, err := json.Marshal(&c)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(payload), "byte for byte what encoding/json writes")
		})
	}
}

// AppendLogoutToken leaves what dst held and appends a token that verifies
// against the published keys, for every algorithm.
func TestAppendLogoutToken(t *testing.T) {
	set := loadSet(t, "rsa", "ec", "ed")
	keyfunc := publishedKeyfunc(t, set)
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		form, err := set.AppendLogoutToken([]byte("logout_token="), alg, issuer, "client-a", "alice", "sid-1", time.Time{})
		require.NoError(t, err)
		token, ok := strings.CutPrefix(string(form), "logout_token=")
		require.True(t, ok, alg)
		parsed, err := jwt.Parse(token, keyfunc, jwt.WithValidMethods([]string{alg}), jwt.WithIssuer(issuer), jwt.WithAudience("client-a"))
		require.NoError(t, err, alg)
		assert.Equal(t, "sid-1", parsed.Claims.(jwt.MapClaims)["sid"], alg)
	}
	_, err := set.AppendLogoutToken([]byte("x"), keys.ES256, issuer, "client-a", "", "", time.Time{})
	assert.ErrorIs(t, err, keys.ErrNoSubOrSID)
}
