package keys_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

// idp is a fake IdP jwks_uri over loopback HTTP that counts its fetches.
type idp struct {
	srv     *httptest.Server
	body    atomic.Pointer[[]byte]
	status  atomic.Int32
	fetches atomic.Int32
}

func newIDP(t *testing.T, sets ...*keys.Set) *idp {
	t.Helper()
	i := &idp{}
	i.publish(t, sets...)
	i.status.Store(http.StatusOK)
	i.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.fetches.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(int(i.status.Load()))
		_, _ = w.Write(*i.body.Load())
	}))
	t.Cleanup(i.srv.Close)
	return i
}

// publish makes the IdP serve the keys of sets, merged.
func (i *idp) publish(t *testing.T, sets ...*keys.Set) {
	t.Helper()
	var merged struct {
		Keys []json.RawMessage `json:"keys"`
	}
	merged.Keys = []json.RawMessage{}
	for _, s := range sets {
		var one struct {
			Keys []json.RawMessage `json:"keys"`
		}
		require.NoError(t, json.Unmarshal(s.JWKS(), &one))
		merged.Keys = append(merged.Keys, one.Keys...)
	}
	b, err := json.Marshal(merged)
	require.NoError(t, err)
	i.body.Store(&b)
}

func (i *idp) config() config.IDTokenHint {
	return config.IDTokenHint{JWKSURI: i.srv.URL + "/jwks"}
}

// idToken mints a valid ID token for client-a with the only key of set.
func idToken(t *testing.T, set *keys.Set) string {
	t.Helper()
	now := time.Now()
	token, err := set.IDToken(set.Algorithms()[0], issuer, "client-a", "alice", "sid-1", now, now.Add(time.Hour))
	require.NoError(t, err)
	return token
}

