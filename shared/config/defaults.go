package config

import (
	"log/slog"
	"slices"
	"strings"
	"time"
)

// EnvConfigFile is the environment variable that holds the path of the
// configuration file. Load does not read it: the caller resolves the -config
// flag and this variable, then passes the path to Load.
const EnvConfigFile = "SIGNOFF_CONFIG"

// EnvPrefix starts the name of every environment variable that overrides a
// configuration key.
const EnvPrefix = "SIGNOFF_"

// EnvDebugPprof is the one other variable of signoff's: the all-in-one
// serves net/http/pprof on that host:port.
const EnvDebugPprof = "SIGNOFF_DEBUG_PPROF"

// DefaultSigningAlg is the logout token algorithm of a client that sets no
// id_token_signed_response_alg (Back-Channel Logout 1.0 §2.6, BCL-17).
const DefaultSigningAlg = "RS256"

// Limits and well-known paths that Validate enforces.
const (
	maxLogoutWait     = 60 * time.Second
	maxReplicas       = 5
	maxClientIDLength = 128
	endSessionPath    = "/connect/endsession"
)

// Default returns the configuration that applies before any file or
// environment variable. It is not valid on its own: issuer and keys have no
// default. Each call returns a new Config that shares nothing with others.
func Default() *Config {
	clientIDRedirect := true
	return &Config{
		Listen: "127.0.0.1:8080",
		Log: Log{
			Level:  "info",
			Format: "json",
		},
		NATS: NATS{
			StoreDir:       "",
			Replicas:       1,
			EventRetention: 168 * time.Hour,
		},
		IDTokenHint: IDTokenHint{
			Algorithms: []string{"RS256", "ES256", "EdDSA", "PS256"},
		},
		Logout: Logout{
			Wait:                2 * time.Second,
			ClientIDRedirect:    &clientIDRedirect,
			FrontchannelTimeout: 3 * time.Second,
		},
		Sessions: Sessions{
			Retention:  24 * time.Hour,
			MaxClients: 64,
		},
	}
}

// PublicBaseURL returns the base URL under which the front's endpoints are
// advertised: public_url, or the issuer when it is unset, without a trailing
// slash. Append paths such as "/connect/endsession" to it.
func (c *Config) PublicBaseURL() string {
	base := c.PublicURL
	if base == "" {
		base = c.Issuer
	}
	return strings.TrimRight(base, "/")
}

// ClientIDRedirectAllowed reports whether a client_id without id_token_hint
// may carry a post_logout_redirect_uri, after the person confirms (RIL-23).
// It is true unless logout.client_id_redirect is explicitly false.
func (c *Config) ClientIDRedirectAllowed() bool {
	return c.Logout.ClientIDRedirect == nil || *c.Logout.ClientIDRedirect
}

// SigningAlgs returns the distinct logout token algorithms the clients need,
// sorted. DefaultSigningAlg is always among them, so the JWKS always has an
// RS256 key (Back-Channel Logout 1.0 §2.6).
func (c *Config) SigningAlgs() []string {
	algs := []string{DefaultSigningAlg}
	for i := range c.Clients {
		algs = append(algs, c.Clients[i].SigningAlg())
	}
	slices.Sort(algs)
	return slices.Compact(algs)
}

// SlogLevel returns log.level as a slog.Level. An unknown level, which
// Validate rejects, gives slog.LevelInfo.
func (l Log) SlogLevel() slog.Level {
	switch strings.ToLower(l.Level) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// logLevels and logFormats are the values Validate accepts for log.level and
// log.format, compared without regard to case.
func logLevels() []string  { return []string{"debug", "info", "warn", "error"} }
func logFormats() []string { return []string{"json", "text"} }

// clientSigningAlgs are the id_token_signed_response_alg values signoff can
// sign logout tokens with; "" means DefaultSigningAlg.
func clientSigningAlgs() []string { return []string{"", "RS256", "ES256", "EdDSA"} }

// tokenEndpointAuthMethods are the values of token_endpoint_auth_method
// registered for OAuth 2.0 (RFC 7591 §2, RFC 8705 §2), and "" for the
// default. Only "none", a public client, changes what signoff accepts.
func tokenEndpointAuthMethods() []string {
	return []string{"", "none", "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt",
		"tls_client_auth", "self_signed_tls_client_auth"}
}

// hintAlgorithms are the asymmetric JWS algorithms that
// id_token_hint.algorithms may allow. none and the HMAC algorithms are never
// allowed: a hint must be signed by the IdP's private key (RIL-8, RIL-10).
func hintAlgorithms() []string {
	return []string{
		"RS256", "RS384", "RS512",
		"PS256", "PS384", "PS512",
		"ES256", "ES384", "ES512",
		"EdDSA",
	}
}
