package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/propagate"
)

// Kind is the worker kind and the channel of its deliveries.
const Kind = config.ChannelWebhook

// PayloadType is the type of every event this worker sends.
const PayloadType = event.ClientLogoutType

// userAgent identifies signoff's requests in receivers' logs.
const userAgent = "signoff-webhook/1"

// ErrNoSecret reports a client with a webhook_uri but no webhook_secret,
// which configuration validation rejects: nothing is sent unsigned.
var ErrNoSecret = errors.New("webhook: client has no webhook_secret")

// Payload is the JSON body of a webhook request: the logout as the
// client sees it, the same JSON that the events worker publishes on
// signoff.v1.logout.<client_id>. LogoutID is also the Signoff-Event-Id
// header.
type Payload = event.ClientLogout

// Wants reports whether c receives webhooks: it has a webhook_uri.
func Wants(c *config.Client) bool { return c.WebhookURI != "" }

var _ propagate.Propagator = (*Propagator)(nil)

// Propagator delivers webhook events. It holds no mutable state and takes
// no lock, so one Propagator serves every delivery concurrently.
type Propagator struct {
	client *http.Client
	now    func() time.Time
	// Header values shared, read-only, by every request.
	contentType, userAgent []string
}

// New returns a Propagator that sends with client, which should not follow
// redirects (see [NewHTTPClient]); a nil client means NewHTTPClient().
func New(client *http.Client) *Propagator {
	if client == nil {
		client = NewHTTPClient()
	}
	return &Propagator{
		client:      client,
		now:         time.Now,
		contentType: []string{"application/json"},
		userAgent:   []string{userAgent},
	}
}

// Propagate POSTs the [Payload] of d to d.Client's webhook_uri, signed with
// its webhook_secret at the current time (see the package documentation).
// The body is the same on every attempt; the signature's timestamp is not.
//
// The error is permanent when the client has no secret or the URI is
// unusable, or when the receiver answered a 3xx or a 4xx other than 408
// and 429; otherwise a failure is transient.
func (p *Propagator) Propagate(ctx context.Context, d *propagate.Delivery) error {
	c, e := d.Client, d.Event
	if c.WebhookSecret == "" {
		return propagate.Permanent(ErrNoSecret)
	}
	body, err := json.Marshal(e.ForClient(event.Participant{ClientID: c.ClientID, Sub: d.Sub}))
	if err != nil {
		return propagate.Permanent(fmt.Errorf("encoding webhook payload: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.WebhookURI, bytes.NewReader(body))
	if err != nil {
		return propagate.Permanent(fmt.Errorf("building webhook request: %w", err))
	}
	req.Header = http.Header{
		"Content-Type":  p.contentType,
		"User-Agent":    p.userAgent,
		EventIDHeader:   {e.LogoutID},
		SignatureHeader: {Sign([]byte(c.WebhookSecret), p.now(), body)},
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting webhook: %w", propagate.TransportError(err))
	}
	if err := propagate.CheckResponse(resp); err != nil {
		return fmt.Errorf("posting webhook: %w", err)
	}
	return nil
}
