package deploycheck

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/signoff/signoff/shared/config"
)

// The services of docker-compose.yml, besides the demo (demo_test.go).
var (
	natsServices   = []string{"nats-1", "nats-2", "nats-3"}
	signoffByImage = map[string][]string{
		"signoff/front:dev":       {"front-1", "front-2"},
		"signoff/backchannel:dev": {"backchannel-1", "backchannel-2"},
		"signoff/webhook:dev":     {"webhook"},
		"signoff/events:dev":      {"events"},
	}
)

// signs reports whether the signoff image signs anything with the signing
// keys (logout tokens, and the front's CSRF and report keys derive from
// them): only those containers mount the keys.
func signs(image string) bool {
	return strings.HasPrefix(image, "signoff/front:") || strings.HasPrefix(image, "signoff/backchannel:")
}

// signoffConfigPath is where every signoff container finds its configuration.
const signoffConfigPath = "/etc/signoff/signoff.yaml"

// loadCompose loads docker-compose.yml the way `docker compose` does: the
// compose-spec loader, with interpolation, normalization and validation
// against the compose schema, and env as the only environment.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func signoffServices() []string {
	var names []string
	for _, svcs := range signoffByImage {
		names = append(names, svcs...)
	}
	slices.Sort(names)
	return names
}

// binds returns the bind mounts of svc, with sources on disk.
func binds(root string, svc types.ServiceConfig) []mount {
	var ms []mount
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		src := v.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(root, src)
		}
		ms = append(ms, mount{target: v.Target, source: src})
	}
	return ms
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	want := append(append([]string{"proxy", demoService}, natsServices...), signoffServices()...)
	for _, name := range want {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	for image, names := range signoffByImage {
		for _, name := range names {
			if got := p.Services[name].Image; got != image {
				t.Errorf("%s: image %q, want %q", name, got, image)
			}
		}
	}
	for name, svc := range p.Services {
		if svc.Image == "" {
			t.Errorf("%s: no image", name)
		}
		if svc.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s: restart %q, want unless-stopped", name, svc.Restart)
		}
		if svc.Build != nil {
			if _, err := os.Stat(filepath.Join(svc.Build.Context, svc.Build.Dockerfile)); err != nil {
				t.Errorf("%s: build: %v", name, err)
			}
			if svc.Build.Context != repoRoot(t) {
				t.Errorf("%s: build context %s, want the repository root (go.work, shared/)", name, svc.Build.Context)
			}
		}
	}
	// Each signoff image is built by one of its services; the others do not
	// try to pull it from a registry.
	for image, names := range signoffByImage {
		built := 0
		for _, name := range names {
			svc := p.Services[name]
			switch {
			case svc.Build != nil:
				built++
			case svc.PullPolicy != types.PullPolicyNever:
				t.Errorf("%s: %s is built by another service; set pull_policy: never", name, image)
			}
		}
		if built != 1 {
			t.Errorf("%s: built by %d services, want 1", image, built)
		}
	}
}

func TestComposeHealthChecks(t *testing.T) {
	p := loadCompose(t)
	for name, svc := range p.Services {
		hc := svc.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) == 0 {
			t.Errorf("%s: no health check", name)
			continue
		}
		image, ok := strings.CutPrefix(svc.Image, "signoff/")
		if !ok {
			continue
		}
		// Distroless: no shell, no wget. The image's own binary probes
		// itself: CMD <entrypoint> -healthcheck http://127.0.0.1:<port>/...
		image, _, _ = strings.Cut(image, ":")
		want := []string{"CMD", entrypoint(t, image), "-healthcheck"}
		if len(hc.Test) != 4 || !slices.Equal(hc.Test[:3], want) {
			t.Errorf("%s: health check %q, want %q followed by a URL", name, hc.Test, want)
			continue
		}
		u, err := url.Parse(hc.Test[3])
		if err != nil || u.Hostname() != "127.0.0.1" {
			t.Errorf("%s: health check URL %q is not on 127.0.0.1", name, hc.Test[3])
			continue
		}
		if want := probeTarget(t, p, name); u.Port() != want.port || u.Path != want.path {
			t.Errorf("%s: health check probes %s, want port %s path %s", name, hc.Test[3], want.port, want.path)
		}
	}
	for _, name := range signoffServices() {
		deps := p.Services[name].DependsOn
		for _, n := range natsServices {
			if got := deps[n].Condition; got != types.ServiceConditionHealthy {
				t.Errorf("%s: depends_on %s condition %q, want %s", name, n, got, types.ServiceConditionHealthy)
			}
		}
	}
	// The proxy sends traffic to fronts that are ready.
	for _, n := range signoffByImage["signoff/front:dev"] {
		if got := p.Services["proxy"].DependsOn[n].Condition; got != types.ServiceConditionHealthy {
			t.Errorf("proxy: depends_on %s condition %q, want %s", n, got, types.ServiceConditionHealthy)
		}
	}
}

