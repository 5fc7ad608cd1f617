package deploycheck

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/signoff/signoff/shared/config"
)

// demoService is the compose service of the DEMO (services/demo): the dev
// IdP and App A / App B.
const demoService = "demo"

// demoPorts are the ports of the dev IdP, App A and App B, in that order.
var demoPorts = []string{"9000", "9001", "9002"}

// demoFlags returns the -name=value flags of a command.
func demoFlags(t *testing.T, cmd []string) map[string]string {
	t.Helper()
	flags := map[string]string{}
	for _, arg := range cmd {
		name, value, ok := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !ok || !strings.HasPrefix(arg, "-") {
			t.Errorf("demo: command argument %q: write flags as -name=value", arg)
			continue
		}
		flags[name] = value
	}
	return flags
}

// TestComposeDemo checks the demo service against the compose signoff
// configuration: the URLs each side uses to reach the other, the API token
// and the webhook secret.
func TestComposeDemo(t *testing.T) {
	root := repoRoot(t)
	for _, tc := range []struct {
		name      string
		env       []string
		wantToken string
	}{
		{"default token", nil, "dev-token-change-me"},
		{"token from host", []string{"SIGNOFF_API_TOKEN=from-the-host"}, "from-the-host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadCompose(t, tc.env...)
			svc, ok := p.Services[demoService]
			if !ok {
				t.Fatal("no demo service")
			}
			if svc.Image != "signoff/demo:dev" {
				t.Errorf("demo: image %q, want signoff/demo:dev", svc.Image)
			}
			if svc.Build == nil || filepath.ToSlash(svc.Build.Dockerfile) != "deployments/docker/demo.Dockerfile" {
				t.Errorf("demo: not built by deployments/docker/demo.Dockerfile (build %+v)", svc.Build)
			}
			for _, port := range demoPorts {
				if !slices.ContainsFunc(svc.Ports, func(pc types.ServicePortConfig) bool {
					return pc.Published == port && pc.Target == mustAtoi(t, port)
				}) {
					t.Errorf("demo: port %s is not published as %s", port, port)
				}
			}
			if v := svc.Environment["SIGNOFF_API_TOKEN"]; v == nil || *v != tc.wantToken {
				t.Errorf("demo: SIGNOFF_API_TOKEN %v, want %q (the fronts' api.token)", v, tc.wantToken)
			}

			// The configuration every signoff service mounts.
			front := p.Services["front-1"]
			env := map[string]string{}
			for k, v := range front.Environment {
				if v != nil {
					env[k] = *v
				}
			}
			path, ok := resolve(binds(root, front), signoffConfigPath)
			if !ok {
				t.Fatal("front-1: no configuration mounted")
			}
			cfg, err := config.Load(path, func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if cfg.API.Token != tc.wantToken {
				t.Errorf("api.token %q, want %q", cfg.API.Token, tc.wantToken)
			}

			flags := demoFlags(t, svc.Command)
			if flags["issuer"] != cfg.Issuer {
				t.Errorf("demo: -issuer %q, want the issuer %q (the iss of its ID tokens)", flags["issuer"], cfg.Issuer)
			}
			if u, err := url.Parse(flags["signoff-url"]); err != nil || p.Services[u.Hostname()].Name == "" || u.Port() != "8080" {
				t.Errorf("demo: -signoff-url %q: want a compose service on port 8080 (proxy)", flags["signoff-url"])
			}
			public := "http://" + flags["public-host"]
			if issuer, _ := url.Parse(cfg.Issuer); flags["public-host"] != issuer.Hostname() {
				t.Errorf("demo: -public-host %q, want the issuer's host %q: the idp_session cookie must reach signoff", flags["public-host"], issuer.Hostname())
			}
			for i, name := range []string{"idp-listen", "app-a-listen", "app-b-listen"} {
				host, port, err := net.SplitHostPort(flags[name])
				if err != nil || host != "0.0.0.0" || port != demoPorts[i] {
					t.Errorf("demo: -%s %q, want 0.0.0.0:%s", name, flags[name], demoPorts[i])
				}
			}

			if cfg.SessionCookie != "idp_session" {
				t.Errorf("session_cookie %q, want the dev IdP's idp_session", cfg.SessionCookie)
			}
			if want := "http://demo:" + demoPorts[0] + "/jwks"; cfg.IDTokenHint.JWKSURI != want {
				t.Errorf("id_token_hint.jwks_uri %q, want %s", cfg.IDTokenHint.JWKSURI, want)
			}
			reg := cfg.Registry()
			for i, id := range []string{"app-a", "app-b"} {
				c, ok := reg.Client(id)
				if !ok {
					t.Errorf("client %s is not configured", id)
					continue
				}
				browser := public + ":" + demoPorts[i+1]
				internal := "http://" + demoService + ":" + demoPorts[i+1]
				if !slices.Contains(c.RedirectURIs, browser+"/callback") {
					t.Errorf("%s: redirect_uris %v lack %s/callback", id, c.RedirectURIs, browser)
				}
				if !c.HasPostLogoutRedirectURI(browser + "/signed-out") {
					t.Errorf("%s: post_logout_redirect_uris lack %s/signed-out", id, browser)
				}
				if c.FrontchannelLogoutURI != browser+"/frontchannel-logout" {
					t.Errorf("%s: frontchannel_logout_uri %q, want %s/frontchannel-logout (loaded by the browser)", id, c.FrontchannelLogoutURI, browser)
				}
				if c.BackchannelLogoutURI != internal+"/backchannel-logout" {
					t.Errorf("%s: backchannel_logout_uri %q, want %s/backchannel-logout (posted by the workers)", id, c.BackchannelLogoutURI, internal)
				}
			}
			if b, ok := reg.Client("app-b"); ok {
				if want := "http://" + demoService + ":" + demoPorts[2] + "/webhook"; b.WebhookURI != want {
					t.Errorf("app-b: webhook_uri %q, want %s", b.WebhookURI, want)
				}
				if b.WebhookSecret != flags["webhook-secret"] {
					t.Errorf("app-b: webhook_secret differs from the demo's -webhook-secret")
				}
				if !b.LogoutEvents {
					t.Errorf("app-b: logout_events is off: the events service would publish nothing")
				}
			}
		})
	}
}

