package backchannel

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/propagate/propagatetest"
)

// logoutIDHeader carries the logout id to the suite's receiver. A logout
// token has none (it names the session, not the logout), so the suite's
// worker tags each request with it; the token itself is checked in full.
const logoutIDHeader = "X-Test-Logout-Id"

type logoutIDKey struct{}

// tagLogoutID adds the logout id found in the request's context.
type tagLogoutID struct{ next http.RoundTripper }

func (rt tagLogoutID) RoundTrip(r *http.Request) (*http.Response, error) {
	id, _ := r.Context().Value(logoutIDKey{}).(string)
	r = r.Clone(r.Context())
	r.Header.Set(logoutIDHeader, id)
	return rt.next.RoundTrip(r)
}

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	var mu sync.Mutex
	var jwks map[string]publicKey
	propagatetest.Run(t, propagatetest.Worker{
		Kind: Kind,
		Configure: func(c *config.Client, url string) {
			c.BackchannelLogoutURI = url + "?tenant=suite"
			if c.ClientID == "c2" {
				c.IDTokenSignedResponseAlg = keys.EdDSA
			}
		},
		Options: func(t testing.TB, cfg *config.Config) propagate.Options {
			ks, err := keys.Load(cfg.Keys, cfg.SigningAlgs(), nil)
			require.NoError(t, err)
			mu.Lock()
			jwks = parseJWKS(t, ks)
			mu.Unlock()
			client := NewHTTPClient()
			client.Transport = tagLogoutID{next: client.Transport}
			p := New(ks, cfg.Issuer, client)
			return propagate.Options{
				Kind:  Kind,
				Wants: Wants,
				Skip:  Skip,
				Propagator: propagate.PropagatorFunc(func(ctx context.Context, d *propagate.Delivery) error {
					return p.Propagate(context.WithValue(ctx, logoutIDKey{}, d.Event.LogoutID), d)
				}),
			}
		},
		Check: func(t testing.TB, r *http.Request, body []byte, clientID string) string {
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, formType, r.Header.Get("Content-Type"))
			assert.Equal(t, "tenant=suite", r.URL.RawQuery)
			form, err := parseForm(body)
			if assert.NoError(t, err) && assert.Len(t, form, 1) {
				alg := keys.RS256
				if clientID == "c2" {
					alg = keys.EdDSA
				}
				mu.Lock()
				set := jwks
				mu.Unlock()
				token := form.Get("logout_token")
				verifyToken(t, set, token, wantToken{alg: alg, aud: clientID, sub: "sub-" + clientID, sid: sidOf(token), iss: propagatetest.Issuer})
			}
			return r.Header.Get(logoutIDHeader)
		},
	})
}
