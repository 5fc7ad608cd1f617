package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Timeouts of the jwks_uri fetches.
const (
	// jwksHTTPTimeout bounds one fetch of the jwks_uri.
	jwksHTTPTimeout = 10 * time.Second
	// unknownKIDWait bounds how long Verify waits for a refresh on an
	// unknown kid. When the rate limit allows no refresh within it, Verify
	// fails at once rather than waiting.
	unknownKIDWait = 5 * time.Second
)

// Reasons keyFor gives, classified by Verify.
var (
	errUnknownKID  = errors.New("unknown kid")
	errNoUsableKey = errors.New("no usable key")
)

// keyFor is the jwt.Keyfunc of Verify: the public key named by the kid
// header that fits the token's alg, or every fitting key when there is no
// kid.
func (v *HintVerifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	rawKID, hasKID := t.Header["kid"]
	if !hasKID {
		all, err := v.store.KeyReadAll(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading hint keys: %w", err)
		}
		var set jwt.VerificationKeySet
		for _, j := range all {
			if pub, ok := usableKey(j, alg); ok {
				set.Keys = append(set.Keys, pub)
			}
		}
		if len(set.Keys) == 0 {
			return nil, fmt.Errorf("%w for alg %s", errNoUsableKey, alg)
		}
		return set, nil
	}
	kid, ok := rawKID.(string)
	if !ok {
		return nil, fmt.Errorf("%w: kid is not a string", errUnknownKID)
	}
	j, err := v.store.KeyRead(ctx, kid)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", errUnknownKID, kid, err)
	}
	if pub, ok := usableKey(j, alg); ok {
		return pub, nil
	}
	// A JWK Set may hold keys of different kty under one kid (BCL-18).
	all, err := v.store.KeyReadAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading hint keys: %w", err)
	}
	for _, j := range all {
		if j.Marshal().KID != kid {
			continue
		}
		if pub, ok := usableKey(j, alg); ok {
			return pub, nil
		}
	}
	return nil, fmt.Errorf("%w: key %q does not fit alg %s", errNoUsableKey, kid, alg)
}

// usableKey returns the public key of j if it may verify a token of alg:
// its use is sig or unset, its alg is alg or unset, and its type fits alg.
// Symmetric keys never fit.
func usableKey(j jwkset.JWK, alg string) (crypto.PublicKey, bool) {
	m := j.Marshal()
	if (m.USE != "" && m.USE != jwkset.UseSig) || (m.ALG != "" && string(m.ALG) != alg) {
		return nil, false
	}
	key := j.Key()
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return k, true
		}
	case *ecdsa.PublicKey:
		return k, curveFor(alg) != "" && k.Curve.Params().Name == curveFor(alg)
	case ed25519.PublicKey:
		return k, alg == EdDSA
	}
	return nil, false
}

// curveFor returns the curve of an ECDSA alg, or "".
func curveFor(alg string) string {
	switch alg {
	case "ES256":
		return "P-256"
	case "ES384":
		return "P-384"
	case "ES512":
		return "P-521"
	}
	return ""
}

// remoteKeys returns the keys of a jwks_uri: fetched now, refreshed every
// o.refreshInterval until ctx ends or the returned cancel is called, and
// refreshed on an unknown kid at most once per o.unknownKIDEvery.
func remoteKeys(ctx context.Context, uri string, client *http.Client, o hintOptions) (jwkset.Storage, context.CancelFunc, error) {
	if client == nil {
		client = &http.Client{Timeout: jwksHTTPTimeout}
	}
	client = jwksClient(client)
	ctx, cancel := context.WithCancel(ctx)
	logger := o.logger.With("jwks_uri", uri)
	store, err := jwkset.NewStorageFromHTTP(uri, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       ctx,
		HTTPTimeout:               jwksHTTPTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler: func(ctx context.Context, err error) {
			logger.LogAttrs(ctx, slog.LevelError, "fetching id_token_hint JWK Set failed",
				slog.String("error", err.Error()))
		},
		RefreshInterval: o.refreshInterval,
	})
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("fetching %s: %w", uri, err)
	}
	keys, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{uri: store},
		RateLimitWaitMax:  unknownKIDWait,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(o.unknownKIDEvery), 1),
	})
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("creating JWK Set client for %s: %w", uri, err)
	}
	return keys, cancel, nil
}

// fileKeys returns the public keys of a JWK Set file, read once. Keys of a
// type signoff cannot verify with (oct, X25519, ...) are skipped; a file
// without any usable key is an error.
func fileKeys(ctx context.Context, path string) (jwkset.Storage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading JWK Set file: %w", err)
	}
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%w: decoding JWK Set file %s: %w", ErrInvalidKey, path, err)
	}
	var keys []jwkset.JWK
	for i, m := range set.Keys {
		if m.KTY == jwkset.KtyOct {
			continue
		}
		m.D = "" // only the public part is used
		j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if errors.Is(err, jwkset.ErrUnsupportedKey) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: JWK %d (kid %q) in %s: %w", ErrInvalidKey, i, m.KID, path, err)
		}
		if _, ok := usableKey(j, algForUsable(j)); ok {
			keys = append(keys, j)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %s holds no RSA, EC or Ed25519 signature key", ErrInvalidKey, path)
	}
	store := jwkset.NewMemoryStorage()
	if err := store.KeyReplaceAll(ctx, keys); err != nil {
		return nil, fmt.Errorf("storing keys of %s: %w", path, err)
	}
	return store, nil
}

// algForUsable returns an alg that j would verify, to test that j is a
// signature key at all.
func algForUsable(j jwkset.JWK) string {
	m := j.Marshal()
	if m.ALG != "" {
		return string(m.ALG)
	}
	switch m.CRV {
	case jwkset.CrvP256:
		return "ES256"
	case jwkset.CrvP384:
		return "ES384"
	case jwkset.CrvP521:
		return "ES512"
	case jwkset.CrvEd25519:
		return EdDSA
	}
	return RS256
}

// ownKeys returns the public keys of signoff's own signing keys, each
// bound to its alg.
func ownKeys(ctx context.Context, own *Set) (jwkset.Storage, error) {
	keys := make([]jwkset.JWK, 0, len(own.keys))
	for _, k := range own.keys {
		j, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.ALG(k.Alg), KID: k.KID, USE: jwkset.UseSig},
		})
		if err != nil {
			return nil, fmt.Errorf("converting key %q: %w", k.KID, err)
		}
		keys = append(keys, j)
	}
	store := jwkset.NewMemoryStorage()
	if err := store.KeyReplaceAll(ctx, keys); err != nil {
		return nil, fmt.Errorf("storing own keys: %w", err)
	}
	return store, nil
}

// maxJWKSBytes bounds a jwks_uri's answer: a JWK Set of a few dozen keys
// is a few tens of kilobytes.
const maxJWKSBytes = 1 << 20

// jwksClient returns a copy of c that follows no redirect (the keys are
// the jwks_uri's, not those of wherever it points: an https URI must not
// lead to http) and reads at most maxJWKSBytes of an answer.
func jwksClient(c *http.Client) *http.Client {
	out := *c
	out.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("jwks_uri redirects to %s: not followed", req.URL.Redacted())
	}
	base := out.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = limitedBody{base: base, max: maxJWKSBytes}
	return &out
}

// limitedBody is a RoundTripper whose answers fail to read past max bytes
// (http.MaxBytesReader, which needs no ResponseWriter to do that).
type limitedBody struct {
	base http.RoundTripper
	max  int64
}

func (l limitedBody) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = http.MaxBytesReader(nil, resp.Body, l.max)
	return resp, nil
}