// TestDemoConfig loads deployments/demo/signoff.yaml, the configuration of
// `make demo`, with signoff's own loader and checks it against the demo's
// defaults (services/demo: the IdP on 127.0.0.1:9000, the apps on :9001 and
// :9002, signoff at http://localhost:8080).
func TestDemoConfig(t *testing.T) {
	root := repoRoot(t)
	path := filepath.Join(root, "deployments", "demo", "signoff.yaml")
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatalf("%s does not pass config.Load:\n%v", path, err)
	}
	if cfg.Issuer != "http://localhost:8080" || cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("issuer %q, listen %q: want http://localhost:8080 on 127.0.0.1:8080", cfg.Issuer, cfg.Listen)
	}
	if cfg.NATS.URL != "" || cfg.Keys.GenerateDir == "" {
		t.Errorf("nats.url %q, keys.generate_dir %q: want the embedded server and generated keys", cfg.NATS.URL, cfg.Keys.GenerateDir)
	}
	if cfg.SessionCookie != "idp_session" || cfg.IDTokenHint.JWKSURI != "http://127.0.0.1:9000/jwks" {
		t.Errorf("session_cookie %q, id_token_hint.jwks_uri %q", cfg.SessionCookie, cfg.IDTokenHint.JWKSURI)
	}
	reg := cfg.Registry()
	for i, id := range []string{"app-a", "app-b"} {
		c, ok := reg.Client(id)
		if !ok {
			t.Errorf("client %s is not configured", id)
			continue
		}
		browser := "http://localhost:" + demoPorts[i+1]
		if !slices.Contains(c.RedirectURIs, browser+"/callback") || !c.HasPostLogoutRedirectURI(browser+"/signed-out") ||
			c.FrontchannelLogoutURI != browser+"/frontchannel-logout" || !strings.HasSuffix(c.BackchannelLogoutURI, ":"+demoPorts[i+1]+"/backchannel-logout") {
			t.Errorf("%s: URIs do not match the demo's %s", id, browser)
		}
	}
	if b, ok := reg.Client("app-b"); !ok || b.SigningAlg() != "ES256" || b.WebhookURI == "" {
		t.Error("app-b: want ES256 logout tokens and a webhook")
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(makefile), "-config deployments/demo/signoff.yaml") {
		t.Error("make demo does not start signoff with deployments/demo/signoff.yaml")
	}
}

func mustAtoi(t *testing.T, s string) uint32 {
	t.Helper()
	var n uint32
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a port: %q", s)
		}
		n = n*10 + uint32(c-'0')
	}
	return n
}
