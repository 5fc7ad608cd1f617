// Package httpapi is the front's HTTP surface on gin: discovery and JWKS,
// the end-session endpoint with its confirmation form, the authenticated
// /api/v1 session API, and health checks.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signoff/signoff/services/front/internal/endsession"
	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/services/front/internal/pages"
	"github.com/signoff/signoff/services/front/internal/sessions"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/propagate"
)

// EndSessionPath is the end-session endpoint; ConfirmPath receives the
// confirmation form.
const (
	EndSessionPath = "/connect/endsession"
	ConfirmPath    = "/connect/endsession/confirm"
	JWKSPath       = "/.well-known/jwks.json"
	DiscoveryPath  = "/.well-known/openid-configuration"
)

// maxBody bounds every request body: forms and API JSON are small.
const maxBody = 64 << 10

// Deps is what the HTTP layer needs, built once by the front's Run.
type Deps struct {
	Config   *config.Config
	Clients  *config.Registry
	Decider  *endsession.Decider
	Sessions *sessions.Service
	Index    *index.Index
	Pages    *pages.Renderer
	// JWKS is the JSON served at jwks_uri.
	JWKS []byte
	// CSRFKeys sign the confirmation form's CSRF token, and
	// FrontchannelKeys the front-channel page's report tokens: the first
	// signs, any verifies. Every front derives them from the signing keys
	// (keys.Set.DeriveSecrets), so each takes the others' tokens.
	CSRFKeys, FrontchannelKeys []keys.Secret
	// Ready reports whether NATS is connected and the index built.
	Ready func() bool
	// Built is closed once the index holds what the streams held when the
	// front started (sessions.Feed.Ready); nil: built. Until then, the
	// routes that read the index wait for it, at most BuildWait (default
	// 5s), and then answer 503: an end-session request decided on a half
	// built index would log out only the participants read so far.
	Built     <-chan struct{}
	BuildWait time.Duration
	// Alive reports whether the process can still serve (nil: it can):
	// /healthz, the liveness probe, answers 503 when it cannot.
	Alive func() bool
	// WaitFor returns the channels whose deliveries to client the front
	// waits on before it answers (back-channel, once a worker runs).
	WaitFor func(c *config.Client) []string
	// Backchannel and Frontchannel say which propagation runs, for
	// discovery.
	Backchannel, Frontchannel bool
	// Replay sends a dead-lettered delivery back to its worker.
	Replay func(ctx context.Context, channel, clientID, logoutID string) (*propagate.Task, error)
	// Gatherer serves /metrics; EndSessionSeconds observes the end-session
	// endpoint's latency (nil: not observed).
	Gatherer          prometheus.Gatherer
	EndSessionSeconds prometheus.Observer
	// Deliveries counts the front-channel deliveries the front records,
	// by channel, client_id and status (nil: not counted).
	Deliveries *prometheus.CounterVec
	Logger     *slog.Logger
	Now        func() time.Time
}

// handler holds the dependencies of the route handlers.
type handler struct {
	Deps
}

