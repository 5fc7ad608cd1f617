package config_test

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
)

// TestHasPostLogoutRedirectURI checks the exact, character-for-character
// match of RP-Initiated Logout 1.0 §3 (RIL-22, RIL-30).
func TestHasPostLogoutRedirectURI(t *testing.T) {
	cl := config.Client{
		ClientID: "app1",
		PostLogoutRedirectURIs: []string{
			"https://app1.example.com/signed-out",
			"https://app1.example.com/bye?from=signoff",
			"com.example.app1:/logout",
		},
	}
	tests := []struct {
		name string
		uri  string
		want bool
	}{
		{"registered", "https://app1.example.com/signed-out", true},
		{"registered with its query", "https://app1.example.com/bye?from=signoff", true},
		{"native app scheme", "com.example.app1:/logout", true},
		{"unregistered", "https://evil.example.com/signed-out", false},
		{"empty", "", false},
		{"trailing slash added", "https://app1.example.com/signed-out/", false},
		{"host case differs", "https://APP1.example.com/signed-out", false},
		{"path case differs", "https://app1.example.com/Signed-Out", false},
		{"scheme case differs", "HTTPS://app1.example.com/signed-out", false},
		{"query added", "https://app1.example.com/signed-out?foo=bar", false},
		{"empty query added", "https://app1.example.com/signed-out?", false},
		{"query changed", "https://app1.example.com/bye?from=other", false},
		{"query dropped", "https://app1.example.com/bye", false},
		{"fragment added", "https://app1.example.com/signed-out#x", false},
		{"default port made explicit", "https://app1.example.com:443/signed-out", false},
		{"prefix of registered", "https://app1.example.com/signed", false},
		{"registered as prefix", "https://app1.example.com/signed-out/../x", false},
		{"percent-encoded", "https://app1.example.com/signed%2Dout", false},
		{"blank added", " https://app1.example.com/signed-out", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, cl.HasPostLogoutRedirectURI(tc.uri))
		})
	}
}

func TestRegistry(t *testing.T) {
	clients := []config.Client{
		{ClientID: "app1", Name: "App One", PostLogoutRedirectURIs: []string{"https://a/x"}},
		{ClientID: "app2"},
		{ClientID: "app1", Name: "shadowed"},
	}
	reg := config.NewRegistry(clients)

	a, ok := reg.Client("app1")
	require.True(t, ok)
	assert.Equal(t, "App One", a.DisplayName(), "the first of duplicate ids wins")

	b, ok := reg.Client("app2")
	require.True(t, ok)
	assert.Equal(t, "app2", b.DisplayName(), "no name: the client_id")

	for _, id := range []string{"", "APP1", "app1 ", "app3"} {
		_, ok := reg.Client(id)
		assert.False(t, ok, "%q", id)
	}

	// The registry keeps its own copies, in order.
	clients[0].Name = "changed"
	clients[0].PostLogoutRedirectURIs[0] = "https://evil/x"
	a, _ = reg.Client("app1")
	assert.Equal(t, "App One", a.Name)
	assert.True(t, a.HasPostLogoutRedirectURI("https://a/x"))

	all := reg.Clients()
	require.Len(t, all, 3)
	assert.Equal(t, []string{"app1", "app2", "app1"}, []string{all[0].ClientID, all[1].ClientID, all[2].ClientID})
	all[1].ClientID = "mutated"
	b, ok = reg.Client("app2")
	require.True(t, ok)
	assert.Equal(t, "app2", b.ClientID)

	empty := config.NewRegistry(nil)
	assert.Empty(t, empty.Clients())
	_, ok = empty.Client("app1")
	assert.False(t, ok)
}

func TestConfigRegistry(t *testing.T) {
	c := validConfig()
	reg := c.Registry()
	assert.Len(t, reg.Clients(), len(c.Clients))
	cl, ok := reg.Client("app2")
	require.True(t, ok)
	assert.Equal(t, "EdDSA", cl.SigningAlg())
}

func TestChannels(t *testing.T) {
	assert.Nil(t, (&config.Client{ClientID: "none"}).Channels())
	all := config.Client{ClientID: "all", FrontchannelLogoutURI: "https://a.example/fc", BackchannelLogoutURI: "https://a.example/bc",
		WebhookURI: "https://a.example/hook", WebhookSecret: "s", LogoutEvents: true}
	assert.Equal(t, []string{"frontchannel", "backchannel", "webhook", "events"}, all.Channels())
	assert.Equal(t, []string{"webhook"}, (&config.Client{WebhookURI: "https://a.example/hook"}).Channels())

	reg := config.NewRegistry([]config.Client{all, {ClientID: "ev", LogoutEvents: true}})
	got, ok := reg.Channels("ev")
	assert.True(t, ok)
	assert.Equal(t, []string{"events"}, got)
	_, ok = reg.Channels("nobody")
	assert.False(t, ok)
}

