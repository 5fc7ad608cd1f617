package rp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

// JWK Set refresh: periodically, and at most once a second on an unknown
// kid (a key signoff or the IdP just started to use).
const (
	jwksRefresh      = 5 * time.Minute
	jwksUnknownKID   = time.Second
	jwksHTTPTimeout  = 5 * time.Second
	jwksRateLimitMax = 3 * time.Second
)

// jwksKeys returns a jwt.Keyfunc over the JWK Set at uri, fetched now
// (a failure is logged, not returned: the keys are fetched again on the
// first token with an unknown kid) and refreshed until ctx ends.
func jwksKeys(ctx context.Context, uri string, client *http.Client, log *slog.Logger) (keyfunc.Keyfunc, error) {
	store, err := jwkset.NewStorageFromHTTP(uri, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       ctx,
		HTTPTimeout:               jwksHTTPTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshInterval:           jwksRefresh,
		RefreshErrorHandler: func(ctx context.Context, err error) {
			log.WarnContext(ctx, "fetching JWK Set failed", "jwks_uri", uri, "error", err)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("fetching JWK Set %s: %w", uri, err)
	}
	set, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{uri: store},
		RateLimitWaitMax:  jwksRateLimitMax,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(jwksUnknownKID), 1),
	})
	if err != nil {
		return nil, fmt.Errorf("creating JWK Set client for %s: %w", uri, err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: set, UseWhitelist: []jwkset.USE{jwkset.UseSig}})
	if err != nil {
		return nil, fmt.Errorf("creating keyfunc for %s: %w", uri, err)
	}
	return kf, nil
}

// provider is signoff as the app sees it: discovered once, on first use
// (signoff may start after the demo), then cached.
type provider struct {
	ctx    context.Context // ends the JWK Set refresh
	base   string          // signoff from the app's server
	issuer string
	http   *http.Client
	log    *slog.Logger

	mu         sync.Mutex
	endSession string // end_session_endpoint, for browsers
	keys       keyfunc.Keyfunc
}

func newProvider(ctx context.Context, base, issuer string, client *http.Client, log *slog.Logger) *provider {
	return &provider{ctx: ctx, base: strings.TrimRight(base, "/"), issuer: issuer, http: client, log: log}
}

// discovery is the part of signoff's discovery document the app uses.
type discovery struct {
	Issuer             string `json:"issuer"`
	EndSessionEndpoint string `json:"end_session_endpoint"`
	JWKSURI            string `json:"jwks_uri"`
}

// discover returns the end_session_endpoint and the logout token keys,
// fetching discovery on first success.
func (p *provider) discover(ctx context.Context) (string, keyfunc.Keyfunc, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys != nil {
		return p.endSession, p.keys, nil
	}
	u := p.base + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", nil, fmt.Errorf("building discovery request: %w", err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("fetching signoff's discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("fetching %s: %s", u, resp.Status)
	}
	var d discovery
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&d); err != nil {
		return "", nil, fmt.Errorf("decoding %s: %w", u, err)
	}
	switch {
	case d.Issuer != p.issuer:
		return "", nil, fmt.Errorf("discovery at %s: issuer %q, want %q", u, d.Issuer, p.issuer)
	case d.EndSessionEndpoint == "" || d.JWKSURI == "":
		return "", nil, errors.New("discovery at " + u + " lacks end_session_endpoint or jwks_uri")
	}
	keys, err := jwksKeys(p.ctx, p.internal(d.JWKSURI), p.http, p.log)
	if err != nil {
		return "", nil, err
	}
	p.endSession, p.keys = d.EndSessionEndpoint, keys
	p.log.InfoContext(ctx, "discovered signoff", "end_session_endpoint", d.EndSessionEndpoint, "jwks_uri", d.JWKSURI)
	return p.endSession, p.keys, nil
}

// internal maps a URL that discovery advertises under the issuer (for
// browsers, such as http://localhost:8080/...) to the same path under
// signoff's server-to-server base URL (such as http://proxy:8080/... in
// compose). Other URLs are kept.
func (p *provider) internal(u string) string {
	if rest, ok := strings.CutPrefix(u, strings.TrimRight(p.issuer, "/")+"/"); ok {
		return p.base + "/" + rest
	}
	return u
}
