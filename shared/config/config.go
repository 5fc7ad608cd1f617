package config

import "time"

// Config is the whole signoff configuration. The zero value is not useful:
// start from Default, or build one from a file and the environment with Load.
// A Config is plain data; callers treat it as read-only once validated.
type Config struct {
	// Issuer is the iss of logout tokens, the discovery issuer, and the iss
	// that an id_token_hint must carry.
	Issuer string `yaml:"issuer"`
	// Listen is host:port of the front's HTTP listener.
	Listen string `yaml:"listen"`
	// PublicURL is the external base URL under which the front's endpoints
	// are advertised in discovery. Empty means the issuer.
	PublicURL string `yaml:"public_url"`
	// AllowInsecureHTTP permits http URLs on non-loopback hosts. Loopback
	// hosts may always use http.
	AllowInsecureHTTP bool `yaml:"allow_insecure_http"`
	// Log configures logging.
	Log Log `yaml:"log"`

	// NATS says where NATS is, or how to run the embedded server.
	NATS NATS `yaml:"nats"`
	// API configures the authenticated /api/v1 endpoints.
	API API `yaml:"api"`
	// SessionCookie optionally names the IdP's session cookie, whose value
	// is the sid. It finds the session when a request has no id_token_hint,
	// and is expired when that session ends.
	SessionCookie string `yaml:"session_cookie"`
	// IDTokenHint says how id_token_hint signatures are verified.
	IDTokenHint IDTokenHint `yaml:"id_token_hint"`
	// Keys configures the logout token signing keys.
	Keys Keys `yaml:"keys"`
	// Logout configures the end-session endpoint.
	Logout Logout `yaml:"logout"`
	// Sessions configures the session index.
	Sessions Sessions `yaml:"sessions"`
	// Clients are the registered relying parties. Only the file sets them;
	// NewRegistry indexes them by client_id.
	Clients []Client `yaml:"clients"`
}

// Log configures the slog logger.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json or text.
	Format string `yaml:"format"`
}

// NATS says where NATS is, or how to run the embedded server.
type NATS struct {
	// URL is the NATS server URL(s), comma separated; empty means the
	// embedded server.
	URL string `yaml:"url"`
	// CredentialsFile is an optional NATS .creds file for an external server.
	CredentialsFile string `yaml:"credentials_file"`
	// StoreDir is where the embedded server keeps JetStream data.
	StoreDir string `yaml:"store_dir"`
	// Listen is host:port on which the embedded server also accepts TCP
	// clients (custom apps, examples). Empty means in-process only.
	Listen string `yaml:"listen"`
	// ListenToken, when set, is the token every client of the embedded
	// server must present (nats://<token>@host:port). Required unless
	// Listen is a loopback address.
	ListenToken string `yaml:"listen_token"`
	// Replicas is the replica count of the streams signoff declares.
	Replicas int `yaml:"replicas"`
	// EventRetention is how long logout events stay in their stream.
	EventRetention time.Duration `yaml:"event_retention"`
}

// API configures the authenticated /api/v1 endpoints.
type API struct {
	// Token is the bearer token for /api/v1. Empty disables the API.
	Token string `yaml:"token"`
}

// IDTokenHint says which keys sign the ID tokens that hints carry. When both
// are empty, hints are verified against signoff's own signing keys (the
// deployment where signoff holds the IdP's keys, BCL-18).
type IDTokenHint struct {
	// JWKSURI is the URL of the IdP's JWK Set. At most one of JWKSURI and
	// JWKSFile is set.
	JWKSURI string `yaml:"jwks_uri"`
	// JWKSFile is a local file with the IdP's JWK Set.
	JWKSFile string `yaml:"jwks_file"`
	// Algorithms is the allow-list of hint algorithms. Never none, never
	// HMAC. Default: RS256, ES256, EdDSA, PS256.
	Algorithms []string `yaml:"algorithms"`
}

// Keys configures the keys that sign logout tokens and are published at
// jwks_uri.
type Keys struct {
	// Files are PEM or JWK/JWK Set files with private keys. Several keys
	// per algorithm may be listed; the first of each algorithm signs, all
	// are published, so keys rotate without a gap.
	Files []string `yaml:"files"`
	// GenerateDir, in dev mode, is a folder where a key for every needed
	// algorithm is generated on first start and kept.
	GenerateDir string `yaml:"generate_dir"`
}

