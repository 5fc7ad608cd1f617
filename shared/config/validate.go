package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// problems collects validation errors, each naming its key.
type problems []error

// add records a problem with key, such as "issuer: required".
func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// Validate checks the whole configuration and returns every problem at once,
// joined with errors.Join, or nil. Each problem starts with the key it is
// about, as in "clients[1].client_id: duplicate \"app1\"". Validate only
// looks at values: it opens no file and resolves no host.
func (c *Config) Validate() error {
	var p problems
	c.validateServer(&p)
	c.validateHint(&p)
	c.validateKeys(&p)
	c.validateLogout(&p)
	c.validateSessions(&p)
	c.validateClients(&p)
	return errors.Join(p...)
}

// validateServer checks issuer, public_url, listen, session_cookie, log and
// nats.
func (c *Config) validateServer(p *problems) {
	if c.Issuer == "" {
		p.add("issuer", "required")
	} else {
		c.checkURL(p, "issuer", c.Issuer, urlIssuer)
	}
	if c.PublicURL != "" {
		c.checkURL(p, "public_url", c.PublicURL, urlIssuer)
	}
	checkHostPort(p, "listen", c.Listen)
	if c.SessionCookie != "" && !isToken(c.SessionCookie) {
		p.add("session_cookie", "%q is not a valid cookie name", c.SessionCookie)
	}
	if !slices.Contains(logLevels(), strings.ToLower(c.Log.Level)) {
		p.add("log.level", "%q is not one of %s", c.Log.Level, strings.Join(logLevels(), ", "))
	}
	if !slices.Contains(logFormats(), strings.ToLower(c.Log.Format)) {
		p.add("log.format", "%q is not one of %s", c.Log.Format, strings.Join(logFormats(), ", "))
	}
	if c.NATS.Listen != "" {
		checkHostPort(p, "nats.listen", c.NATS.Listen)
		// Its clients can read every session and end any of them.
		if host, _, err := net.SplitHostPort(c.NATS.Listen); err == nil && !isLoopback(host) && c.NATS.ListenToken == "" {
			p.add("nats.listen", "%q is not a loopback address: set nats.listen_token, which its clients must present", c.NATS.Listen)
		}
	}
	if c.NATS.ListenToken != "" && (c.NATS.Listen == "" || c.NATS.URL != "") {
		p.add("nats.listen_token", "applies to the embedded server's nats.listen only")
	}
	if t := c.NATS.ListenToken; t != "" && (len(t) < 16 || strings.ContainsFunc(t, func(r rune) bool { return !isUnreserved(r) })) {
		p.add("nats.listen_token", "must be at least 16 characters among letters, digits and -._~ (clients put it in a URL)")
	}
	if c.NATS.Replicas < 1 || c.NATS.Replicas > maxReplicas {
		p.add("nats.replicas", "must be between 1 and %d, got %d", maxReplicas, c.NATS.Replicas)
	}
	if c.NATS.EventRetention <= 0 {
		p.add("nats.event_retention", "must be positive, got %s", c.NATS.EventRetention)
	}
}

// validateHint checks id_token_hint.
func (c *Config) validateHint(p *problems) {
	h := c.IDTokenHint
	if h.JWKSURI != "" && h.JWKSFile != "" {
		p.add("id_token_hint", "set at most one of jwks_uri and jwks_file")
	}
	if h.JWKSURI != "" {
		c.checkURL(p, "id_token_hint.jwks_uri", h.JWKSURI, urlHTTP)
	}
	if len(h.Algorithms) == 0 {
		p.add("id_token_hint.algorithms", "must list at least one algorithm")
	}
	for i, alg := range h.Algorithms {
		key := fmt.Sprintf("id_token_hint.algorithms[%d]", i)
		switch {
		case strings.EqualFold(alg, "none"):
			p.add(key, "%q is never allowed: a hint must be signed (RIL-10)", alg)
		case strings.HasPrefix(strings.ToUpper(alg), "HS"):
			p.add(key, "HMAC algorithm %q is not allowed: only the IdP's private key may sign a hint (RIL-9)", alg)
		case !slices.Contains(hintAlgorithms(), alg):
			p.add(key, "unsupported algorithm %q; use one of %s", alg, strings.Join(hintAlgorithms(), ", "))
		case slices.Index(h.Algorithms, alg) < i:
			p.add(key, "duplicate %q", alg)
		}
	}
}

