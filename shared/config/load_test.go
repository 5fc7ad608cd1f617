package config_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
)

// minimalYAML is the smallest valid file.
const minimalYAML = `
issuer: https://login.example.com
keys:
  generate_dir: /var/lib/signoff/keys
`

// writeFile writes content to a file in a fresh temporary folder and returns
// its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signoff.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// envOf returns a getenv that reads env.
func envOf(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestDefault(t *testing.T) {
	c := config.Default()
	assert.Equal(t, "127.0.0.1:8080", c.Listen)
	assert.Equal(t, 2*time.Second, c.Logout.Wait)
	assert.Equal(t, 3*time.Second, c.Logout.FrontchannelTimeout)
	require.NotNil(t, c.Logout.ClientIDRedirect)
	assert.True(t, *c.Logout.ClientIDRedirect)
	assert.True(t, c.ClientIDRedirectAllowed())
	assert.False(t, c.Logout.RequireClientOrHint)
	assert.Equal(t, 24*time.Hour, c.Sessions.Retention)
	assert.Equal(t, 64, c.Sessions.MaxClients)
	assert.Equal(t, 1, c.NATS.Replicas)
	assert.Equal(t, 168*time.Hour, c.NATS.EventRetention)
	assert.Empty(t, c.NATS.StoreDir)
	assert.Empty(t, c.NATS.URL)
	assert.Equal(t, config.Log{Level: "info", Format: "json"}, c.Log)
	assert.Equal(t, []string{"RS256", "ES256", "EdDSA", "PS256"}, c.IDTokenHint.Algorithms)

	// Calls share nothing.
	*config.Default().Logout.ClientIDRedirect = false
	config.Default().IDTokenHint.Algorithms[0] = "x"
	assert.True(t, *c.Logout.ClientIDRedirect)
	assert.Equal(t, "RS256", c.IDTokenHint.Algorithms[0])

	// Default alone lacks issuer and keys.
	err := c.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "issuer: required")
	assert.Contains(t, err.Error(), "keys: set keys.files, or keys.generate_dir for dev mode")
}

