package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
)

// TestEnvKeys pins the list of variables: a new key must show up here, and
// in the README's configuration reference.
func TestEnvKeys(t *testing.T) {
	want := []string{
		"SIGNOFF_ISSUER",
		"SIGNOFF_LISTEN",
		"SIGNOFF_PUBLIC_URL",
		"SIGNOFF_ALLOW_INSECURE_HTTP",
		"SIGNOFF_LOG_LEVEL",
		"SIGNOFF_LOG_FORMAT",
		"SIGNOFF_NATS_URL",
		"SIGNOFF_NATS_CREDENTIALS_FILE",
		"SIGNOFF_NATS_STORE_DIR",
		"SIGNOFF_NATS_LISTEN",
		"SIGNOFF_NATS_LISTEN_TOKEN",
		"SIGNOFF_NATS_REPLICAS",
		"SIGNOFF_NATS_EVENT_RETENTION",
		"SIGNOFF_API_TOKEN",
		"SIGNOFF_SESSION_COOKIE",
		"SIGNOFF_ID_TOKEN_HINT_JWKS_URI",
		"SIGNOFF_ID_TOKEN_HINT_JWKS_FILE",
		"SIGNOFF_ID_TOKEN_HINT_ALGORITHMS",
		"SIGNOFF_KEYS_FILES",
		"SIGNOFF_KEYS_GENERATE_DIR",
		"SIGNOFF_LOGOUT_WAIT",
		"SIGNOFF_LOGOUT_REQUIRE_CLIENT_OR_HINT",
		"SIGNOFF_LOGOUT_CLIENT_ID_REDIRECT",
		"SIGNOFF_LOGOUT_PATHS",
		"SIGNOFF_LOGOUT_SIGNED_OUT_URL",
		"SIGNOFF_LOGOUT_FRONTCHANNEL_TIMEOUT",
		"SIGNOFF_LOGOUT_CONFIRM_UNKNOWN_SESSIONS",
		"SIGNOFF_SESSIONS_RETENTION",
		"SIGNOFF_SESSIONS_MAX_CLIENTS",
	}
	got := config.EnvKeys()
	assert.Equal(t, want, got)
	assert.NotContains(t, got, config.EnvConfigFile)
	for _, k := range got {
		assert.False(t, strings.HasPrefix(k, "SIGNOFF_CLIENTS"), "clients are file-only: %s", k)
	}
}

// validEnv is the least environment that makes Load succeed without a file.
func validEnv() map[string]string {
	return map[string]string{
		"SIGNOFF_ISSUER":            "https://login.example.com",
		"SIGNOFF_KEYS_GENERATE_DIR": "/tmp/keys",
	}
}

func TestEnvTypes(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c *config.Config)
	}{
		{
			name: "string",
			env:  map[string]string{"SIGNOFF_ID_TOKEN_HINT_JWKS_URI": "https://idp.example.com/jwks"},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, "https://idp.example.com/jwks", c.IDTokenHint.JWKSURI)
			},
		},
		{
			name: "bool",
			env:  map[string]string{"SIGNOFF_LOGOUT_REQUIRE_CLIENT_OR_HINT": "true"},
			check: func(t *testing.T, c *config.Config) {
				assert.True(t, c.Logout.RequireClientOrHint)
			},
		},
		{
			name: "pointer to bool",
			env:  map[string]string{"SIGNOFF_LOGOUT_CLIENT_ID_REDIRECT": "false"},
			check: func(t *testing.T, c *config.Config) {
				require.NotNil(t, c.Logout.ClientIDRedirect)
				assert.False(t, c.ClientIDRedirectAllowed())
			},
		},
		{
			name: "int",
			env:  map[string]string{"SIGNOFF_NATS_REPLICAS": "3"},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, 3, c.NATS.Replicas)
			},
		},
		{
			name: "duration",
			env:  map[string]string{"SIGNOFF_SESSIONS_RETENTION": "90m"},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, 90*time.Minute, c.Sessions.Retention)
			},
		},
		{
			name: "list, blanks and empty items dropped",
			env:  map[string]string{"SIGNOFF_ID_TOKEN_HINT_ALGORITHMS": " ES256 ,, RS256 "},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, []string{"ES256", "RS256"}, c.IDTokenHint.Algorithms)
			},
		},
		{
			name: "log level",
			env:  map[string]string{"SIGNOFF_LOG_LEVEL": "debug"},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, "debug", c.Log.Level)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := config.Load("", envOf(env))
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestEnvBadValues(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{
			name: "duration",
			env:  map[string]string{"SIGNOFF_LOGOUT_WAIT": "abc"},
			want: []string{"SIGNOFF_LOGOUT_WAIT (logout.wait): parsing a duration"},
		},
		{
			name: "bool",
			env:  map[string]string{"SIGNOFF_ALLOW_INSECURE_HTTP": "maybe"},
			want: []string{"SIGNOFF_ALLOW_INSECURE_HTTP (allow_insecure_http): parsing a boolean"},
		},
		{
			name: "pointer to bool",
			env:  map[string]string{"SIGNOFF_LOGOUT_CLIENT_ID_REDIRECT": "yes please"},
			want: []string{"SIGNOFF_LOGOUT_CLIENT_ID_REDIRECT"},
		},
		{
			name: "int",
			env:  map[string]string{"SIGNOFF_SESSIONS_MAX_CLIENTS": "lots"},
			want: []string{"SIGNOFF_SESSIONS_MAX_CLIENTS (sessions.max_clients): parsing an integer"},
		},
		{
			name: "every bad variable reported",
			env: map[string]string{
				"SIGNOFF_LOGOUT_WAIT":        "abc",
				"SIGNOFF_NATS_REPLICAS":      "x",
				"SIGNOFF_SESSIONS_RETENTION": "1 day",
			},
			want: []string{"SIGNOFF_LOGOUT_WAIT", "SIGNOFF_NATS_REPLICAS", "SIGNOFF_SESSIONS_RETENTION"},
		},
		{
			name: "parsed but invalid value is a validation error",
			env:  map[string]string{"SIGNOFF_LOGOUT_WAIT": "-1s"},
			want: []string{"logout.wait: must be positive"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := config.Load("", envOf(env))
			require.Error(t, err)
			assert.Nil(t, c)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestEnvCannotSetClients(t *testing.T) {
	env := validEnv()
	env["SIGNOFF_CLIENTS"] = "app1"
	c, err := config.Load("", envOf(env))
	require.NoError(t, err)
	assert.Empty(t, c.Clients)
}

// TestUnknownEnv: a SIGNOFF_ variable that names no key is reported; the
// keys' own, SIGNOFF_CONFIG, SIGNOFF_DEBUG_PPROF and other programs'
// variables are not.
func TestUnknownEnv(t *testing.T) {
	got := config.UnknownEnv([]string{"SIGNOFF_LOGOUT_WAIT=2s", "SIGNOFF_LOGOUT_WIAT=5s", "SIGNOFF_CONFIG=x.yaml",
		"SIGNOFF_DEBUG_PPROF=127.0.0.1:6060", "HOME=/root", "SIGNOFF_NATS_URL=nats://x", "SIGNOFF_APITOKEN=t"})
	assert.Equal(t, []string{"SIGNOFF_LOGOUT_WIAT", "SIGNOFF_APITOKEN"}, got)
}