// validateKeys checks keys.
func (c *Config) validateKeys(p *problems) {
	k := c.Keys
	switch {
	case len(k.Files) == 0 && k.GenerateDir == "":
		p.add("keys", "set keys.files, or keys.generate_dir for dev mode")
	case len(k.Files) > 0 && k.GenerateDir != "":
		p.add("keys", "set keys.files or keys.generate_dir, not both")
	}
	for i, f := range k.Files {
		if strings.TrimSpace(f) == "" {
			p.add(fmt.Sprintf("keys.files[%d]", i), "must not be empty")
		}
	}
}

// validateLogout checks logout.
func (c *Config) validateLogout(p *problems) {
	l := c.Logout
	if l.Wait <= 0 || l.Wait > maxLogoutWait {
		p.add("logout.wait", "must be positive and at most %s, got %s", maxLogoutWait, l.Wait)
	}
	if l.FrontchannelTimeout <= 0 {
		p.add("logout.frontchannel_timeout", "must be positive, got %s", l.FrontchannelTimeout)
	}
	for i, path := range l.Paths {
		key := fmt.Sprintf("logout.paths[%d]", i)
		switch {
		case !strings.HasPrefix(path, "/"):
			p.add(key, "%q must start with /", path)
		case strings.ContainsAny(path, "?#:*% \t\r\n"):
			p.add(key, "%q must be a plain path, without query, fragment, blanks, ':', '*' or '%%' (write it unescaped: /déconnexion)", path)
		case path == endSessionPath:
			p.add(key, "%q is always served; list only extra paths", path)
		case reservedPath(path):
			p.add(key, "%q clashes with signoff's own /api/ or /.well-known/ paths", path)
		case slices.Index(l.Paths, path) < i:
			p.add(key, "duplicate %q", path)
		}
	}
	if l.SignedOutURL != "" {
		c.checkURL(p, "logout.signed_out_url", l.SignedOutURL, urlHTTP)
		// RIL-24: a logout without a redirect URI ends at the OP's own
		// page, never at an application's.
		for i, cl := range c.Clients {
			if sharesOrigin(l.SignedOutURL, cl.PostLogoutRedirectURIs) {
				p.add("logout.signed_out_url", "%q is on the origin of a post_logout_redirect_uri of clients[%d] (%s): it must be a page of the identity provider, "+
					"not of an application, since a logout without a redirect URI never ends at one (RP-Initiated Logout §3)", l.SignedOutURL, i, cl.ClientID)
			}
		}
	}
}

// reservedPath reports whether path lies under a prefix that signoff serves
// itself.
func reservedPath(path string) bool {
	for _, prefix := range []string{"/api", "/.well-known"} {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			return true
		}
	}
	return false
}

// validateSessions checks sessions.
func (c *Config) validateSessions(p *problems) {
	if c.Sessions.Retention <= 0 {
		p.add("sessions.retention", "must be positive, got %s", c.Sessions.Retention)
	}
	if c.Sessions.MaxClients <= 0 {
		p.add("sessions.max_clients", "must be positive, got %d", c.Sessions.MaxClients)
	}
}

// checkHostPort checks that v is host:port with a numeric port. An empty
// host means every interface.
func checkHostPort(p *problems, key, v string) {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		p.add(key, "%q must be host:port", v)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add(key, "%q must have a port number between 0 and 65535", v)
	}
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the syntax
// of a cookie name (RFC 6265 §4.1.1).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

// isUnreserved reports whether r is an unreserved URL character (RFC 3986
// §2.3): one that a URL carries as it is.
func isUnreserved(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)
}
