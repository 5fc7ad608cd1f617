// Package front is signoff's front service: the OpenID Connect end-session
// endpoint, discovery and JWKS, the session index and its API. It exports
// New and Run so that the all-in-one binary and cmd/front compose it the
// same way.
package front

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/signoff/signoff/services/front/internal/endsession"
	"github.com/signoff/signoff/services/front/internal/httpapi"
	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/services/front/internal/pages"
	"github.com/signoff/signoff/services/front/internal/sessions"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/natsconn"
	"github.com/signoff/signoff/shared/propagate"
)

// Deps are the front's outside dependencies, built by the caller.
type Deps struct {
	NATS   *natsconn.Conn
	Keys   *keys.Set
	Logger *slog.Logger
	// WaitFor returns the channels whose deliveries to a client the front
	// waits on before answering; nil means the back-channel deliveries of
	// every client with a backchannel_logout_uri.
	WaitFor func(*config.Client) []string
	// Metrics registers and serves the front's metrics at /metrics; nil
	// means a registry of its own.
	Metrics *prometheus.Registry
	// HTTPClient fetches id_token_hint.jwks_uri; nil means a client with
	// timeouts.
	HTTPClient *http.Client
	// Listener is where Run serves; nil means Run listens on cfg.Listen.
	// A main that listens first (Listen) fails on a taken port before it
	// starts anything else.
	Listener net.Listener
}

// Listen listens on cfg.Listen, for Deps.Listener.
func Listen(cfg *config.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	return ln, nil
}

// Front is a running front: its index, its NATS consumers and its HTTP
// handler.
type Front struct {
	cfg      *config.Config
	logger   *slog.Logger
	index    *index.Index
	feed     *sessions.Feed
	intake   *sessions.Intake
	verifier *keys.HintVerifier
	handler  http.Handler
	nats     *natsconn.Conn
	// stopBackground ends the retention sweep and the mender's late
	// logouts; background waits for them.
	stopBackground context.CancelFunc
	background     sync.WaitGroup
}

// New builds the front: declares the streams, starts the projection into
// the index and the intake of participation reports, and wires the HTTP
// handler. Close releases what New started.
func New(ctx context.Context, cfg *config.Config, d Deps) (*Front, error) {
	if err := natsconn.EnsureStreams(ctx, d.NATS.JS, cfg, d.Logger); err != nil {
		return nil, err
	}
	if why := weakAPIToken(cfg.API.Token); why != "" {
		d.Logger.Warn("api.token "+why+": anyone who guesses it can end every session; set SIGNOFF_API_TOKEN to a long random value",
			"listen", cfg.Listen)
	}
	ix, err := index.New()
	if err != nil {
		return nil, err
	}
	clients := cfg.Registry()
	httpClient := d.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	verifier, err := keys.NewHintVerifier(ctx, cfg.IDTokenHint, cfg.Issuer, d.Keys, httpClient)
	if err != nil {
		return nil, fmt.Errorf("setting up id_token_hint verification: %w", err)
	}
	renderer, err := pages.New()
	if err != nil {
		return nil, err
	}
	// The confirmation form's CSRF keys come from the signing keys, so that
	// every front replica shares them without more configuration.
	csrfKeys, err := d.Keys.DeriveSecrets("csrf")
	if err != nil {
		return nil, err
	}
	// So do the keys of the front-channel page's report tokens: a page
	// served by one front reports to whichever the proxy picks.
	fcKeys, err := d.Keys.DeriveSecrets("frontchannel-report")
	if err != nil {
		return nil, err
	}
	svc := sessions.NewService(d.NATS.JS, ix, clients, cfg.Sessions.MaxClients, cfg.Issuer)
	f := &Front{
		cfg: cfg, logger: d.Logger, index: ix, verifier: verifier, nats: d.NATS,
		feed: sessions.NewFeed(d.NATS.JS, ix, cfg.Sessions.Retention, d.Logger),
	}
	f.intake = sessions.NewIntake(d.NATS.JS, svc, f.feed.Ready(), d.Logger)
	f.feed.SkipOwnEnds(svc)
	// Before the feed writes to the index: the mender hears of every
	// uncovered participant.
	mender := sessions.NewMender(svc, ix, d.Logger)
	if err := f.feed.Start(ctx); err != nil {
		f.Close(ctx)
		return nil, err
	}
	if err := f.intake.Start(ctx); err != nil {
		f.Close(ctx)
		return nil, err
	}
	bgCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f.stopBackground = stop
	janitor := sessions.NewJanitor(svc, ix, cfg.Sessions.Retention, cfg.Issuer, d.Logger)
	f.background.Go(func() { janitor.Run(bgCtx, f.feed.Ready(), sweepInterval(cfg.Sessions.Retention)) })
	f.background.Go(func() { mender.Run(bgCtx, f.feed.Ready()) })
	reg := d.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	endSession, err := frontMetrics(reg, ix)
	if err != nil {
		f.Close(ctx)
		return nil, err
	}
	deliveries, err := propagate.DeliveriesCounter(reg)
	if err != nil {
		f.Close(ctx)
		return nil, err
	}
	waitFor := d.WaitFor
	if waitFor == nil {
		waitFor = WaitForBackchannel
	}
	js := d.NATS.JS
	f.handler = httpapi.New(httpapi.Deps{
		Config: cfg, Clients: clients, Index: ix, Sessions: svc, Pages: renderer,
		Decider: endsession.NewDecider(cfg, clients, verifier, ix),
		JWKS:    d.Keys.JWKS(), CSRFKeys: csrfKeys, FrontchannelKeys: fcKeys,
		Ready: f.Ready, Built: f.feed.Ready(), Alive: f.Alive, WaitFor: waitFor, Backchannel: true, Frontchannel: true,
		Replay: func(ctx context.Context, channel, clientID, logoutID string) (*propagate.Task, error) {
			return propagate.Replay(ctx, js, channel, clientID, logoutID)
		},
		Gatherer: reg, EndSessionSeconds: endSession, Deliveries: deliveries,
		Logger: d.Logger,
	})
	return f, nil
}

