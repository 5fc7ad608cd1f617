package rp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
)

// Limits and lifetimes.
const (
	// maxFormBytes bounds form and webhook bodies.
	maxFormBytes = 64 << 10
	// loginLifetime bounds a sign-in round trip through the IdP.
	loginLifetime = 10 * time.Minute
	// endedKept is how long an ended session is remembered, to tell the
	// person why they were signed out.
	endedKept = time.Hour
	// refreshSeconds is the home page's meta refresh, so that a logout
	// shows without a click.
	refreshSeconds = 3
)

// Config is what New needs. URLs have no trailing slash.
type Config struct {
	// Name is shown on every page, such as "App A".
	Name string
	// ClientID is the app's client_id at the IdP and at signoff.
	ClientID string
	// ClientSecret authenticates the app at the IdP's /token; empty sends
	// client_id only.
	ClientSecret string
	// PublicURL is the app's base URL as browsers see it.
	PublicURL string
	// IdPPublicURL is the IdP's base URL as browsers see it (/authorize).
	IdPPublicURL string
	// IdPURL is the IdP's base URL from the app's server (/token, /jwks).
	IdPURL string
	// Issuer is signoff's issuer: the iss of the ID tokens (the dev IdP
	// issues them in signoff's name) and of logout tokens.
	Issuer string
	// SignoffURL is signoff's base URL from the app's server, for discovery
	// and the JWKS. Discovery advertises browser-facing URLs under the
	// issuer; the app fetches the jwks_uri under SignoffURL instead.
	SignoffURL string
	// WebhookSecret verifies signoff's webhooks at /webhook; empty: no
	// /webhook.
	WebhookSecret string
	// HTTPClient makes the app's server-to-server calls; nil means one with
	// a 10 s timeout.
	HTTPClient *http.Client
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// App is a relying party. Its handler is safe for concurrent use.
type App struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	http  *http.Client
	pages map[string]*template.Template
	// Cookie names start with the client_id: every app on localhost shares
	// the browser's cookies, whatever the port.
	sessionCookie, loginCookie, logoutCookie string

	idpKeys keyfunc.Keyfunc // verifies ID tokens
	op      *provider       // signoff: discovery and logout token keys

	mu       sync.Mutex
	sessions map[string]*session // by session cookie value
	logins   map[string]login    // by state
	jtis     map[string]time.Time
	received *received
}

// session is a local session of the app.
type session struct {
	ID      string
	Sub     string
	SID     string
	IDToken string
	Claims  string // the ID token's claims, indented JSON
	CSRF    string // of the sign-out form
	Started time.Time
	// EndedAt and EndedBy are set once the session ended.
	EndedAt time.Time
	EndedBy string
}

// login is a sign-in in progress.
type login struct {
	nonce   string
	expires time.Time
}

// New returns an App. The background refresh of the JWK Sets ends with
// ctx.
func New(ctx context.Context, cfg Config) (*App, error) {
	a := &App{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		http:     cfg.HTTPClient,
		pages:    parsePages(),
		sessions: map[string]*session{},
		logins:   map[string]login{},
		jtis:     map[string]time.Time{},
		received: newReceived(50),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("app", cfg.ClientID)
	if a.now == nil {
		a.now = time.Now
	}
	if a.http == nil {
		a.http = &http.Client{Timeout: 10 * time.Second}
	}
	prefix := strings.NewReplacer("-", "_", ".", "_").Replace(cfg.ClientID)
	a.sessionCookie, a.loginCookie, a.logoutCookie = prefix+"_session", prefix+"_login", prefix+"_logout"
	var err error
	if a.idpKeys, err = jwksKeys(ctx, cfg.IdPURL+"/jwks", a.http, a.log); err != nil {
		return nil, err
	}
	a.op = newProvider(ctx, cfg.SignoffURL, cfg.Issuer, a.http, a.log)
	return a, nil
}

// Handler returns the app's HTTP handler.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /signed-out", a.signedOut)
	mux.HandleFunc("POST /backchannel-logout", a.backchannelLogout)
	mux.HandleFunc("GET /frontchannel-logout", a.frontchannelLogout)
	if a.cfg.WebhookSecret != "" {
		mux.HandleFunc("POST /webhook", a.webhook)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

// home shows the app's state: signed in or not, and what it received.
func (a *App) home(w http.ResponseWriter, r *http.Request) {
	s := a.current(r)
	a.render(w, http.StatusOK, "home", map[string]any{
		"Session": s, "Received": a.received.list(), "Refresh": refreshSeconds,
	})
}

// current returns a copy of the session named by the request's cookie,
// live or ended, or nil.
func (a *App) current(r *http.Request) *session {
	ck, err := r.Cookie(a.sessionCookie)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[ck.Value]
	if !ok {
		return nil
	}
	c := *s
	return &c
}

// startSession stores a new live session and returns it.
func (a *App) startSession(sub, sid, idToken, claims string) *session {
	s := &session{ID: random(), Sub: sub, SID: sid, IDToken: idToken, Claims: claims, CSRF: random(), Started: a.now()}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, old := range a.sessions { // prune sessions that ended long ago
		if !old.EndedAt.IsZero() && a.now().Sub(old.EndedAt) > endedKept {
			delete(a.sessions, id)
		}
	}
	a.sessions[s.ID] = s
	return s
}

// endSessions ends the live sessions that match: by sid when sid is set
// (and then by sub too, when both are), otherwise every session of sub. It
// returns how many it ended.
func (a *App) endSessions(sid, sub, by string) int {
	if sid == "" && sub == "" {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, s := range a.sessions {
		if !s.EndedAt.IsZero() || (sid != "" && s.SID != sid) || (sub != "" && s.Sub != sub) {
			continue
		}
		s.EndedAt, s.EndedBy = a.now(), by
		n++
	}
	return n
}

// random returns 256 random bits, base64url.
func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails; see crypto/rand.Read
	return base64.RawURLEncoding.EncodeToString(b[:])
}
