// Command demo is signoff's click-through DEMO (not for production): a dev
// identity provider and two relying parties, App A and App B, on three
// listeners. Sign in to both as the demo user, sign out in App A, and watch
// App B receive its back-channel logout token and front-channel iframe.
//
//	demo -issuer http://localhost:8080 -signoff-url http://127.0.0.1:8080
//
// Every flag can also be set by the environment variable DEMO_<FLAG>, with
// dashes as underscores (DEMO_SIGNOFF_URL); -api-token defaults to
// SIGNOFF_API_TOKEN. Flags win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/signoff/signoff/services/demo/internal/idp"
	"github.com/signoff/signoff/services/demo/internal/rp"
	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/service"
)

func main() {
	service.Main("demo", func(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
		return run(ctx, args, getenv, stdout)
	})
}

// options are the demo's flags.
type options struct {
	issuer        string
	signoffURL    string
	apiToken      string
	publicHost    string
	idpListen     string
	appAListen    string
	appBListen    string
	clientSecret  string
	webhookSecret string
	idpKeysDir    string
	logFormat     string
	healthcheck   string
}

// parseFlags reads the flags, with DEMO_* environment variables as
// defaults.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(out)
	token := getenv("SIGNOFF_API_TOKEN")
	if token == "" {
		token = "dev-token-change-me"
	}
	fs.StringVar(&o.issuer, "issuer", "http://localhost:8080", "signoff's issuer: the iss of ID tokens; browsers reach signoff here")
	fs.StringVar(&o.signoffURL, "signoff-url", "http://127.0.0.1:8080", "signoff's base URL from the demo's server (API, discovery, JWKS)")
	fs.StringVar(&o.apiToken, "api-token", token, "signoff's API bearer token (default $SIGNOFF_API_TOKEN)")
	fs.StringVar(&o.publicHost, "public-host", "localhost", "host of the IdP and apps in browser URLs; must match the issuer's host, for the idp_session cookie")
	fs.StringVar(&o.idpListen, "idp-listen", "127.0.0.1:9000", "listen address of the dev IdP")
	fs.StringVar(&o.appAListen, "app-a-listen", "127.0.0.1:9001", "listen address of App A (client app-a)")
	fs.StringVar(&o.appBListen, "app-b-listen", "127.0.0.1:9002", "listen address of App B (client app-b)")
	fs.StringVar(&o.clientSecret, "client-secret", "demo-client-secret", "the one client secret of both apps at the dev IdP's /token")
	fs.StringVar(&o.webhookSecret, "webhook-secret", "dev-webhook-secret-change-me", "App B's webhook_secret in signoff's config; empty: no /webhook")
	fs.StringVar(&o.idpKeysDir, "idp-keys-dir", "", "keep the IdP's generated RS256 key here (a PEM there is reused); empty: a new key each start")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&o.healthcheck, "healthcheck", "", "GET this URL, exit 0 on a 2xx answer and 1 otherwise, instead of serving (container health checks)")
	var bad []error
	fs.VisitAll(func(f *flag.Flag) {
		env := "DEMO_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				bad = append(bad, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	if err := errors.Join(bad...); err != nil {
		return nil, err
	}
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	return o, nil
}

