package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
)

// maxHintLength bounds the size of a hint Verify will look at. ID tokens
// are a few kilobytes at most.
const maxHintLength = 16 << 10

// DefaultHintAlgorithms returns the hint algorithms allowed when
// config.IDTokenHint.Algorithms is empty.
func DefaultHintAlgorithms() []string { return []string{RS256, ES256, EdDSA, "PS256"} }

// hintAlgorithms returns the asymmetric JWS algorithms a hint may use. none
// and the HMAC algorithms are never allowed (RIL-9, RIL-10).
func hintAlgorithms() []string {
	return []string{
		"RS256", "RS384", "RS512",
		"PS256", "PS384", "PS512",
		"ES256", "ES384", "ES512",
		"EdDSA",
	}
}

// Hint is a verified id_token_hint (RP-Initiated Logout 1.0 §2).
type Hint struct {
	// Issuer is iss; it always equals the verifier's issuer.
	Issuer string
	// Subject is sub.
	Subject string
	// SID is sid, empty when the ID token has none.
	SID string
	// AuthorizedParty is azp, empty when the ID token has none.
	AuthorizedParty string
	// Audience is aud, never empty.
	Audience []string
	// IssuedAt is iat, zero when the ID token has none.
	IssuedAt time.Time
	// ExpiresAt is exp.
	ExpiresAt time.Time
	// Expired reports that exp has passed. An expired hint is still a valid
	// hint (RIL-11); the caller decides what it may still be used for.
	Expired bool
}

// ClientIDs returns the clients the ID token was issued to, those for which
// IssuedTo is true: azp alone when azp is set (and in aud), else aud.
func (h *Hint) ClientIDs() []string {
	if h.AuthorizedParty != "" {
		if slices.Contains(h.Audience, h.AuthorizedParty) {
			return []string{h.AuthorizedParty}
		}
		return nil
	}
	return slices.Clone(h.Audience)
}

// IssuedTo reports whether the ID token was issued to clientID: aud contains
// it and, when azp is set, azp equals it (RIL-16; OpenID Connect Core 1.0
// §2).
func (h *Hint) IssuedTo(clientID string) bool {
	if clientID == "" || !slices.Contains(h.Audience, clientID) {
		return false
	}
	return h.AuthorizedParty == "" || h.AuthorizedParty == clientID
}

// HintError is the error Verify returns. It wraps ErrInvalidHint and the
// underlying cause, and logs itself through slog.
type HintError struct {
	// Reason says in a few words why the hint was rejected, such as
	// "signature does not verify" or "iss does not match".
	Reason string
	// Err is the underlying error, if any.
	Err error
}

// Error returns "keys: invalid id_token_hint: <reason>".
func (e *HintError) Error() string { return ErrInvalidHint.Error() + ": " + e.Reason }

// Unwrap returns ErrInvalidHint and the cause.
func (e *HintError) Unwrap() []error { return []error{ErrInvalidHint, e.Err} }

// LogValue logs the reason and the cause.
func (e *HintError) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("reason", e.Reason)}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// invalid returns a *HintError.
func invalid(cause error, format string, args ...any) *HintError {
	return &HintError{Reason: fmt.Sprintf(format, args...), Err: cause}
}

// HintOption changes how NewHintVerifier builds a HintVerifier.
type HintOption func(*hintOptions)

type hintOptions struct {
	logger          *slog.Logger
	refreshInterval time.Duration // periodic jwks_uri refresh
	unknownKIDEvery time.Duration // at most one refresh on unknown kid per this
}

// WithLogger sets the logger for background jwks_uri refresh failures.
// Without it they go to slog.Default().
func WithLogger(logger *slog.Logger) HintOption {
	return func(o *hintOptions) { o.logger = logger }
}

// HintVerifier verifies id_token_hint values (RP-Initiated Logout 1.0 §2,
// §4; spec RIL-8..11). It is safe for concurrent use.
type HintVerifier struct {
	issuer string
	algs   []string
	parser *jwt.Parser
	store  jwkset.Storage
	cancel context.CancelFunc // stops the jwks_uri refresher, if any
	now    func() time.Time
}