// TestComposeStopGrace: SIGTERM gives a front the time to answer the
// requests in flight (logout.wait, then 10 s) and a worker the time to
// finish its calls (10 s each); Docker's default of 10 s kills them half
// way.
func TestComposeStopGrace(t *testing.T) {
	p := loadCompose(t)
	for _, name := range signoffServices() {
		g := p.Services[name].StopGracePeriod
		if g == nil || time.Duration(*g) < 20*time.Second {
			t.Errorf("%s: stop_grace_period %v, want at least 20s", name, g)
		}
	}
}

// entrypoint is the binary that an image's Dockerfile runs.
func entrypoint(t *testing.T, image string) string {
	t.Helper()
	for _, in := range dockerfile(t, image) {
		if rest, ok := strings.CutPrefix(in, "ENTRYPOINT "); ok {
			var argv []string
			if err := json.Unmarshal([]byte(rest), &argv); err != nil || len(argv) == 0 {
				t.Fatalf("%s.Dockerfile: ENTRYPOINT %s is not an exec-form list", image, rest)
			}
			return argv[0]
		}
	}
	t.Fatalf("%s.Dockerfile has no ENTRYPOINT", image)
	return ""
}

// probeTarget is where a service's health check should look: a front's
// /readyz on its configured listen port (ready once its index is built), a
// worker's /readyz on its -metrics-listen port (ready once its consumers
// are bound), the demo IdP's /jwks.
func probeTarget(t *testing.T, p *types.Project, name string) (want struct{ port, path string }) {
	t.Helper()
	svc := p.Services[name]
	switch {
	case strings.HasPrefix(svc.Image, "signoff/front:"):
		cfg, err := config.Load(filepath.Join(repoRoot(t), "deployments", "compose", "signoff.yaml"), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		_, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			t.Fatalf("listen %q: %v", cfg.Listen, err)
		}
		want.port, want.path = port, "/readyz"
	case strings.HasPrefix(svc.Image, "signoff/demo:"):
		want.port, want.path = demoFlagPort(t, svc.Command, "idp-listen"), "/jwks"
	default:
		i := slices.Index(svc.Command, "-metrics-listen")
		if i < 0 || i+1 >= len(svc.Command) {
			t.Fatalf("%s: no -metrics-listen in its command %q", name, svc.Command)
		}
		_, port, err := net.SplitHostPort(svc.Command[i+1])
		if err != nil {
			t.Fatalf("%s: -metrics-listen %q: %v", name, svc.Command[i+1], err)
		}
		want.port, want.path = port, "/readyz"
	}
	return want
}

// demoFlagPort is the port of the demo's -<flag>=host:port.
func demoFlagPort(t *testing.T, cmd []string, flag string) string {
	t.Helper()
	addr, ok := demoFlags(t, cmd)[flag]
	if !ok {
		t.Fatalf("demo: no -%s in %q", flag, cmd)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("demo: -%s %q: %v", flag, addr, err)
	}
	return port
}

// TestComposePortsStayOnThisMachine: the stack has public dev keys, a
// known API token and plain http, so every published port is bound to
// the host's loopback, never to every interface.
func TestComposePortsStayOnThisMachine(t *testing.T) {
	p := loadCompose(t)
	for name, svc := range p.Services {
		for _, port := range svc.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %s is published on %q, want 127.0.0.1", name, port.Published, port.HostIP)
			}
		}
	}
}

func TestComposeVolumesAndMounts(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t)
	for _, n := range natsServices {
		vol := n + "-data"
		if _, ok := p.Volumes[vol]; !ok {
			t.Errorf("named volume %s is not declared", vol)
		}
		found := false
		for _, v := range p.Services[n].Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source == vol && v.Target == "/data" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: volume %s is not mounted at /data (the JetStream store)", n, vol)
		}
	}
	for name, svc := range p.Services {
		for _, m := range binds(root, svc) {
			if _, err := os.Stat(m.source); err != nil {
				t.Errorf("%s: bind mount for %s: %v", name, m.target, err)
			}
		}
	}
}

func TestComposeProxy(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t)
	proxy := p.Services["proxy"]
	published := false
	for _, port := range proxy.Ports {
		if port.Target == 8080 && port.Published == "8080" {
			published = true
		}
	}
	if !published {
		t.Errorf("proxy: port 8080 is not published as 8080 (ports %+v)", proxy.Ports)
	}
	caddyfile, ok := resolve(binds(root, proxy), "/etc/caddy/Caddyfile")
	if !ok {
		t.Fatal("proxy: no Caddyfile mounted at /etc/caddy/Caddyfile")
	}
	data, err := os.ReadFile(caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{":8080 {", "reverse_proxy front-1:8080 front-2:8080", "health_uri /readyz", ":8081 {"} {
		if !strings.Contains(text, want) {
			t.Errorf("Caddyfile lacks %q", want)
		}
	}
	// The proxy's health check hits the port the Caddyfile answers on.
	if test := strings.Join(proxy.HealthCheck.Test, " "); !strings.Contains(test, "127.0.0.1:8081/healthz") {
		t.Errorf("proxy: health check %q does not use the Caddyfile's :8081/healthz", test)
	}
}