// run is main with its dependencies passed in, so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parseFlags(args, getenv, stdout)
	if err != nil {
		return err
	}
	if o.healthcheck != "" {
		return service.Probe(ctx, o.healthcheck)
	}
	var handler slog.Handler = slog.NewTextHandler(stdout, nil)
	if o.logFormat == "json" {
		handler = slog.NewJSONHandler(stdout, nil)
	}
	logger := slog.New(handler)

	listeners := map[string]net.Listener{}
	defer func() {
		for _, ln := range listeners {
			_ = ln.Close()
		}
	}()
	for _, addr := range []string{o.idpListen, o.appAListen, o.appBListen} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", addr, err)
		}
		listeners[addr] = ln
	}
	idpPublic, err := publicURL(o.publicHost, o.idpListen)
	if err != nil {
		return err
	}
	idpInternal := internalURL(o.idpListen)
	appAPublic, err := publicURL(o.publicHost, o.appAListen)
	if err != nil {
		return err
	}
	appBPublic, err := publicURL(o.publicHost, o.appBListen)
	if err != nil {
		return err
	}

	idpKeys, cleanup, err := loadIdPKeys(o.idpKeysDir, logger)
	if err != nil {
		return err
	}
	defer cleanup()
	provider := idp.New(idp.Config{
		Issuer:  o.issuer,
		Subject: "demo-user",
		Clients: []idp.Client{
			{ID: "app-a", Name: "App A", RedirectURIs: []string{appAPublic + "/callback"}},
			{ID: "app-b", Name: "App B", RedirectURIs: []string{appBPublic + "/callback"}},
		},
		ClientSecret: o.clientSecret,
		Keys:         idpKeys,
		Reporter:     idp.NewReporter(o.signoffURL, o.apiToken, &http.Client{Timeout: 5 * time.Second}),
		Logger:       logger.With("component", "idp"),
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	// The IdP serves first: each app fetches its JWK Set on start.
	serve(ctx, g, listeners[o.idpListen], provider.Handler(), logger)
	for _, a := range []struct{ name, clientID, public, listen, webhookSecret string }{
		{"App A", "app-a", appAPublic, o.appAListen, ""},
		{"App B", "app-b", appBPublic, o.appBListen, o.webhookSecret},
	} {
		app, err := rp.New(ctx, rp.Config{
			Name: a.name, ClientID: a.clientID, ClientSecret: o.clientSecret,
			PublicURL: a.public, IdPPublicURL: idpPublic, IdPURL: idpInternal,
			Issuer: o.issuer, SignoffURL: o.signoffURL, WebhookSecret: a.webhookSecret,
			HTTPClient: &http.Client{Timeout: 10 * time.Second},
			Logger:     logger.With("component", "rp"),
		})
		if err != nil {
			cancel()
			_ = g.Wait()
			return fmt.Errorf("starting %s: %w", a.name, err)
		}
		serve(ctx, g, listeners[a.listen], app.Handler(), logger)
	}
	logger.Info("DEMO (not for production) is up: open App A and App B, sign in to both, sign out in App A",
		"app_a", appAPublic, "app_b", appBPublic, "idp", idpPublic, "issuer", o.issuer, "signoff_url", o.signoffURL)
	err = g.Wait()
	logger.Info("demo stopped")
	return err
}

// serve runs an HTTP server on ln in g until ctx ends, then shuts it down
// gracefully.
func serve(ctx context.Context, g *errgroup.Group, ln net.Listener, h http.Handler, logger *slog.Logger) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shutting down %s: %w", ln.Addr(), err)
		}
		return nil
	})
}

// loadIdPKeys returns the IdP's RS256 signing key, kept in dir, or
// generated in a temporary directory that cleanup removes.
func loadIdPKeys(dir string, logger *slog.Logger) (*keys.Set, func(), error) {
	cleanup := func() {}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "signoff-demo-idp-")
		if err != nil {
			return nil, nil, fmt.Errorf("creating IdP key directory: %w", err)
		}
		dir, cleanup = tmp, func() { _ = os.RemoveAll(tmp) }
	}
	set, err := keys.Load(config.Keys{GenerateDir: dir}, []string{keys.RS256}, logger)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("loading the IdP's key: %w", err)
	}
	return set, cleanup, nil
}

// publicURL is http://host:port, the port of the listen address.
func publicURL(host, listen string) (string, error) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" {
		return "", fmt.Errorf("listen address %q: want host:port with a fixed port", listen)
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// internalURL is how the demo's apps reach its IdP from the same process:
// the listen address, with loopback for a wildcard host.
func internalURL(listen string) string {
	host, port, _ := net.SplitHostPort(listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