// NewHintVerifier returns a verifier of hints issued by issuer. The keys
// come from cfg.JWKSURI (fetched now, refreshed hourly in the background
// until ctx ends or Close is called, and refreshed at most once a minute
// when a hint names an unknown kid), or from cfg.JWKSFile (read once), or,
// when both are empty, from own, signoff's signing keys. httpClient fetches
// the jwks_uri; nil means a client with a 10 s timeout. A jwks_uri that
// cannot be fetched now is logged, not fatal: hints fail until it can be.
// cfg.Algorithms defaults to DefaultHintAlgorithms and must not list none
// or an HMAC algorithm.
func NewHintVerifier(ctx context.Context, cfg config.IDTokenHint, issuer string, own *Set,
	httpClient *http.Client, opts ...HintOption) (*HintVerifier, error) {
	o := hintOptions{refreshInterval: time.Hour, unknownKIDEvery: time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if issuer == "" {
		return nil, fmt.Errorf("%w: the issuer is empty", ErrConfig)
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultHintAlgorithms()
	}
	for _, alg := range algs {
		if allowed := hintAlgorithms(); !slices.Contains(allowed, alg) {
			return nil, fmt.Errorf("%w %q for id_token_hint: allow only %s",
				ErrUnsupportedAlgorithm, alg, strings.Join(allowed, ", "))
		}
	}
	v := &HintVerifier{
		issuer: issuer,
		algs:   slices.Clone(algs),
		parser: jwt.NewParser(
			jwt.WithValidMethods(slices.Clone(algs)),
			jwt.WithoutClaimsValidation(), // exp is reported, not enforced; iss is checked in Verify
			jwt.WithStrictDecoding(),
		),
		cancel: func() {},
		now:    time.Now,
	}
	var err error
	switch {
	case cfg.JWKSURI != "" && cfg.JWKSFile != "":
		return nil, fmt.Errorf("%w: set at most one of id_token_hint.jwks_uri and jwks_file", ErrConfig)
	case cfg.JWKSURI != "":
		v.store, v.cancel, err = remoteKeys(ctx, cfg.JWKSURI, httpClient, o)
	case cfg.JWKSFile != "":
		v.store, err = fileKeys(ctx, cfg.JWKSFile)
	case own != nil:
		v.store, err = ownKeys(ctx, own)
	default:
		return nil, fmt.Errorf("%w: no jwks_uri, no jwks_file and no own keys to verify hints with", ErrConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("loading id_token_hint keys: %w", err)
	}
	return v, nil
}

// Close stops the background refresh of the jwks_uri keys. It is safe to
// call more than once, and a no-op for the other key sources.
func (v *HintVerifier) Close() { v.cancel() }

// hintClaims are the claims Verify reads.
type hintClaims struct {
	jwt.RegisteredClaims
	SID    string          `json:"sid"`
	AZP    string          `json:"azp"`
	Events json.RawMessage `json:"events"`
	// What access tokens carry and ID tokens do not: an IdP's access
	// token, signed with the same keys, is no hint (it travels to APIs).
	Scope    json.RawMessage `json:"scope"`     // RFC 9068, Auth0
	SCP      json.RawMessage `json:"scp"`       // Microsoft Entra ID, Okta
	TokenUse any             `json:"token_use"` // Amazon Cognito: "id" or "access"
	Typ      any             `json:"typ"`       // Keycloak: "ID" or "Bearer"
}

// accessToken reports whether c has the marks of an access token.
func (c *hintClaims) accessToken() bool {
	use, _ := c.TokenUse.(string)
	typ, _ := c.Typ.(string)
	return c.Scope != nil || c.SCP != nil || use != "" && use != "id" ||
		strings.EqualFold(typ, "Bearer") || strings.EqualFold(typ, "Refresh")
}

// clockSkew is how far ahead of this clock an IdP's may be: a hint
// issued, or valid from, later than that is refused. (Five minutes, as
// most OIDC libraries allow.)
const clockSkew = 5 * time.Minute

// Verify checks raw as an id_token_hint and returns its claims. The
// signature must verify with a key of the verifier (ctx bounds a refresh of
// the jwks_uri on an unknown kid), the alg must be allowed, iss must equal
// the issuer exactly, and sub, aud and exp must be present. A past exp is
// not an error: the Hint says Expired (RIL-11). Every error is a *HintError
// wrapping ErrInvalidHint.
func (v *HintVerifier) Verify(ctx context.Context, raw string) (*Hint, error) {
	switch {
	case raw == "":
		return nil, invalid(nil, "empty")
	case len(raw) > maxHintLength:
		return nil, invalid(nil, "longer than %d bytes", maxHintLength)
	}
	var c hintClaims
	tok, err := v.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		return v.keyFor(ctx, t)
	})
	if err != nil {
		return nil, v.classify(tok, err)
	}
	// RFC 7515 §4.1.11: a recipient that does not understand every
	// extension listed in crit must reject the JWS. We understand none.
	if crit, ok := tok.Header["crit"]; ok {
		return nil, invalid(nil, "crit header %v: no extension is supported", crit)
	}
	if typ, ok := tok.Header["typ"]; ok {
		if s, isString := typ.(string); !isString || !idTokenType(s) {
			return nil, invalid(nil, "typ %q is not an ID token's", fmt.Sprint(typ))
		}
	}
	switch {
	case c.Events != nil:
		return nil, invalid(nil, "a logout token is not an ID token")
	case c.accessToken():
		return nil, invalid(nil, "an access token is not an ID token")
	case c.NotBefore != nil && c.NotBefore.After(v.now().Add(clockSkew)):
		return nil, invalid(nil, "nbf is in the future")
	case c.IssuedAt != nil && c.IssuedAt.After(v.now().Add(clockSkew)):
		return nil, invalid(nil, "iat is in the future")
	case c.Issuer != v.issuer:
		return nil, invalid(nil, "iss does not match")
	case c.Subject == "":
		return nil, invalid(nil, "sub is missing")
	case !event.ValidText(c.Subject) || !event.ValidText(c.SID):
		// A lone surrogate escape (\udc80) decodes to U+FFFD: another
		// token's sid or sub could read the same.
		return nil, invalid(nil, "sub or sid is not UTF-8 text (or holds a control character)")
	case len(c.Audience) == 0 || slices.Contains(c.Audience, ""):
		return nil, invalid(nil, "aud is missing or empty")
	case c.ExpiresAt == nil:
		return nil, invalid(nil, "exp is missing")
	}
	h := &Hint{
		Issuer:          c.Issuer,
		Subject:         c.Subject,
		SID:             c.SID,
		AuthorizedParty: c.AZP,
		Audience:        []string(c.Audience),
		ExpiresAt:       c.ExpiresAt.Time,
	}
	if c.IssuedAt != nil {
		h.IssuedAt = c.IssuedAt.Time
	}
	h.Expired = !v.now().Before(h.ExpiresAt)
	return h, nil
}

// idTokenType reports whether a typ header fits an ID token: explicitly
// typed JWTs (logout+jwt, at+jwt and every other "+jwt", RFC 8725 §3.11)
// are other kinds of token signed by the same keys.
func idTokenType(typ string) bool {
	return !strings.HasSuffix(strings.ToLower(typ), "+jwt")
}

// classify turns a parse error into a *HintError with a clear reason.
func (v *HintVerifier) classify(tok *jwt.Token, err error) *HintError {
	var alg string
	if tok != nil {
		alg, _ = tok.Header["alg"].(string)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid(err, "malformed token")
	case strings.EqualFold(alg, "none"):
		return invalid(err, "alg none is not allowed")
	case alg == "":
		return invalid(err, "alg is missing")
	case tok.Method == nil || !slices.Contains(v.algs, alg):
		return invalid(err, "alg %q is not allowed", alg)
	case errors.Is(err, errUnknownKID):
		return invalid(err, "unknown kid")
	case errors.Is(err, errNoUsableKey):
		return invalid(err, "no key for alg %s", alg)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid(err, "signature does not verify")
	}
	return invalid(err, "cannot be verified")
}
