package idp

import (
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/signoff/signoff/shared/keys"
)

// Names and lifetimes of the IdP's artefacts.
const (
	// SessionCookie is the IdP's session cookie; its value is the sid.
	// signoff's session_cookie names it, so that signoff finds the session
	// when a logout request has no id_token_hint, and expires it. It is no
	// credential: every client sees the sid in its ID tokens.
	SessionCookie = "idp_session"
	// loginCookie is the credential of an IdP session: a secret that only
	// the browser holds.
	loginCookie = "idp_login"
	// csrfCookie carries the double-submit token of the sign-in form.
	csrfCookie = "idp_csrf"
	// codeLifetime bounds how long an authorization code may be redeemed.
	codeLifetime = time.Minute
	// idTokenLifetime is exp minus iat of the ID tokens.
	idTokenLifetime = time.Hour
	// maxFormBytes bounds request bodies.
	maxFormBytes = 64 << 10
)

// Client is a relying party registered at the IdP.
type Client struct {
	// ID is the client_id, the aud of its ID tokens.
	ID string
	// Name is shown on the sign-in page.
	Name string
	// RedirectURIs are matched character for character.
	RedirectURIs []string
}

// Config is what New needs.
type Config struct {
	// Issuer is the iss of the ID tokens: signoff's issuer, because signoff
	// verifies an id_token_hint's iss against its own.
	Issuer string
	// Subject is the demo user's sub.
	Subject string
	// Clients are the registered clients.
	Clients []Client
	// ClientSecret authenticates every client at /token (client_secret_basic
	// or client_secret_post). Empty: public clients, no authentication.
	ClientSecret string
	// Keys sign the ID tokens with RS256; their public keys are served at
	// /jwks.
	Keys *keys.Set
	// Reporter tells signoff about each sign-in.
	Reporter *Reporter
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// IdP is the identity provider. Its handler is safe for concurrent use.
type IdP struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	clients map[string]Client
	pages   map[string]*template.Template

	mu       sync.Mutex
	sessions map[string]idpSession // login cookie value -> session
	codes    map[string]grant      // authorization code -> what it grants
}

// grant is what an authorization code stands for.
type grant struct {
	clientID    string
	redirectURI string
	nonce       string
	sid         string
	sub         string
	expires     time.Time
}

// New returns an IdP.
func New(cfg Config) *IdP {
	p := &IdP{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		clients:  make(map[string]Client, len(cfg.Clients)),
		pages:    parsePages(),
		sessions: map[string]idpSession{},
		codes:    map[string]grant{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	for _, c := range cfg.Clients {
		p.clients[c.ID] = c
	}
	return p
}

// Handler returns the IdP's HTTP handler: / (a status page), /authorize,
// /token and /jwks.
func (p *IdP) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.home)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /authorize", p.signIn)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /jwks", p.jwks)
	return securityHeaders(mux)
}

// client returns the registered client id and whether redirectURI is one
// of its redirect URIs, exactly.
func (p *IdP) client(id, redirectURI string) (Client, bool) {
	c, ok := p.clients[id]
	return c, ok && slices.Contains(c.RedirectURIs, redirectURI)
}

// idpSession is a live IdP session.
type idpSession struct{ sid, sub string }

// session returns the live IdP session of the request: the one its login
// cookie is the credential of, while its session cookie still names it
// (signoff expires that one when the session ends).
func (p *IdP) session(r *http.Request) (sid, sub string, ok bool) {
	login, err := r.Cookie(loginCookie)
	if err != nil || login.Value == "" {
		return "", "", false
	}
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return "", "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sessions[login.Value]
	if !ok || s.sid != ck.Value {
		return "", "", false
	}
	return s.sid, s.sub, true
}

// forget drops an IdP session that signoff says has ended.
func (p *IdP) forget(sid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for login, s := range p.sessions {
		if s.sid == sid {
			delete(p.sessions, login)
		}
	}
}

// newSession starts an IdP session for the demo user and returns its sid
// and its login secret.
func (p *IdP) newSession() (sid, login string) {
	sid, login = random(), random()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sessions[login] = idpSession{sid: sid, sub: p.cfg.Subject}
	return sid, login
}

// issueCode stores g under a fresh authorization code.
func (p *IdP) issueCode(g grant) string {
	code := random()
	g.expires = p.now().Add(codeLifetime)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, old := range p.codes { // a demo's worth of codes: prune in passing
		if p.now().After(old.expires) {
			delete(p.codes, c)
		}
	}
	p.codes[code] = g
	return code
}

// redeem returns the grant of code and deletes it: a code is single-use,
// even when the redemption then fails (RFC 6749 §4.1.2).
func (p *IdP) redeem(code string) (grant, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.codes[code]
	delete(p.codes, code)
	if !ok || p.now().After(g.expires) {
		return grant{}, false
	}
	return g, true
}

// random returns 256 random bits, base64url.
func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails; see crypto/rand.Read
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// securityHeaders adds the headers every IdP answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
