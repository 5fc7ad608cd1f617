package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// urlKind selects the rules checkURL applies.
type urlKind int

const (
	// urlHTTP is an http(s) URL without fragment; a query is kept as is
	// (BCL-3, FCL-3).
	urlHTTP urlKind = iota
	// urlIssuer is an http(s) URL without query or fragment (OpenID
	// Connect Discovery 1.0 §3, issuer).
	urlIssuer
	// urlRedirect is like urlHTTP, but also allows a native app's
	// private-use scheme (RIL-33, RFC 8252 §7.1).
	urlRedirect
)

// validateClients checks every client and the uniqueness of client_id.
func (c *Config) validateClients(p *problems) {
	first := make(map[string]int, len(c.Clients))
	for i := range c.Clients {
		cl := &c.Clients[i]
		key := fmt.Sprintf("clients[%d]", i)
		if j, dup := first[cl.ClientID]; dup && cl.ClientID != "" {
			p.add(key+".client_id", "duplicate %q (first at clients[%d])", cl.ClientID, j)
		} else {
			first[cl.ClientID] = i
		}
		c.validateClient(p, key, cl)
	}
}

// validateClient checks one client, whose keys start with key.
func (c *Config) validateClient(p *problems, key string, cl *Client) {
	if cl.ClientID == "" {
		p.add(key+".client_id", "required")
	} else if !isSubjectToken(cl.ClientID) {
		p.add(key+".client_id", "%q must be usable as a NATS subject token, because it is used in per-client NATS subjects: "+
			"printable ASCII, no '.', '*', '>' or whitespace, at most %d characters", cl.ClientID, maxClientIDLength)
	}
	for i, u := range cl.RedirectURIs {
		c.checkURL(p, fmt.Sprintf("%s.redirect_uris[%d]", key, i), u, urlRedirect)
	}
	// allow_insecure_http is for confidential clients only (RIL-33,
	// FCL-5, BCL-3): a public one's logout URIs are checked without it.
	public := cl.Public()
	for i, u := range cl.PostLogoutRedirectURIs {
		c.checkClientURL(p, fmt.Sprintf("%s.post_logout_redirect_uris[%d]", key, i), u, urlRedirect, public)
	}
	if cl.FrontchannelLogoutURI != "" {
		k := key + ".frontchannel_logout_uri"
		// FCL-4; a client without redirect URIs has nothing to compare with.
		if c.checkClientURL(p, k, cl.FrontchannelLogoutURI, urlHTTP, public) && len(cl.RedirectURIs) > 0 &&
			!sharesOrigin(cl.FrontchannelLogoutURI, cl.RedirectURIs) {
			p.add(k, "scheme, host and port must be those of one of %s.redirect_uris (FCL-4)", key)
		}
	}
	if cl.BackchannelLogoutURI != "" {
		c.checkClientURL(p, key+".backchannel_logout_uri", cl.BackchannelLogoutURI, urlHTTP, public)
	}
	if !slices.Contains(tokenEndpointAuthMethods(), cl.TokenEndpointAuthMethod) {
		p.add(key+".token_endpoint_auth_method", "%q is not one of %s", cl.TokenEndpointAuthMethod,
			strings.Join(tokenEndpointAuthMethods()[1:], ", "))
	}
	if !slices.Contains(clientSigningAlgs(), cl.IDTokenSignedResponseAlg) {
		p.add(key+".id_token_signed_response_alg", "%q is not one of RS256, ES256, EdDSA", cl.IDTokenSignedResponseAlg)
	}
	if cl.WebhookURI != "" {
		c.checkURL(p, key+".webhook_uri", cl.WebhookURI, urlHTTP)
		if cl.WebhookSecret == "" {
			p.add(key+".webhook_secret", "required when webhook_uri is set")
		}
	}
}

// checkURL checks raw, the value of key, against the rules of kind and the
// https policy, and reports whether it passed.
func (c *Config) checkURL(p *problems, key, raw string, kind urlKind) bool {
	return c.checkClientURL(p, key, raw, kind, false)
}

// checkClientURL is checkURL for a URL of a client, public or not: a
// public client's may use http only on a loopback host, even with
// allow_insecure_http.
func (c *Config) checkClientURL(p *problems, key, raw string, kind urlKind, public bool) bool {
	before := len(*p)
	if raw == "" {
		p.add(key, "must not be empty")
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		p.add(key, "must be an absolute URL")
		return false
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "https":
		if u.Host == "" {
			p.add(key, "must have a host")
		}
	case scheme == "http":
		if u.Host == "" {
			p.add(key, "must have a host")
		} else if !isLoopback(u.Hostname()) {
			switch {
			case !c.AllowInsecureHTTP:
				p.add(key, "must use https (http only on a loopback host, or with allow_insecure_http)")
			case public:
				p.add(key, "must use https: a public client (token_endpoint_auth_method: none) may use http only on a loopback host, even with allow_insecure_http")
			}
		}
	case kind == urlRedirect && isPrivateUseScheme(scheme):
		// A native app's URI, such as com.example.app:/logout (RIL-33).
	case kind == urlRedirect:
		p.add(key, "scheme %q is not allowed: use https, or a reverse-domain private-use scheme such as com.example.app", u.Scheme)
	default:
		p.add(key, "scheme %q is not allowed: use https (http only on a loopback host, or with allow_insecure_http)", u.Scheme)
	}
	if strings.Contains(raw, "#") {
		p.add(key, "must not have a fragment")
	}
	if kind == urlIssuer && (u.RawQuery != "" || u.ForceQuery) {
		p.add(key, "must not have a query")
	}
	return len(*p) == before
}

// isLoopback reports whether host, without port or brackets, is a loopback
// host: localhost, 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isPrivateUseScheme reports whether scheme looks like a reverse domain
// name, as RFC 8252 §7.1 asks of native apps' schemes. This also keeps out
// javascript:, data: and the like.
func isPrivateUseScheme(scheme string) bool {
	return strings.Contains(scheme, ".")
}

// sharesOrigin reports whether raw has the scheme, host and port of one of
// uris. Scheme and host compare without case, and a missing port is the
// scheme's default.
func sharesOrigin(raw string, uris []string) bool {
	want, ok := origin(raw)
	if !ok {
		return false
	}
	for _, r := range uris {
		if got, ok := origin(r); ok && got == want {
			return true
		}
	}
	return false
}

// origin returns scheme://host:port of raw, lower-cased and with the default
// port made explicit.
func origin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port), true
}

// isSubjectToken reports whether id can be one token of a NATS subject:
// non-empty printable ASCII without '.', '*' or '>', and not too long.
func isSubjectToken(id string) bool {
	if id == "" || len(id) > maxClientIDLength {
		return false
	}
	for i := range len(id) {
		b := id[i]
		if b <= ' ' || b > '~' || b == '.' || b == '*' || b == '>' {
			return false
		}
	}
	return true
}