// TestComposeSignoffConfig loads the configuration of every signoff service
// with signoff's own loader, with the environment that docker-compose.yml
// gives the service, with and without SIGNOFF_API_TOKEN on the host.
func TestComposeSignoffConfig(t *testing.T) {
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
			for _, name := range signoffServices() {
				svc := p.Services[name]
				env := map[string]string{}
				for k, v := range svc.Environment {
					if v != nil {
						env[k] = *v
					}
				}
				if env["SIGNOFF_CONFIG"] != signoffConfigPath {
					t.Errorf("%s: SIGNOFF_CONFIG %q, want %s", name, env["SIGNOFF_CONFIG"], signoffConfigPath)
				}
				mounts := binds(root, svc)
				path, ok := resolve(mounts, signoffConfigPath)
				if !ok {
					t.Errorf("%s: nothing mounted at %s", name, signoffConfigPath)
					continue
				}
				if !signs(svc.Image) {
					// Nor the keys' folder at any other path.
					keysDir := filepath.Join(root, "deployments", "compose", "keys")
					for _, m := range mounts {
						if rel, err := filepath.Rel(keysDir, m.source); err == nil && !strings.HasPrefix(rel, "..") {
							t.Errorf("%s: %s mounts the signing keys (%s), and it signs nothing", name, m.target, m.source)
						}
					}
				}
				cfg := loadSignoffConfig(t, path, env, mounts, signs(svc.Image))
				if cfg == nil {
					continue
				}
				if cfg.API.Token != tc.wantToken {
					t.Errorf("%s: api.token %q, want %q", name, cfg.API.Token, tc.wantToken)
				}
				if cfg.Issuer != "http://localhost:8080" {
					t.Errorf("%s: issuer %q, want http://localhost:8080 (the proxy)", name, cfg.Issuer)
				}
				if !strings.HasSuffix(cfg.Listen, ":8080") || strings.HasPrefix(cfg.Listen, "127.") {
					t.Errorf("%s: listen %q: the proxy reaches the fronts on <any>:8080", name, cfg.Listen)
				}
				if cfg.NATS.Replicas != len(natsServices) {
					t.Errorf("%s: nats.replicas %d, want %d", name, cfg.NATS.Replicas, len(natsServices))
				}
				var hosts []string
				for _, u := range strings.Split(cfg.NATS.URL, ",") {
					pu, err := url.Parse(strings.TrimSpace(u))
					if err != nil || pu.Port() != "4222" {
						t.Errorf("%s: nats.url %q: %v", name, u, err)
						continue
					}
					hosts = append(hosts, pu.Hostname())
				}
				slices.Sort(hosts)
				if !slices.Equal(hosts, natsServices) {
					t.Errorf("%s: nats.url names %v, want %v", name, hosts, natsServices)
				}
				// Every worker: every signoff image but the front's.
				if !strings.HasPrefix(svc.Image, "signoff/front:") {
					if cmd := strings.Join(svc.Command, " "); !strings.Contains(cmd, "-metrics-listen 0.0.0.0:") {
						t.Errorf("%s: command %q: -metrics-listen must listen on every interface", name, cmd)
					}
				}
			}
		})
	}
}

// TestComposeNATSConfig parses each node's configuration with the NATS
// server's own parser.
func TestComposeNATSConfig(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t)
	for _, name := range natsServices {
		svc := p.Services[name]
		i := slices.Index(svc.Command, "--config")
		if i < 0 || i+1 >= len(svc.Command) {
			t.Errorf("%s: command %q has no --config", name, svc.Command)
			continue
		}
		path, ok := resolve(binds(root, svc), svc.Command[i+1])
		if !ok {
			t.Errorf("%s: %s is not mounted", name, svc.Command[i+1])
			continue
		}
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Errorf("%s: %s: %v", name, path, err)
			continue
		}
		if opts.ServerName != name {
			t.Errorf("%s: server_name %q", name, opts.ServerName)
		}
		if !opts.JetStream {
			t.Errorf("%s: jetstream is off", name)
		}
		if !strings.HasPrefix(opts.StoreDir, "/data/") {
			t.Errorf("%s: jetstream store_dir %q is not on the /data volume", name, opts.StoreDir)
		}
		if opts.Port != 4222 || opts.HTTPPort != 8222 || opts.Cluster.Port != 6222 {
			t.Errorf("%s: ports client %d, monitoring %d, cluster %d; want 4222, 8222, 6222",
				name, opts.Port, opts.HTTPPort, opts.Cluster.Port)
		}
		if opts.Cluster.Name == "" {
			t.Errorf("%s: no cluster name", name)
		}
		var routes []string
		for _, r := range opts.Routes {
			routes = append(routes, fmt.Sprintf("%s:%s", r.Hostname(), r.Port()))
		}
		slices.Sort(routes)
		want := []string{"nats-1:6222", "nats-2:6222", "nats-3:6222"}
		if !slices.Equal(routes, want) {
			t.Errorf("%s: cluster routes %v, want %v", name, routes, want)
		}
		if hc := strings.Join(svc.HealthCheck.Test, " "); !strings.Contains(hc, "localhost:8222/healthz") {
			t.Errorf("%s: health check %q does not use the monitoring port", name, hc)
		}
	}
}