// Logout configures the end-session endpoint.
type Logout struct {
	// Wait bounds how long the front waits for back-channel deliveries
	// before it answers the browser. Default 2s.
	Wait time.Duration `yaml:"wait"`
	// RequireClientOrHint, when true, answers 400 to a request with neither
	// id_token_hint nor client_id (strict mode). Default false: such a
	// request is accepted after the person confirms.
	RequireClientOrHint bool `yaml:"require_client_or_hint"`
	// ClientIDRedirect lets client_id without id_token_hint carry a
	// post_logout_redirect_uri, after the person confirms (spec RIL-23).
	// Default true.
	ClientIDRedirect *bool `yaml:"client_id_redirect"`
	// Paths are extra paths for the endpoint besides /connect/endsession,
	// such as /oauth2/logout. None may lie under /api/ or /.well-known/.
	Paths []string `yaml:"paths"`
	// SignedOutURL is shown after a logout without a redirect URI; empty
	// means signoff's own signed-out page.
	SignedOutURL string `yaml:"signed_out_url"`
	// FrontchannelTimeout limits how long the signed-out page waits for
	// each front-channel iframe. Default 3s.
	FrontchannelTimeout time.Duration `yaml:"frontchannel_timeout"`
	// ConfirmUnknownSessions, when true, asks the person before a hint
	// whose sid the index does not know ends that session (RP-Initiated
	// Logout §2: such a request SHOULD be treated as suspect). Default
	// false: it ends without a question, for IdPs that do not report every
	// session.
	ConfirmUnknownSessions bool `yaml:"confirm_unknown_sessions"`
}

// Sessions configures the session index.
type Sessions struct {
	// Retention is how long a session stays in the index after its last
	// change. Default 24h.
	Retention time.Duration `yaml:"retention"`
	// MaxClients bounds the clients recorded for one session. Default 64.
	MaxClients int `yaml:"max_clients"`
}

// Client is one registered relying party, with OIDC registration metadata
// names.
type Client struct {
	// ClientID identifies the client. It is also a token of per-client NATS
	// subjects, so it may not contain '.', '*', '>' or whitespace.
	ClientID string `yaml:"client_id"`
	// Name is shown to people on signoff's pages; default the client_id.
	Name string `yaml:"name"`
	// RedirectURIs are the client's login redirect URIs. signoff does not
	// redirect to them; they anchor the frontchannel_logout_uri origin
	// (Front-Channel Logout 1.0 §2, FCL-4).
	RedirectURIs []string `yaml:"redirect_uris"`
	// PostLogoutRedirectURIs are the URIs an end-session request may ask to
	// return to, matched exactly (RP-Initiated Logout 1.0 §3, RIL-22).
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	// FrontchannelLogoutURI is loaded in an iframe on the signed-out page
	// (Front-Channel Logout 1.0 §2).
	FrontchannelLogoutURI string `yaml:"frontchannel_logout_uri"`
	// FrontchannelLogoutSessionRequired asks for iss and sid on the
	// front-channel URI. Default false.
	FrontchannelLogoutSessionRequired bool `yaml:"frontchannel_logout_session_required"`
	// BackchannelLogoutURI receives logout tokens by POST (Back-Channel
	// Logout 1.0 §2.2). Its query, if any, is kept.
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
	// BackchannelLogoutSessionRequired asks for sid in every logout token.
	// Default false.
	BackchannelLogoutSessionRequired bool `yaml:"backchannel_logout_session_required"`
	// IDTokenSignedResponseAlg is the logout token's algorithm: RS256
	// (default), ES256 or EdDSA.
	IDTokenSignedResponseAlg string `yaml:"id_token_signed_response_alg"`
	// TokenEndpointAuthMethod is the client's registration metadata of
	// that name (RFC 7591 §2): "none" makes it a public client, whose
	// logout URIs may use http only on a loopback host, even with
	// allow_insecure_http (RIL-33, FCL-5, BCL-3). Default
	// client_secret_basic, a confidential client.
	TokenEndpointAuthMethod string `yaml:"token_endpoint_auth_method"`
	// WebhookURI receives signed JSON logout events (services/webhook).
	WebhookURI string `yaml:"webhook_uri"`
	// WebhookSecret is the HMAC-SHA256 key for webhook signatures; required
	// with WebhookURI.
	WebhookSecret string `yaml:"webhook_secret"`
	// LogoutEvents publishes this client's logouts on its own NATS subject
	// signoff.v1.logout.<client_id>, for custom apps that subscribe.
	// Default false.
	LogoutEvents bool `yaml:"logout_events"`
}