// sampleAPIToken is the api.token of the sample configurations.
const sampleAPIToken = "dev-token-change-me"

// weakAPIToken says what is wrong with token as the API's credential, ""
// when nothing is (an empty one disables the API).
func weakAPIToken(token string) string {
	switch {
	case token == "":
		return ""
	case token == sampleAPIToken:
		return "is the sample's"
	case len(token) < 16:
		return "is shorter than 16 characters"
	}
	return ""
}

// WaitForBackchannel is the front's default wait: the back-channel
// delivery of every client with a backchannel_logout_uri.
func WaitForBackchannel(c *config.Client) []string {
	if c.BackchannelLogoutURI != "" {
		return []string{"backchannel"}
	}
	return nil
}

// frontMetrics registers the front's own metrics.
func frontMetrics(reg prometheus.Registerer, ix *index.Index) (prometheus.Observer, error) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "signoff_end_session_duration_seconds",
		Help:    "Latency of the end-session endpoint as the browser sees it, bounded wait included.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 5, 10},
	})
	size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "signoff_index_sessions",
		Help: "Sessions in the front's session index.",
	}, func() float64 { return float64(ix.Len()) })
	for _, c := range []prometheus.Collector{h, size} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering front metrics: %w", err)
		}
	}
	return h, nil
}

// sweepInterval is how often the retention sweep runs: a tenth of the
// retention, between a second and a minute.
func sweepInterval(retention time.Duration) time.Duration {
	return min(max(retention/10, time.Second), time.Minute)
}

// Handler is the front's HTTP handler.
func (f *Front) Handler() http.Handler { return f.handler }

// Index is the front's session index.
func (f *Front) Index() *index.Index { return f.index }

// Alive reports whether the front can still serve: false once its NATS
// connection has closed for good (natsconn.Conn.Closed).
func (f *Front) Alive() bool { return !f.nats.Closed() }

// Ready reports whether the index is built and NATS connected.
func (f *Front) Ready() bool {
	select {
	case <-f.feed.Ready():
		return f.nats.Connected()
	default:
		return false
	}
}

// WaitReady blocks until the index is built or ctx ends.
func (f *Front) WaitReady(ctx context.Context) error {
	select {
	case <-f.feed.Ready():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("building the session index: %w", ctx.Err())
	}
}

// Serve serves HTTP on ln until ctx ends, then shuts down gracefully: it
// stops taking requests and lets those in flight finish.
func (f *Front) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           f.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      f.cfg.Logout.Wait + 15*time.Second,
		IdleTimeout:       60 * time.Second,
		// Above httpapi.MaxHeaderBytes, so that the front, not Go's
		// server, answers the requests in between (too many cookies) with
		// a page or a problem; four times it bounds what a connection can
		// make the front hold.
		MaxHeaderBytes: 128 << 10,
		ErrorLog:       slog.NewLogLogger(f.logger.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	f.logger.Info("front listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serving http: %w", err)
	case <-ctx.Done():
	}
	f.logger.Info("front stopping: answering the requests in flight", "at_most", f.cfg.Logout.Wait+10*time.Second)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.Logout.Wait+10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down http: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving http: %w", err)
	}
	return nil
}

// Close stops the NATS consumers (draining the intake) and the hint key
// refresher. Call it after Serve returns.
func (f *Front) Close(ctx context.Context) {
	if f.stopBackground != nil {
		f.stopBackground()
		f.background.Wait()
	}
	if f.intake != nil {
		f.intake.Stop(ctx)
	}
	if f.feed != nil {
		f.feed.Stop()
	}
	if f.verifier != nil {
		f.verifier.Close()
	}
}

// Run builds the front, serves cfg.Listen until ctx ends, and shuts down.
func Run(ctx context.Context, cfg *config.Config, d Deps) error {
	ln := d.Listener
	if ln == nil {
		var err error
		if ln, err = Listen(cfg); err != nil {
			return err
		}
	}
	f, err := New(ctx, cfg, d)
	if err != nil {
		ln.Close()
		return err
	}
	defer f.Close(context.WithoutCancel(ctx))
	return f.Serve(ctx, ln)
}