// New returns the front's HTTP handler.
func New(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.WaitFor == nil {
		d.WaitFor = func(*config.Client) []string { return nil }
	}
	if d.BuildWait <= 0 {
		d.BuildWait = 5 * time.Second
	}
	h := &handler{Deps: d}
	gin.SetMode(gin.ReleaseMode) // gin's mode is process-wide; we never want its debug output
	e := gin.New()
	// sids and subs in paths may hold escaped slashes: route on the
	// escaped path, always (RawPath is set only for some requests, and the
	// values would then be decoded twice), and decode each value once with
	// pathParam.
	e.UseEscapedPath = true
	e.UnescapePathValues = false
	e.HandleMethodNotAllowed = true
	// No redirect from /path/ to /path: gin would answer it before the
	// middleware (no security headers, no log) and build its Location from
	// X-Forwarded-Prefix. A 404 is the answer.
	e.RedirectTrailingSlash = false
	e.ContextWithFallback = true
	e.Use(h.requestID, h.accessLog, h.recover, h.limitHeader, limitBody)

	// The documents that only read answer HEAD as well (RFC 9110 §9.3.2;
	// net/http drops the body). The end-session endpoint does not: its GET
	// ends a session, and a HEAD must change nothing.
	readOnly := func(path string, handlers ...gin.HandlerFunc) {
		e.GET(path, handlers...)
		e.HEAD(path, handlers...)
	}
	readOnly(DiscoveryPath, h.discovery)
	readOnly(JWKSPath, h.jwks)
	for _, p := range append([]string{EndSessionPath}, d.Config.Logout.Paths...) {
		for _, route := range escapedForms(p) {
			e.GET(route, h.observe, h.whenBuilt, h.endSession)
			e.POST(route, h.observe, h.whenBuilt, h.endSession)
		}
	}
	e.POST(ConfirmPath, h.observe, h.whenBuilt, h.confirm)
	e.POST(FrontchannelReportPath, h.frontchannelReport)

	api := e.Group("/api/v1", h.authenticate)
	api.PUT("/sessions/:sid/clients/:client_id", h.whenBuilt, h.putParticipation)
	api.GET("/sessions/:sid", h.whenBuilt, h.getSession)
	api.DELETE("/sessions/:sid", h.whenBuilt, h.deleteSession)
	api.DELETE("/subjects/:sub/sessions", h.whenBuilt, h.deleteSubject)
	api.POST("/deadletters/:channel/:client_id/:logout_id/replay", h.replay)
	if d.Gatherer != nil {
		// Client ids and delivery counts are not for everyone: the API
		// token, or an unauthenticated ops listener (-metrics-listen).
		readOnly("/metrics", h.authenticate, gin.WrapH(promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{})))
	}

	readOnly("/healthz", h.healthz)
	readOnly("/readyz", h.readyz)
	e.NoRoute(func(c *gin.Context) { h.fail(c, http.StatusNotFound, "not_found", "no such page") })
	e.NoMethod(func(c *gin.Context) {
		h.fail(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
	})
	return e
}

// escapedForms returns the forms in which a browser may request path p,
// as URL.EscapedPath gives them, for the routes to match: as a browser
// writes it (/déconnexion as /d%C3%A9connexion; /logout(v2) as is), and,
// when that differs, fully escaped (/logout%28v2%29).
func escapedForms(p string) []string {
	full := (&url.URL{Path: p}).EscapedPath()
	u, err := url.Parse(p)
	if err != nil || u.EscapedPath() == full {
		return []string{full}
	}
	return []string{u.EscapedPath(), full}
}

// pathParam is the path parameter name, percent-decoded as a path (gin
// would decode it as a query, turning '+' into a space).
func pathParam(c *gin.Context, name string) string {
	raw := c.Param(name)
	v, err := url.PathUnescape(raw)
	if err != nil {
		return raw
	}
	return v
}

// observe records the end-session endpoint's latency, as the browser sees
// it: publishing, the bounded wait and the answer.
func (h *handler) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	if h.EndSessionSeconds != nil {
		h.EndSessionSeconds.Observe(time.Since(start).Seconds())
	}
}

// whenBuilt lets a request that reads the index through once the index is
// built, waiting for it at most BuildWait; after that, or when the client
// gives up first, 503 and nothing done.
func (h *handler) whenBuilt(c *gin.Context) {
	if h.Built != nil {
		select {
		case <-h.Built:
		default:
			t := time.NewTimer(h.BuildWait)
			defer t.Stop()
			select {
			case <-h.Built:
			case <-t.C:
				h.notBuilt(c)
				return
			case <-c.Request.Context().Done():
				h.notBuilt(c)
				return
			}
		}
	}
	c.Next()
}

// notBuilt answers a request that could not wait for the index any longer.
func (h *handler) notBuilt(c *gin.Context) {
	c.Header("Retry-After", "5")
	h.fail(c, http.StatusServiceUnavailable, "index_not_built",
		"signoff has just started and is still reading its sessions: nothing was done; try again in a few seconds")
	c.Abort()
}

func (h *handler) healthz(c *gin.Context) {
	if h.Alive != nil && !h.Alive() {
		c.String(http.StatusServiceUnavailable, "nats connection closed\n")
		return
	}
	c.String(http.StatusOK, "ok\n")
}

func (h *handler) readyz(c *gin.Context) {
	if !h.Ready() {
		c.String(http.StatusServiceUnavailable, "not ready\n")
		return
	}
	c.String(http.StatusOK, "ready\n")
}
