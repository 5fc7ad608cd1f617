package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// Registry indexes the registered clients by client_id. It is built once
// from a validated Config and never changes, so it is safe for concurrent
// use by many goroutines.
type Registry struct {
	clients []Client
	digests []string // ChannelsDigest of each client, computed once
	byID    map[string]int
}

// NewRegistry returns a registry of copies of clients, in their order. If
// two clients share a client_id (which Validate rejects), the first wins.
func NewRegistry(clients []Client) *Registry {
	r := &Registry{
		clients: make([]Client, len(clients)),
		digests: make([]string, len(clients)),
		byID:    make(map[string]int, len(clients)),
	}
	for i, c := range clients {
		c.RedirectURIs = slices.Clone(c.RedirectURIs)
		c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
		r.clients[i] = c
		r.digests[i] = c.ChannelsDigest()
		if _, dup := r.byID[c.ClientID]; !dup {
			r.byID[c.ClientID] = i
		}
	}
	return r
}

// Registry returns a Registry of c's clients.
func (c *Config) Registry() *Registry {
	return NewRegistry(c.Clients)
}

// Client returns the client registered as id, and whether there is one. The
// match is exact. The returned Client belongs to the registry: read it, do
// not modify it.
func (r *Registry) Client(id string) (*Client, bool) {
	i, ok := r.byID[id]
	if !ok {
		return nil, false
	}
	return &r.clients[i], true
}

// ChannelsDigest returns the ChannelsDigest of the client registered as
// id, and whether there is one: computed once, for the workers and fronts
// that compare it on every logout.
func (r *Registry) ChannelsDigest(id string) (string, bool) {
	i, ok := r.byID[id]
	if !ok {
		return "", false
	}
	return r.digests[i], true
}

// Clients returns a copy of every registered client, in configuration order.
func (r *Registry) Clients() []Client {
	return slices.Clone(r.clients)
}

// DisplayName returns the name to show people for the client: Name, or the
// client_id when Name is empty.
func (c *Client) DisplayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ClientID
}

// ChannelsDigest is a short digest of how the client is reached when a
// session ends: its front-channel, back-channel and webhook URIs and
// logout_events, the fields a worker kind's Wants reads. A front stamps
// each participant of a logout with it (event.Participant.ChannelsDigest),
// so that a worker whose configuration says otherwise about a client it
// does not serve can tell: it parks that delivery for a replica that
// serves the client, instead of dropping it. Its name, redirect URIs,
// signing algorithm and secrets are not in it.
func (c *Client) ChannelsDigest() string {
	b, _ := json.Marshal([]any{c.FrontchannelLogoutURI, c.BackchannelLogoutURI, c.WebhookURI, c.LogoutEvents})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Public reports whether the client is a public client: one registered
// with token_endpoint_auth_method "none" (RFC 7591 §2).
func (c *Client) Public() bool { return c.TokenEndpointAuthMethod == "none" }

// SigningAlg returns the algorithm of the client's logout tokens: its
// id_token_signed_response_alg, or DefaultSigningAlg when that is unset
// (Back-Channel Logout 1.0 §2.6, BCL-17).
func (c *Client) SigningAlg() string {
	if c.IDTokenSignedResponseAlg != "" {
		return c.IDTokenSignedResponseAlg
	}
	return DefaultSigningAlg
}

// HasPostLogoutRedirectURI reports whether uri is one of the client's
// registered post_logout_redirect_uris. The comparison is exact, character
// for character: no normalisation, case folding, prefix matching or
// tolerance for an added query or trailing slash (RP-Initiated Logout 1.0
// §3, RIL-22). An empty uri never matches.
func (c *Client) HasPostLogoutRedirectURI(uri string) bool {
	return uri != "" && slices.Contains(c.PostLogoutRedirectURIs, uri)
}
