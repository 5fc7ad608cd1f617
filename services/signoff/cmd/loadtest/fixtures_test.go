package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

// testKeys are signing keys made the way measure makes its own: keys.Load
// generating them into a directory. set signs as the product does; es256
// is the private key behind set's ES256 signer, read back from its file, so
// that golang-jwt can sign tokens that break one rule with a real key.
type testKeys struct {
	set   *keys.Set
	es256 *ecdsa.PrivateKey
	kid   string // es256's kid, as published
}

func newTestKeys(t *testing.T, algs ...string) testKeys {
	t.Helper()
	dir := t.TempDir()
	set, err := keys.Load(config.Keys{GenerateDir: dir}, append([]string{keys.ES256}, algs...), nil)
	require.NoError(t, err)
	signer, err := set.Signer(keys.ES256)
	require.NoError(t, err)
	data, err := os.ReadFile(keys.GeneratedKeyPath(dir, keys.ES256))
	require.NoError(t, err)
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	es256, ok := priv.(*ecdsa.PrivateKey)
	require.True(t, ok, "generated ES256 key is %T", priv)
	return testKeys{set: set, es256: es256, kid: signer.KID}
}

// newTestReceivers starts receivers for s whose keys are ks's JWK Set,
// served by a small JWKS endpoint on loopback whose URL is also the issuer
// (as measure uses the product's base URL for both).
func newTestReceivers(t *testing.T, s scenario, ks testKeys) *receivers {
	t.Helper()
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ks.set.JWKS())
	}))
	t.Cleanup(jwks.Close)
	r := newReceivers(s)
	t.Cleanup(func() {
		select {
		case <-r.hang: // the test closed r itself
		default:
			r.close()
		}
	})
	require.NoError(t, r.loadJWKS(jwks.URL, jwks.URL))
	require.Len(t, r.keys, len(ks.set.Algorithms()))
	return r
}

// logoutToken is the product's logout token for client, from its own
// signer, with the sub measure registers for client.
func logoutToken(t *testing.T, ks testKeys, alg, issuer, client, sid string) string {
	t.Helper()
	tok, err := ks.set.LogoutToken(alg, issuer, client, "sub-"+client, sid, time.Now())
	require.NoError(t, err)
	return tok
}

// logoutClaims are the claims of a valid logout token for client, to be
// broken one at a time and signed with craft.
func logoutClaims(issuer, client, sid string) jwt.MapClaims {
	now := time.Now()
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	return jwt.MapClaims{
		"iss":    issuer,
		"aud":    client,
		"iat":    now.Unix(),
		"exp":    now.Add(keys.LogoutTokenLifetime).Unix(),
		"jti":    base64.RawURLEncoding.EncodeToString(jti[:]),
		"events": map[string]any{keys.BackchannelLogoutEvent: map[string]any{}},
		"sid":    sid,
		"sub":    "sub-" + client,
	}
}

// craft signs claims with golang-jwt and the real ES256 key, with the
// headers of a logout token (kid and typ logout+jwt); header, when not
// nil, changes them first.
func craft(t *testing.T, ks testKeys, claims jwt.MapClaims, header func(map[string]any)) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = ks.kid
	tok.Header["typ"] = keys.LogoutTokenType
	if header != nil {
		header(tok.Header)
	}
	raw, err := tok.SignedString(ks.es256)
	require.NoError(t, err)
	return raw
}

// postForm sends form to client's back-channel logout URI on r, as the
// product does, and returns the status and body of the answer.
func postForm(ctx context.Context, r *receivers, client string, form url.Values) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.srv.URL+"/c/"+client, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// post sends logout token raw to client and returns the answer's status
// and body.
func post(t *testing.T, r *receivers, client, raw string) (int, string) {
	t.Helper()
	code, body, err := postForm(t.Context(), r, client, url.Values{"logout_token": {raw}})
	require.NoError(t, err)
	return code, body
}

// recorded returns when client had sid's token, according to r.
func recorded(r *receivers, sid, client string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.got[sid][client]
	return at, ok
}