func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, minimalYAML+`
listen: 0.0.0.0:9000
nats:
  url: nats://file:4222
  replicas: 3
logout:
  wait: 5s
  client_id_redirect: false
  paths: [/oauth2/logout]
sessions:
  retention: 1h
`)
	tests := []struct {
		name  string
		path  string
		env   map[string]string
		check func(t *testing.T, c *config.Config)
	}{
		{
			name: "file overrides defaults and keeps the rest",
			path: file,
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, "0.0.0.0:9000", c.Listen)
				assert.Equal(t, "nats://file:4222", c.NATS.URL)
				assert.Equal(t, 3, c.NATS.Replicas)
				assert.Equal(t, 5*time.Second, c.Logout.Wait)
				assert.False(t, c.ClientIDRedirectAllowed())
				assert.Equal(t, []string{"/oauth2/logout"}, c.Logout.Paths)
				assert.Equal(t, time.Hour, c.Sessions.Retention)
				// Untouched by the file: defaults.
				assert.Equal(t, 3*time.Second, c.Logout.FrontchannelTimeout)
				assert.Equal(t, 64, c.Sessions.MaxClients)
				assert.Equal(t, 168*time.Hour, c.NATS.EventRetention)
			},
		},
		{
			name: "env overrides file",
			path: file,
			env: map[string]string{
				"SIGNOFF_NATS_URL":                  "nats://env:4222",
				"SIGNOFF_LOGOUT_WAIT":               "750ms",
				"SIGNOFF_LOGOUT_CLIENT_ID_REDIRECT": "true",
				"SIGNOFF_LOGOUT_PATHS":              "/a, /b",
				"SIGNOFF_SESSIONS_MAX_CLIENTS":      "8",
				"SIGNOFF_API_TOKEN":                 "s3cret",
			},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, "nats://env:4222", c.NATS.URL)
				assert.Equal(t, 750*time.Millisecond, c.Logout.Wait)
				assert.True(t, c.ClientIDRedirectAllowed())
				assert.Equal(t, []string{"/a", "/b"}, c.Logout.Paths)
				assert.Equal(t, 8, c.Sessions.MaxClients)
				assert.Equal(t, "s3cret", c.API.Token)
				assert.Equal(t, 3, c.NATS.Replicas, "keys without a variable keep the file's value")
			},
		},
		{
			name: "empty variable counts as unset",
			path: file,
			env:  map[string]string{"SIGNOFF_NATS_URL": ""},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, "nats://file:4222", c.NATS.URL)
			},
		},
		{
			name: "env alone, without a file",
			env: map[string]string{
				"SIGNOFF_ISSUER":              "http://localhost:8080",
				"SIGNOFF_KEYS_FILES":          "/k/a.pem,/k/b.pem",
				"SIGNOFF_ALLOW_INSECURE_HTTP": "1",
			},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, "http://localhost:8080", c.Issuer)
				assert.Equal(t, []string{"/k/a.pem", "/k/b.pem"}, c.Keys.Files)
				assert.True(t, c.AllowInsecureHTTP)
				assert.Equal(t, "127.0.0.1:8080", c.Listen)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(tc.path, envOf(tc.env))
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown top-level key",
			yaml: minimalYAML + "isuer: x\n",
			want: []string{"isuer: unknown key (line 5)", "the top level takes: issuer, listen"},
		},
		{
			name: "unknown nested key",
			yaml: minimalYAML + "logout:\n  wiat: 2s\n",
			want: []string{"logout.wiat: unknown key (line 6)", "logout takes: wait,"},
		},
		{
			name: "unknown client key, all reported",
			yaml: minimalYAML + "clients:\n  - client_id: a\n    redirect_uri: x\n  - client_id: b\n    secret: y\n",
			want: []string{
				"clients[0].redirect_uri: unknown key (line 7)",
				"clients[1].secret: unknown key (line 9)",
			},
		},
		{
			name: "bare number is not a duration",
			yaml: minimalYAML + "logout:\n  wait: 2\n",
			want: []string{"logout.wait: line 6: cannot unmarshal", "time.Duration (write a duration with a unit"},
		},
		{
			name: "bad duration string",
			yaml: minimalYAML + "sessions:\n  retention: soon\n",
			want: []string{"sessions.retention: line 6: cannot unmarshal"},
		},
		{
			name: "wrong type",
			yaml: minimalYAML + "nats:\n  replicas: many\n",
			want: []string{"nats.replicas: line 6: cannot unmarshal"},
		},
		{
			name: "scalar for a list, in a client",
			yaml: minimalYAML + "clients:\n  - client_id: a\n    redirect_uris: https://a/cb\n",
			want: []string{"clients[0].redirect_uris: line 7: cannot unmarshal"},
		},
		{
			name: "two documents",
			yaml: minimalYAML + "---\nissuer: x\n",
			want: []string{"second YAML document"},
		},
		{
			name: "syntax error",
			yaml: "issuer: [\n",
			want: []string{"decoding config file"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(writeFile(t, tc.yaml), envOf(nil))
			require.Error(t, err)
			assert.Nil(t, c)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadDurationsFromYAML(t *testing.T) {
	c, err := config.Load(writeFile(t, minimalYAML+`
logout:
  wait: 1500ms
  frontchannel_timeout: 1m
sessions:
  retention: 36h
nats:
  event_retention: 720h
`), nil)
	require.NoError(t, err)
	assert.Equal(t, 1500*time.Millisecond, c.Logout.Wait)
	assert.Equal(t, time.Minute, c.Logout.FrontchannelTimeout)
	assert.Equal(t, 36*time.Hour, c.Sessions.Retention)
	assert.Equal(t, 720*time.Hour, c.NATS.EventRetention)
}

func TestLoadEmptyFileKeepsDefaults(t *testing.T) {
	env := map[string]string{
		"SIGNOFF_ISSUER":            "https://login.example.com",
		"SIGNOFF_KEYS_GENERATE_DIR": "/tmp/keys",
	}
	for _, content := range []string{"", "# only a comment\n"} {
		c, err := config.Load(writeFile(t, content), envOf(env))
		require.NoError(t, err)
		assert.Equal(t, 2*time.Second, c.Logout.Wait)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "reading config file")
}

func TestLoadValidates(t *testing.T) {
	_, err := config.Load(writeFile(t, "listen: nowhere\n"), envOf(nil))
	require.Error(t, err)
	for _, w := range []string{"issuer: required", `listen: "nowhere" must be host:port`, "keys: "} {
		assert.Contains(t, err.Error(), w)
	}
}

// TestSampleConfig keeps deployments/signoff.yaml, the config of `make run`,
// valid.
func TestSampleConfig(t *testing.T) {
	c, err := config.Load("../../deployments/signoff.yaml", envOf(nil))
	require.NoError(t, err)

	assert.Equal(t, "http://127.0.0.1:8080", c.Issuer)
	assert.Equal(t, "http://127.0.0.1:8080", c.PublicBaseURL())
	assert.Equal(t, "127.0.0.1:4222", c.NATS.Listen)
	assert.Equal(t, "./.data/nats", c.NATS.StoreDir)
	assert.Equal(t, "./.data/keys", c.Keys.GenerateDir)
	assert.Equal(t, "idp_session", c.SessionCookie)
	assert.Equal(t, []string{"/oauth2/logout"}, c.Logout.Paths)
	assert.Equal(t, []string{"ES256", "RS256"}, c.SigningAlgs())

	reg := c.Registry()
	app1, ok := reg.Client("app1")
	require.True(t, ok)
	assert.Equal(t, "App One", app1.DisplayName())
	assert.True(t, app1.HasPostLogoutRedirectURI("http://127.0.0.1:9001/bye?from=signoff"))
	assert.True(t, app1.FrontchannelLogoutSessionRequired)
	assert.True(t, app1.BackchannelLogoutSessionRequired)

	app2, ok := reg.Client("app2")
	require.True(t, ok)
	assert.Equal(t, "ES256", app2.SigningAlg())
	assert.Empty(t, app2.FrontchannelLogoutURI)
	assert.NotEmpty(t, app2.WebhookSecret)
}
