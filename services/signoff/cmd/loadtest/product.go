package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// product is a signoff all-in-one process under test.
type product struct {
	cmd  *exec.Cmd
	base string
	dir  string
}

// pprofAddr, when set, makes the product serve pprof there.
var pprofAddr string

// profileFile and memProfileFile are -cpuprofile and -memprofile.
var profileFile, memProfileFile string

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
const clockTicks = 100

// freePort returns a loopback address whose port was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startProduct writes a configuration with K back-channel clients whose
// URIs point at recv, starts bin with it, and waits until it is ready.
func startProduct(ctx context.Context, bin string, s scenario, recv string, logs io.Writer) (*product, error) {
	dir, err := os.MkdirTemp("", "signoff-loadtest-")
	if err != nil {
		return nil, fmt.Errorf("making the product's directory: %w", err)
	}
	cfg, addr, err := writeConfig(dir, s, recv)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	p, err := launch(ctx, bin, cfg, dir, addr, logs, 30*time.Second)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

// writeConfig writes dir/signoff.yaml: K back-channel clients whose URIs
// point at recv, the store and the generated keys under dir, a free
// loopback port. It returns the file and the port's address.
func writeConfig(dir string, s scenario, recv string) (string, string, error) {
	addr, err := freePort()
	if err != nil {
		return "", "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: http://%s\nlisten: %s\nlog: {level: warn}\n", addr, addr)
	fmt.Fprintf(&b, "nats: {store_dir: %s}\napi: {token: loadtest}\nkeys: {generate_dir: %s}\n",
		filepath.Join(dir, "nats"), filepath.Join(dir, "keys"))
	fmt.Fprintf(&b, "logout: {wait: 2s}\nsessions: {max_clients: %d}\nclients:\n", max(s.K, 64))
	for i := range s.K {
		fmt.Fprintf(&b, "  - client_id: c%d\n    post_logout_redirect_uris: [%s/done]\n", i, recv)
		fmt.Fprintf(&b, "    backchannel_logout_uri: %s/c/c%d\n    backchannel_logout_session_required: true\n", recv, i)
		fmt.Fprintf(&b, "    id_token_signed_response_alg: %s\n", s.Alg)
	}
	cfg := filepath.Join(dir, "signoff.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return "", "", fmt.Errorf("writing the configuration: %w", err)
	}
	return cfg, addr, nil
}

// launch starts bin with the configuration cfg, whose files are under dir
// and which listens on addr, and waits up to ready for /readyz.
func launch(ctx context.Context, bin, cfg, dir, addr string, logs io.Writer, ready time.Duration) (*product, error) {
	cmd := exec.CommandContext(ctx, bin, "-config", cfg)
	if pprofAddr != "" {
		cmd.Env = append(os.Environ(), "SIGNOFF_DEBUG_PPROF="+pprofAddr)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &product{cmd: cmd, base: "http://" + addr, dir: dir}
	for start := time.Now(); time.Since(start) < ready && ctx.Err() == nil; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
	}
	p.halt()
	return nil, fmt.Errorf("signoff did not become ready within %s", ready)
}

// cpu returns the process's CPU time so far (user and system, all threads).
func (p *product) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which ends with the last ')'.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc stat")
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// stop stops the product and removes its directory.
func (p *product) stop() {
	p.halt()
	_ = os.RemoveAll(p.dir)
}

// halt stops the product as an operator would (SIGINT, then SIGKILL after
// 20 s) and leaves its directory alone.
func (p *product) halt() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}