func TestWithChannels(t *testing.T) {
	c := config.Client{ClientID: "app", Name: "App", BackchannelLogoutURI: "https://app.example/bc", WebhookSecret: "s",
		PostLogoutRedirectURIs: []string{"https://app.example/bye"}}
	// A channel named keeps the client's URI, or gets a stand-in.
	got := c.WithChannels([]string{"backchannel", "webhook", "events"})
	assert.Equal(t, "https://app.example/bc", got.BackchannelLogoutURI)
	assert.Equal(t, config.UnknownURI, got.WebhookURI)
	assert.True(t, got.LogoutEvents)
	assert.Empty(t, got.FrontchannelLogoutURI)
	assert.Equal(t, []string{"backchannel", "webhook", "events"}, got.Channels())
	// One not named is cleared; the rest of the client is as it was.
	got = c.WithChannels([]string{"frontchannel"})
	assert.Equal(t, []string{"frontchannel"}, got.Channels())
	assert.Empty(t, got.BackchannelLogoutURI)
	assert.Equal(t, "App", got.Name)
	assert.Equal(t, c.PostLogoutRedirectURIs, got.PostLogoutRedirectURIs)
	assert.Equal(t, "https://app.example/bc", c.BackchannelLogoutURI, "c itself is unchanged")
	none := c.WithChannels(nil)
	assert.Nil(t, none.Channels())
}

func TestSigningAlg(t *testing.T) {
	assert.Equal(t, "RS256", (&config.Client{}).SigningAlg())
	assert.Equal(t, "ES256", (&config.Client{IDTokenSignedResponseAlg: "ES256"}).SigningAlg())
}

func TestSigningAlgs(t *testing.T) {
	tests := []struct {
		name    string
		clients []config.Client
		want    []string
	}{
		{"no clients: RS256", nil, []string{"RS256"}},
		{"default only", []config.Client{{ClientID: "a"}}, []string{"RS256"}},
		{"distinct and sorted", []config.Client{
			{ClientID: "a", IDTokenSignedResponseAlg: "EdDSA"},
			{ClientID: "b", IDTokenSignedResponseAlg: "ES256"},
			{ClientID: "c", IDTokenSignedResponseAlg: "EdDSA"},
		}, []string{"ES256", "EdDSA", "RS256"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.Clients = tc.clients
			assert.Equal(t, tc.want, c.SigningAlgs())
		})
	}
}

func TestPublicBaseURL(t *testing.T) {
	tests := []struct {
		name      string
		issuer    string
		publicURL string
		want      string
	}{
		{"issuer", "https://login.example.com", "", "https://login.example.com"},
		{"issuer with trailing slash", "https://login.example.com/", "", "https://login.example.com"},
		{"issuer with path", "https://example.com/idp/", "", "https://example.com/idp"},
		{"public_url wins", "https://login.example.com", "https://edge.example.com/signoff/", "https://edge.example.com/signoff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.Issuer, c.PublicURL = tc.issuer, tc.publicURL
			assert.Equal(t, tc.want, c.PublicBaseURL())
		})
	}
}

func TestClientIDRedirectAllowed(t *testing.T) {
	no, yes := false, true
	c := config.Default()
	c.Logout.ClientIDRedirect = nil
	assert.True(t, c.ClientIDRedirectAllowed(), "unset means the default, true")
	c.Logout.ClientIDRedirect = &yes
	assert.True(t, c.ClientIDRedirectAllowed())
	c.Logout.ClientIDRedirect = &no
	assert.False(t, c.ClientIDRedirectAllowed())
}

func TestSlogLevel(t *testing.T) {
	tests := []struct {
		level string
		want  slog.Level
	}{
		{"debug", slog.LevelDebug},
		{"info", slog.LevelInfo},
		{"WARN", slog.LevelWarn},
		{"error", slog.LevelError},
	}
	for _, tc := range tests {
		t.Run(tc.level, func(t *testing.T) {
			assert.Equal(t, tc.want, config.Log{Level: tc.level}.SlogLevel())
		})
	}
}
