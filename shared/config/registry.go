package config

import "slices"

// Registry indexes the registered clients by client_id. It is built once
// from a validated Config and never changes, so it is safe for concurrent
// use by many goroutines.
type Registry struct {
	clients  []Client
	channels [][]string // Channels of each client, computed once
	byID     map[string]int
}

// NewRegistry returns a registry of copies of clients, in their order. If
// two clients share a client_id (which Validate rejects), the first wins.
func NewRegistry(clients []Client) *Registry {
	r := &Registry{
		clients:  make([]Client, len(clients)),
		channels: make([][]string, len(clients)),
		byID:     make(map[string]int, len(clients)),
	}
	for i, c := range clients {
		c.RedirectURIs = slices.Clone(c.RedirectURIs)
		c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
		r.clients[i] = c
		r.channels[i] = c.Channels()
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

// Channels returns the Channels of the client registered as id, and
// whether there is one: computed once, for the fronts and workers that
// read it on every logout. The slice belongs to the registry: read it, do
// not modify it.
func (r *Registry) Channels(id string) ([]string, bool) {
	i, ok := r.byID[id]
	if !ok {
		return nil, false
	}
	return r.channels[i], true
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

// The names of a client's channels, in Channels and WithChannels: the
// channels of the ledger and of the built-in workers.
const (
	ChannelFrontchannel = "frontchannel" // frontchannel_logout_uri
	ChannelBackchannel  = "backchannel"  // backchannel_logout_uri
	ChannelWebhook      = "webhook"      // webhook_uri
	ChannelEvents       = "events"       // logout_events
)

// UnknownURI stands, in WithChannels, for the URI of a channel that
// another configuration gives the client and this one does not.
const UnknownURI = "https://unknown.invalid/"

// Channels names the channels the client is reached by when a session
// ends, in this order: frontchannel, backchannel, webhook, events. A front
// lists them in each participant of a logout (event.Participant.Channels),
// so that a worker whose configuration differs can tell when a client it
// does not serve would be its target there (WithChannels).
func (c *Client) Channels() []string {
	var ch []string
	if c.FrontchannelLogoutURI != "" {
		ch = append(ch, ChannelFrontchannel)
	}
	if c.BackchannelLogoutURI != "" {
		ch = append(ch, ChannelBackchannel)
	}
	if c.WebhookURI != "" {
		ch = append(ch, ChannelWebhook)
	}
	if c.LogoutEvents {
		ch = append(ch, ChannelEvents)
	}
	return ch
}

// WithChannels returns a copy of c reached by the named channels only: a
// channel not named is cleared, and a named one keeps c's URI, or gets
// UnknownURI where c has none. A worker asks its Wants about it to learn
// whether the client would be its target with the channels that another
// configuration (the front's that published a logout) gives it.
func (c *Client) WithChannels(names []string) Client {
	out := *c
	uri := func(name, own string) string {
		switch {
		case !slices.Contains(names, name):
			return ""
		case own != "":
			return own
		default:
			return UnknownURI
		}
	}
	out.FrontchannelLogoutURI = uri(ChannelFrontchannel, c.FrontchannelLogoutURI)
	out.BackchannelLogoutURI = uri(ChannelBackchannel, c.BackchannelLogoutURI)
	out.WebhookURI = uri(ChannelWebhook, c.WebhookURI)
	out.LogoutEvents = slices.Contains(names, ChannelEvents)
	return out
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
