package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
)

// validConfig returns a valid configuration with one client that uses every
// channel; test cases break one thing each.
func validConfig() *config.Config {
	c := config.Default()
	c.Issuer = "https://login.example.com"
	c.Keys.Files = []string{"/etc/signoff/rs256.pem"}
	c.Clients = []config.Client{{
		ClientID:               "app1",
		RedirectURIs:           []string{"https://app1.example.com/callback"},
		PostLogoutRedirectURIs: []string{"https://app1.example.com/bye", "com.example.app1:/logout"},
		FrontchannelLogoutURI:  "https://app1.example.com:443/fc?x=1",
		BackchannelLogoutURI:   "https://app1.example.com/bc?tenant=a",
		WebhookURI:             "https://hooks.example.com/signoff",
		WebhookSecret:          "s",
	}, {
		ClientID:                 "app2",
		IDTokenSignedResponseAlg: "EdDSA",
		BackchannelLogoutURI:     "http://127.0.0.2:9002/bc",
	}}
	return c
}

func TestValidateValid(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *config.Config)
	}{
		{"as built", func(*config.Config) {}},
		{"loopback issuer over http", func(c *config.Config) { c.Issuer = "http://localhost:8080/" }},
		{"ipv6 loopback over http", func(c *config.Config) { c.Clients[0].PostLogoutRedirectURIs = []string{"http://[::1]:9001/bye"} }},
		{"http anywhere when allowed", func(c *config.Config) {
			c.AllowInsecureHTTP = true
			c.Issuer = "http://login.internal"
			c.Clients[1].BackchannelLogoutURI = "http://app2.internal/bc"
		}},
		{"public client on loopback http with allow_insecure_http", func(c *config.Config) {
			c.AllowInsecureHTTP = true
			c.Clients[1].TokenEndpointAuthMethod = "none"
			c.Clients[1].PostLogoutRedirectURIs = []string{"http://127.0.0.1:9000/bye", "com.example.app:/bye"}
			c.Clients[1].BackchannelLogoutURI = "http://localhost:9000/bc"
		}},
		{"public client over https", func(c *config.Config) { c.Clients[0].TokenEndpointAuthMethod = "none" }},
		{"confidential client methods", func(c *config.Config) {
			c.Clients[0].TokenEndpointAuthMethod = "private_key_jwt"
			c.Clients[1].TokenEndpointAuthMethod = "client_secret_basic"
		}},
		{"generate_dir instead of files", func(c *config.Config) {
			c.Keys = config.Keys{GenerateDir: "./.data/keys"}
		}},
		{"frontchannel without redirect_uris", func(c *config.Config) { c.Clients[0].RedirectURIs = nil }},
		{"frontchannel matches with default port", func(c *config.Config) {
			c.Clients[0].FrontchannelLogoutURI = "https://APP1.example.com/fc"
		}},
		{"listen on all interfaces", func(c *config.Config) { c.Listen = ":8080" }},
		{"no clients", func(c *config.Config) { c.Clients = nil }},
		{"nil client_id_redirect", func(c *config.Config) { c.Logout.ClientIDRedirect = nil }},
		{"upper-case log level", func(c *config.Config) { c.Log.Level = "WARN" }},
		{"nats.listen on loopback without a token", func(c *config.Config) { c.NATS.Listen = "localhost:4222" }},
		{"nats.listen open with a token", func(c *config.Config) {
			c.NATS.Listen, c.NATS.ListenToken = ":4222", "0123456789abcdef-._~XYZ"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.modify(c)
			assert.NoError(t, c.Validate())
		})
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *config.Config)
		want   string
	}{
		// issuer and public_url
		{"missing issuer", func(c *config.Config) { c.Issuer = "" }, "issuer: required"},
		{"relative issuer", func(c *config.Config) { c.Issuer = "/login" }, "issuer: must be an absolute URL"},
		{"issuer over http", func(c *config.Config) { c.Issuer = "http://login.example.com" }, "issuer: must use https"},
		{"issuer with query", func(c *config.Config) { c.Issuer = "https://login.example.com/?a=b" }, "issuer: must not have a query"},
		{"issuer with fragment", func(c *config.Config) { c.Issuer = "https://login.example.com/#x" }, "issuer: must not have a fragment"},
		{"issuer with other scheme", func(c *config.Config) { c.Issuer = "ftp://login.example.com" }, `issuer: scheme "ftp" is not allowed: use https (http only on a loopback host`},
		{"public_url over http", func(c *config.Config) { c.PublicURL = "http://public.example.com" }, "public_url: must use https"},
		{"public_url with query", func(c *config.Config) { c.PublicURL = "https://public.example.com?x" }, "public_url: must not have a query"},
		// server
		{"listen without port", func(c *config.Config) { c.Listen = "localhost" }, "listen: \"localhost\" must be host:port"},
		{"listen with bad port", func(c *config.Config) { c.Listen = "localhost:http" }, "listen: \"localhost:http\" must have a port number"},
		{"nats.listen bad", func(c *config.Config) { c.NATS.Listen = "4222" }, "nats.listen:"},
		{"nats.listen open without a token", func(c *config.Config) { c.NATS.Listen = "0.0.0.0:4222" }, `nats.listen: "0.0.0.0:4222" is not a loopback address: set nats.listen_token`},
		{"nats.listen_token without nats.listen", func(c *config.Config) { c.NATS.ListenToken = "0123456789abcdef" }, "nats.listen_token: applies to the embedded server's nats.listen only"},
		{"nats.listen_token short", func(c *config.Config) {
			c.NATS.Listen, c.NATS.ListenToken = "0.0.0.0:4222", "short"
		}, "nats.listen_token: must be at least 16 characters"},
		{"nats.listen_token with @", func(c *config.Config) {
			c.NATS.Listen, c.NATS.ListenToken = "0.0.0.0:4222", "0123456789abcdef@"
		}, "nats.listen_token: must be at least 16 characters among letters"},
		{"session_cookie bad", func(c *config.Config) { c.SessionCookie = "my session" }, "session_cookie:"},
		{"log level", func(c *config.Config) { c.Log.Level = "verbose" }, "log.level: \"verbose\" is not one of"},
		{"log format", func(c *config.Config) { c.Log.Format = "xml" }, "log.format:"},
		{"nats.replicas zero", func(c *config.Config) { c.NATS.Replicas = 0 }, "nats.replicas: must be between 1 and 5"},
		{"nats.replicas six", func(c *config.Config) { c.NATS.Replicas = 6 }, "nats.replicas:"},
		{"nats.event_retention", func(c *config.Config) { c.NATS.EventRetention = 0 }, "nats.event_retention: must be positive"},
		// public clients (RIL-33, FCL-5, BCL-3)
		{"unknown token_endpoint_auth_method", func(c *config.Config) { c.Clients[0].TokenEndpointAuthMethod = "secret" }, `clients[0].token_endpoint_auth_method: "secret" is not one of none, client_secret_basic`},
		{"public client's post_logout_redirect_uri over http", func(c *config.Config) {
			c.AllowInsecureHTTP = true
			c.Clients[1].TokenEndpointAuthMethod = "none"
			c.Clients[1].PostLogoutRedirectURIs = []string{"https://app2.example.com/ok", "http://app2.internal/bye"}
		}, "clients[1].post_logout_redirect_uris[1]: must use https: a public client (token_endpoint_auth_method: none) may use http only on a loopback host, even with allow_insecure_http"},
		{"public client's backchannel_logout_uri over http", func(c *config.Config) {
			c.AllowInsecureHTTP = true
			c.Clients[1].TokenEndpointAuthMethod = "none"
			c.Clients[1].BackchannelLogoutURI = "http://app2.internal/bc"
		}, "clients[1].backchannel_logout_uri: must use https: a public client"},
		{"public client's frontchannel_logout_uri over http", func(c *config.Config) {
			c.AllowInsecureHTTP = true
			c.Clients[0].TokenEndpointAuthMethod = "none"
			c.Clients[0].RedirectURIs = []string{"http://app1.internal/cb"}
			c.Clients[0].FrontchannelLogoutURI = "http://app1.internal/fc"
		}, "clients[0].frontchannel_logout_uri: must use https: a public client"},
		// id_token_hint
		{"both jwks sources", func(c *config.Config) {
			c.IDTokenHint.JWKSURI = "https://idp.example.com/jwks"
			c.IDTokenHint.JWKSFile = "/etc/jwks.json"
		}, "id_token_hint: set at most one of jwks_uri and jwks_file"},
		{"jwks_uri over http", func(c *config.Config) { c.IDTokenHint.JWKSURI = "http://idp.example.com/jwks" }, "id_token_hint.jwks_uri: must use https"},
		{"alg none", func(c *config.Config) { c.IDTokenHint.Algorithms = []string{"RS256", "none"} }, `id_token_hint.algorithms[1]: "none" is never allowed`},
		{"alg HS256", func(c *config.Config) { c.IDTokenHint.Algorithms = []string{"HS256"} }, `id_token_hint.algorithms[0]: HMAC algorithm "HS256" is not allowed`},
		{"alg HS512", func(c *config.Config) { c.IDTokenHint.Algorithms = []string{"ES256", "HS512"} }, "id_token_hint.algorithms[1]: HMAC"},
		{"alg unknown", func(c *config.Config) { c.IDTokenHint.Algorithms = []string{"RS1"} }, `id_token_hint.algorithms[0]: unsupported algorithm "RS1"`},
		{"alg duplicate", func(c *config.Config) { c.IDTokenHint.Algorithms = []string{"RS256", "RS256"} }, `id_token_hint.algorithms[1]: duplicate "RS256"`},
		{"alg empty list", func(c *config.Config) { c.IDTokenHint.Algorithms = nil }, "id_token_hint.algorithms: must list at least one"},
		// keys
		{"no keys", func(c *config.Config) { c.Keys = config.Keys{} }, "keys: set keys.files, or keys.generate_dir for dev mode"},
		{"both key sources", func(c *config.Config) { c.Keys.GenerateDir = "/tmp" }, "keys: set keys.files or keys.generate_dir, not both"},
		{"empty key file", func(c *config.Config) { c.Keys.Files = []string{" "} }, "keys.files[0]: must not be empty"},
		// logout
		{"wait zero", func(c *config.Config) { c.Logout.Wait = 0 }, "logout.wait: must be positive and at most 1m0s"},
		{"wait too long", func(c *config.Config) { c.Logout.Wait = 61 * time.Second }, "logout.wait:"},
		{"frontchannel_timeout", func(c *config.Config) { c.Logout.FrontchannelTimeout = -time.Second }, "logout.frontchannel_timeout: must be positive"},
		{"path without slash", func(c *config.Config) { c.Logout.Paths = []string{"logout"} }, `logout.paths[0]: "logout" must start with /`},
		{"path with wildcard", func(c *config.Config) { c.Logout.Paths = []string{"/logout/:x"} }, "logout.paths[0]: \"/logout/:x\" must be a plain path"},
		{"path escaped", func(c *config.Config) { c.Logout.Paths = []string{"/d%C3%A9connexion"} }, "write it unescaped"},
		{"path is endsession", func(c *config.Config) { c.Logout.Paths = []string{"/connect/endsession"} }, "logout.paths[0]: \"/connect/endsession\" is always served"},
		{"path under api", func(c *config.Config) { c.Logout.Paths = []string{"/ok", "/api/logout"} }, "logout.paths[1]: \"/api/logout\" clashes"},
		{"path under well-known", func(c *config.Config) { c.Logout.Paths = []string{"/.well-known/logout"} }, "logout.paths[0]:"},
		{"path duplicate", func(c *config.Config) { c.Logout.Paths = []string{"/logout", "/logout"} }, `logout.paths[1]: duplicate "/logout"`},
		{"signed_out_url relative", func(c *config.Config) { c.Logout.SignedOutURL = "/bye" }, "logout.signed_out_url: must be an absolute URL"},
		{"signed_out_url is an application's", func(c *config.Config) { c.Logout.SignedOutURL = "https://app1.example.com/bye" },
			`logout.signed_out_url: "https://app1.example.com/bye" is on the origin of a post_logout_redirect_uri of clients[0] (app1)`},
		{"signed_out_url on an application's origin", func(c *config.Config) { c.Logout.SignedOutURL = "https://APP1.example.com:443/other?x=1" },
			`is on the origin of a post_logout_redirect_uri of clients[0] (app1)`},
		// sessions
		{"retention", func(c *config.Config) { c.Sessions.Retention = 0 }, "sessions.retention: must be positive"},
		{"max_clients", func(c *config.Config) { c.Sessions.MaxClients = 0 }, "sessions.max_clients: must be positive"},
		// clients
		{"client_id missing", func(c *config.Config) { c.Clients[1].ClientID = "" }, "clients[1].client_id: required"},
		{"client_id duplicate", func(c *config.Config) { c.Clients[1].ClientID = "app1" }, `clients[1].client_id: duplicate "app1" (first at clients[0])`},
		{"client_id with dot", func(c *config.Config) { c.Clients[0].ClientID = "app.one" }, `clients[0].client_id: "app.one" must be usable as a NATS subject token`},
		{"client_id with wildcard", func(c *config.Config) { c.Clients[0].ClientID = "app*" }, "per-client NATS subjects"},
		{"client_id with >", func(c *config.Config) { c.Clients[0].ClientID = "app>" }, "clients[0].client_id:"},
		{"client_id with space", func(c *config.Config) { c.Clients[0].ClientID = "app one" }, "clients[0].client_id:"},
		{"client_id non-ASCII", func(c *config.Config) { c.Clients[0].ClientID = "appé" }, "clients[0].client_id:"},
		{"client_id too long", func(c *config.Config) { c.Clients[0].ClientID = strings.Repeat("a", 129) }, "clients[0].client_id:"},
		{"redirect_uri fragment", func(c *config.Config) { c.Clients[0].RedirectURIs[0] += "#top" }, "clients[0].redirect_uris[0]: must not have a fragment"},
		{"redirect_uri javascript", func(c *config.Config) {
			c.Clients[0].RedirectURIs = append(c.Clients[0].RedirectURIs, "javascript:alert(1)")
		}, `clients[0].redirect_uris[1]: scheme "javascript" is not allowed`},
		{"post_logout data", func(c *config.Config) { c.Clients[0].PostLogoutRedirectURIs[0] = "data:text/html,hi" }, `clients[0].post_logout_redirect_uris[0]: scheme "data" is not allowed`},
		{"post_logout fragment", func(c *config.Config) {
			c.Clients[0].PostLogoutRedirectURIs = append(c.Clients[0].PostLogoutRedirectURIs, "https://app1.example.com/x#")
		}, "clients[0].post_logout_redirect_uris[2]: must not have a fragment"},
		{"post_logout http", func(c *config.Config) { c.Clients[0].PostLogoutRedirectURIs[0] = "http://app1.example.com/bye" }, "clients[0].post_logout_redirect_uris[0]: must use https"},
		{"post_logout relative", func(c *config.Config) { c.Clients[0].PostLogoutRedirectURIs[0] = "/bye" }, "clients[0].post_logout_redirect_uris[0]: must be an absolute URL"},
		{"post_logout empty", func(c *config.Config) { c.Clients[0].PostLogoutRedirectURIs[0] = "" }, "clients[0].post_logout_redirect_uris[0]: must not be empty"},
		{"post_logout no host", func(c *config.Config) { c.Clients[0].PostLogoutRedirectURIs[0] = "https:///bye" }, "clients[0].post_logout_redirect_uris[0]: must have a host"},
		{"frontchannel fragment", func(c *config.Config) { c.Clients[0].FrontchannelLogoutURI += "#f" }, "clients[0].frontchannel_logout_uri: must not have a fragment"},
		{"frontchannel custom scheme", func(c *config.Config) { c.Clients[0].FrontchannelLogoutURI = "com.example.app:/fc" }, `clients[0].frontchannel_logout_uri: scheme "com.example.app" is not allowed`},
		{"frontchannel other host (FCL-4)", func(c *config.Config) { c.Clients[0].FrontchannelLogoutURI = "https://other.example.com/fc" }, "clients[0].frontchannel_logout_uri: scheme, host and port must be those of one of clients[0].redirect_uris"},
		{"frontchannel other port (FCL-4)", func(c *config.Config) { c.Clients[0].FrontchannelLogoutURI = "https://app1.example.com:8443/fc" }, "(FCL-4)"},
		{"backchannel http", func(c *config.Config) { c.Clients[1].BackchannelLogoutURI = "http://app2.example.com/bc" }, "clients[1].backchannel_logout_uri: must use https"},
		{"backchannel fragment", func(c *config.Config) { c.Clients[1].BackchannelLogoutURI += "#x" }, "clients[1].backchannel_logout_uri: must not have a fragment"},
		{"backchannel relative", func(c *config.Config) { c.Clients[1].BackchannelLogoutURI = "bc" }, "clients[1].backchannel_logout_uri: must be an absolute URL"},
		{"signing alg", func(c *config.Config) { c.Clients[1].IDTokenSignedResponseAlg = "HS256" }, `clients[1].id_token_signed_response_alg: "HS256" is not one of`},
		{"signing alg none", func(c *config.Config) { c.Clients[1].IDTokenSignedResponseAlg = "none" }, "clients[1].id_token_signed_response_alg:"},
		{"webhook without secret", func(c *config.Config) { c.Clients[0].WebhookSecret = "" }, "clients[0].webhook_secret: required when webhook_uri is set"},
		{"webhook over http", func(c *config.Config) { c.Clients[0].WebhookURI = "http://hooks.example.com" }, "clients[0].webhook_uri: must use https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.modify(c)
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Len(t, problems(err), 1, "one broken rule, one problem: %v", err)
		})
	}
}

// problems splits a Validate error into its joined problems.
func problems(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := validConfig()
	c.Issuer = ""
	c.Logout.Wait = 0
	c.Clients[1].ClientID = "app1"
	c.Clients[0].PostLogoutRedirectURIs[0] += "#frag"
	c.Keys = config.Keys{}

	err := c.Validate()
	require.Error(t, err)
	got := problems(err)
	want := []string{
		"issuer: required",
		"keys: set keys.files, or keys.generate_dir for dev mode",
		"logout.wait: must be positive",
		"clients[0].post_logout_redirect_uris[0]: must not have a fragment",
		`clients[1].client_id: duplicate "app1"`,
	}
	require.Len(t, got, len(want), "%v", err)
	for i, w := range want {
		assert.True(t, strings.HasPrefix(got[i].Error(), w), "problem %d: got %q, want prefix %q", i, got[i], w)
	}
}