func newRemoteVerifier(t *testing.T, cfg config.IDTokenHint, opts ...keys.HintOption) *keys.HintVerifier {
	t.Helper()
	v, err := keys.NewHintVerifier(t.Context(), cfg, issuer, nil, &http.Client{Timeout: 5 * time.Second},
		append([]keys.HintOption{keys.WithLogger(discard)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(v.Close)
	return v
}

func TestHintVerifierJWKSURIRefreshesOnUnknownKID(t *testing.T) {
	oldKey, newKey := loadSet(t, "ec"), loadSet(t, "ed")
	server := newIDP(t, oldKey)
	v := newRemoteVerifier(t, server.config())
	assert.EqualValues(t, 1, server.fetches.Load(), "fetched at start")

	_, err := v.Verify(t.Context(), idToken(t, oldKey))
	require.NoError(t, err)
	assert.EqualValues(t, 1, server.fetches.Load(), "a known kid needs no fetch")

	server.publish(t, newKey, oldKey) // the IdP rotates in a new key
	h, err := v.Verify(t.Context(), idToken(t, newKey))
	require.NoError(t, err, "the unknown kid triggers a refresh")
	assert.Equal(t, "alice", h.Subject)
	assert.EqualValues(t, 2, server.fetches.Load())

	start := time.Now()
	for range 20 {
		_, err := v.Verify(t.Context(), idToken(t, loadSet(t, "ec2")))
		require.ErrorIs(t, err, keys.ErrInvalidHint)
		assert.Contains(t, err.Error(), "unknown kid")
	}
	assert.EqualValues(t, 2, server.fetches.Load(), "unknown kids do not hammer the IdP")
	assert.Less(t, time.Since(start), 2*time.Second, "a rate-limited refresh fails at once, it does not wait")
}

func TestHintVerifierJWKSURIAcceptsAKeyOnceItIsPublished(t *testing.T) {
	known, rotated := loadSet(t, "ec"), loadSet(t, "rsa")
	server := newIDP(t, known)
	v := newRemoteVerifier(t, server.config(), keys.WithUnknownKIDRefreshEvery(10*time.Millisecond))

	token := idToken(t, rotated)
	_, err := v.Verify(t.Context(), token)
	require.ErrorIs(t, err, keys.ErrInvalidHint)
	assert.EqualError(t, err, "keys: invalid id_token_hint: unknown kid")

	server.publish(t, known, rotated)
	_, err = v.Verify(t.Context(), token)
	require.NoError(t, err)
}

func TestHintVerifierJWKSURIUnreachableAtStart(t *testing.T) {
	set := loadSet(t, "ec")
	server := newIDP(t, set)
	server.status.Store(http.StatusServiceUnavailable)
	v := newRemoteVerifier(t, server.config(), keys.WithUnknownKIDRefreshEvery(10*time.Millisecond))

	_, err := v.Verify(t.Context(), idToken(t, set))
	require.ErrorIs(t, err, keys.ErrInvalidHint, "no keys yet")

	server.status.Store(http.StatusOK)
	_, err = v.Verify(t.Context(), idToken(t, set))
	require.NoError(t, err, "keys are fetched once the IdP is back")
}

func TestHintVerifierJWKSURIRejectsForeignTokens(t *testing.T) {
	set := loadSet(t, "ec")
	server := newIDP(t, set)
	v := newRemoteVerifier(t, server.config())
	now := time.Now()
	wrongIss, err := set.IDToken(keys.ES256, "https://other.example.com", "client-a", "alice", "", now, now.Add(time.Hour))
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), wrongIss)
	assert.EqualError(t, err, "keys: invalid id_token_hint: iss does not match")

	expired, err := set.IDToken(keys.ES256, issuer, "client-a", "alice", "", now.Add(-2*time.Hour), now.Add(-time.Hour))
	require.NoError(t, err)
	h, err := v.Verify(t.Context(), expired)
	require.NoError(t, err)
	assert.True(t, h.Expired)
}

func TestHintVerifierJWKSFile(t *testing.T) {
	set, other := loadSet(t, "rsa", "ec"), loadSet(t, "ec2")
	var jwks struct {
		Keys []any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(set.JWKS(), &jwks))
	jwks.Keys = append(jwks.Keys,
		map[string]string{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
		map[string]string{"kty": "OKP", "crv": "X25519", "kid": "ecdh", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"},
	)
	data, err := json.Marshal(jwks)
	require.NoError(t, err)
	dir := t.TempDir()
	path := writeFile(t, dir, "jwks.json", data)

	v, err := keys.NewHintVerifier(t.Context(), config.IDTokenHint{JWKSFile: path}, issuer, other, nil)
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), idToken(t, set))
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), idToken(t, other))
	require.ErrorIs(t, err, keys.ErrInvalidHint, "own keys are not used when a file is set")

	for name, content := range map[string]string{
		"only-hmac.json": `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`,
		"broken.json":    `{"keys":`,
	} {
		_, err := keys.NewHintVerifier(t.Context(), config.IDTokenHint{JWKSFile: writeFile(t, dir, name, []byte(content))}, issuer, nil, nil)
		assert.ErrorIs(t, err, keys.ErrInvalidKey, name)
	}
	_, err = keys.NewHintVerifier(t.Context(), config.IDTokenHint{JWKSFile: filepath.Join(dir, "missing.json")}, issuer, nil, nil)
	assert.Error(t, err)
}

// TestHintVerifierJWKSURIFollowsNoRedirect: the keys are the jwks_uri's
// own: one that redirects elsewhere (from https to http, or to an
// attacker's keys) yields none, and hints fail.
func TestHintVerifierJWKSURIFollowsNoRedirect(t *testing.T) {
	set := loadSet(t, "ec")
	target := newIDP(t, set)
	redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL+"/jwks", http.StatusFound))
	t.Cleanup(redirect.Close)
	v := newRemoteVerifier(t, config.IDTokenHint{JWKSURI: redirect.URL + "/jwks"})
	_, err := v.Verify(t.Context(), idToken(t, set))
	require.ErrorIs(t, err, keys.ErrInvalidHint)
	assert.Zero(t, target.fetches.Load(), "the redirect is not followed")
}

// TestHintVerifierJWKSURIBoundsItsAnswer: an answer over a megabyte is not
// read whole, and yields no keys.
func TestHintVerifierJWKSURIBoundsItsAnswer(t *testing.T) {
	set := loadSet(t, "ec")
	server := newIDP(t, set)
	padded := append(bytes.Repeat([]byte(" "), 2<<20), *server.body.Load()...)
	server.body.Store(&padded)
	v := newRemoteVerifier(t, server.config())
	_, err := v.Verify(t.Context(), idToken(t, set))
	require.ErrorIs(t, err, keys.ErrInvalidHint, "(the same keys unpadded verify: the tests above)")
}
