package webhook

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/propagate/propagatetest"
)

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	propagatetest.Run(t, propagatetest.Worker{
		Kind: Kind,
		Configure: func(c *config.Client, url string) {
			c.WebhookURI, c.WebhookSecret = url, "secret-"+c.ClientID
		},
		Options: func(testing.TB, *config.Config) propagate.Options {
			return propagate.Options{Kind: Kind, Wants: Wants, Propagator: New(NewHTTPClient())}
		},
		Check: func(t testing.TB, r *http.Request, body []byte, clientID string) string {
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			assert.NoError(t, Verify([]byte("secret-"+clientID), r.Header.Get(SignatureHeader), body, time.Now(), 0))
			var p Payload
			if assert.NoError(t, json.Unmarshal(body, &p)) {
				assert.Equal(t, PayloadType, p.Type)
				assert.Equal(t, r.Header.Get(EventIDHeader), p.LogoutID)
				assert.Equal(t, clientID, p.ClientID)
				assert.Equal(t, "sub-"+clientID, p.Sub)
				assert.Equal(t, propagatetest.Issuer, p.Iss)
				assert.Equal(t, event.ReasonEndSession, p.Reason)
				assert.NotEmpty(t, p.SID)
			}
			return r.Header.Get(EventIDHeader)
		},
	})
}
