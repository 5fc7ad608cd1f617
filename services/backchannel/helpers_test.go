package backchannel

import (
	"crypto"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/propagate"
)

const (
	issuer   = "https://idp.example.com"
	formType = "application/x-www-form-urlencoded"
)

// testKeys generates a key for each of algs in a temporary folder.
func testKeys(t testing.TB, algs ...string) *keys.Set {
	t.Helper()
	if len(algs) == 0 {
		algs = []string{keys.RS256, keys.ES256, keys.EdDSA}
	}
	ks, err := keys.Load(config.Keys{GenerateDir: t.TempDir()}, algs, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return ks
}

// delivery returns a delivery of a logout of session sid1 to c.
func delivery(c *config.Client, sub, sid string) *propagate.Delivery {
	return &propagate.Delivery{
		Event: &event.SessionEnded{
			LogoutID: "logout-1",
			SID:      sid,
			Sub:      "alice",
			Iss:      issuer,
			Clients:  []event.Participant{{ClientID: c.ClientID, Sub: sub}},
			Reason:   event.ReasonEndSession,
			Time:     time.Now(),
		},
		Client:  c,
		Sub:     sub,
		Kind:    Kind,
		Attempt: 1,
	}
}

// publicKey is a key of the published JWK Set.
type publicKey struct {
	alg string
	key crypto.PublicKey
}

// parseJWKS decodes the Set's published JWK Set, by kid, failing on a
// duplicate kid (BCL-18).
func parseJWKS(t testing.TB, ks *keys.Set) map[string]publicKey {
	t.Helper()
	var set jwkset.JWKSMarshal
	require.NoError(t, json.Unmarshal(ks.JWKS(), &set))
	out := make(map[string]publicKey, len(set.Keys))
	for _, m := range set.Keys {
		require.NotEmpty(t, m.KID)
		require.NotContains(t, out, m.KID, "duplicate kid")
		assert.Equal(t, jwkset.UseSig, m.USE)
		assert.Empty(t, m.D, "private key material published")
		j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		require.NoError(t, err)
		out[m.KID] = publicKey{alg: string(m.ALG), key: j.Key()}
	}
	return out
}

// received is one request a fake receiver got.
type received struct {
	contentType string
	query       string
	form        map[string][]string
	token       string
}

// receiver is a fake back-channel endpoint that records what it receives
// and answers status.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
}

func newReceiver(t testing.TB, status int) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, received{
			contentType: r.Header.Get("Content-Type"),
			query:       r.URL.RawQuery,
			form:        r.PostForm,
			token:       r.PostForm.Get("logout_token"),
		})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// wantToken is what a logout token must say.
type wantToken struct {
	alg, aud, sub, sid string
	iss                string // default issuer
}

// verifyToken checks every rule of a logout token (OIDC Back-Channel Logout
// 1.0 §2.4 with errata set 1, and the conformance suite's checks) and
// returns its jti. It only uses assert, so a receiver's handler may call it.
func verifyToken(t testing.TB, jwks map[string]publicKey, token string, want wantToken) string {
	t.Helper()
	if want.iss == "" {
		want.iss = issuer
	}
	var header map[string]any
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		header = tok.Header
		kid, _ := tok.Header["kid"].(string)
		k, ok := jwks[kid]
		if !ok {
			return nil, jwt.ErrTokenUnverifiable
		}
		if k.alg != tok.Method.Alg() {
			return nil, jwt.ErrTokenSignatureInvalid
		}
		return k.key, nil
	},
		jwt.WithValidMethods([]string{want.alg}), // BCL-17: never none
		jwt.WithIssuer(want.iss),
		jwt.WithAudience(want.aud),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
	)
	if !assert.NoError(t, err) || !assert.True(t, parsed.Valid) {
		return ""
	}

	assert.Equal(t, keys.LogoutTokenType, header["typ"], "BCL-20 typ")
	assert.Equal(t, want.alg, header["alg"], "BCL-17 alg")

	assert.Equal(t, want.iss, claims["iss"], "BCL-6 iss")
	assert.Equal(t, want.aud, claims["aud"], "BCL-7 aud: one audience, a string")
	iat, ok := claims["iat"].(float64)
	assert.True(t, ok, "BCL-8 iat")
	assert.InDelta(t, float64(time.Now().Unix()), iat, 5, "BCL-8 iat is now")
	exp, ok := claims["exp"].(float64)
	assert.True(t, ok, "BCL-9 exp")
	assert.Greater(t, exp, iat)
	assert.LessOrEqual(t, exp-iat, 120.0, "BCL-9 exp at most 2 minutes after iat")
	jti, _ := claims["jti"].(string)
	assert.NotEmpty(t, jti, "BCL-10 jti")
	assert.Equal(t, map[string]any{keys.BackchannelLogoutEvent: map[string]any{}}, claims["events"], "BCL-11 events")
	assert.NotContains(t, claims, "nonce", "BCL-15 no nonce")

	names := []string{"iss", "aud", "iat", "exp", "jti", "events"}
	if want.sid != "" {
		assert.Equal(t, want.sid, claims["sid"], "BCL-14 sid")
		names = append(names, "sid")
	}
	if want.sub != "" {
		assert.Equal(t, want.sub, claims["sub"], "BCL-13 sub")
		names = append(names, "sub")
	}
	got := make([]string, 0, len(claims))
	for name := range claims {
		got = append(got, name)
	}
	assert.ElementsMatch(t, names, got, "claims")
	return jti
}

// parseForm decodes an application/x-www-form-urlencoded body.
func parseForm(body []byte) (url.Values, error) {
	return url.ParseQuery(string(body))
}

// sidOf returns the sid claim of a token without verifying it, for checks
// that do not know which session a token ends but require that it names
// one.
func sidOf(token string) string {
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		return ""
	}
	sid, _ := claims["sid"].(string)
	if sid == "" {
		return "(missing)"
	}
	return sid
}
