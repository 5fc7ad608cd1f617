//go:build unix

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the directory that holds go.work, found by walking up from
// the test's working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getting the working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.work above the working directory")
		}
		dir = parent
	}
}

// goCommand is the go command that runs this test, or the one on PATH.
func goCommand() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// binaries are the programs under test.
type binaries struct {
	front, backchannel, webhook, events, nats string
}

// buildBinaries builds the four signoff services and nats-server (a tool
// of this module, at the version the other modules use) into dir, without
// -race. In the workspace, one go build builds all five, so that no
// package is compiled twice (on a cold build cache that halves the time);
// with GOWORK=off, each is built from its own module.
func buildBinaries(ctx context.Context, t *testing.T, dir string) binaries {
	t.Helper()
	root := repoRoot(t)
	b := binaries{
		front:       filepath.Join(dir, "front"),
		backchannel: filepath.Join(dir, "backchannel"),
		webhook:     filepath.Join(dir, "webhook"),
		events:      filepath.Join(dir, "events"),
		nats:        filepath.Join(dir, "nats-server"),
	}
	svc := func(name string) string { return filepath.Join(root, "services", name) }
	goBuild := func(dir, out string, pkgs ...string) error {
		cmd := exec.CommandContext(ctx, goCommand(), append([]string{"build", "-o", out}, pkgs...)...)
		cmd.Dir = dir
		cmd.Env = childEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
		}
		return nil
	}
	if workspace(ctx, root) {
		err := goBuild(root, dir+string(filepath.Separator), "./services/front/cmd/front",
			"./services/backchannel/cmd/backchannel", "./services/webhook/cmd/webhook",
			"./services/events/cmd/events", "github.com/nats-io/nats-server/v2")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	builds := []struct{ out, pkg, dir string }{
		{b.front, "./cmd/front", svc("front")},
		{b.backchannel, "./cmd/backchannel", svc("backchannel")},
		{b.webhook, "./cmd/webhook", svc("webhook")},
		{b.events, "./cmd/events", svc("events")},
		{b.nats, "github.com/nats-io/nats-server/v2", svc("e2e")},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(builds))
	for i, bd := range builds {
		wg.Go(func() { errs[i] = goBuild(bd.dir, bd.out, bd.pkg) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return b
}

// workspace reports whether go commands run in root use go.work.
func workspace(ctx context.Context, root string) bool {
	cmd := exec.CommandContext(ctx, goCommand(), "env", "GOWORK")
	cmd.Dir = root
	cmd.Env = childEnv()
	out, err := cmd.Output()
	gowork := strings.TrimSpace(string(out))
	return err == nil && gowork != "" && gowork != "off"
}

// childEnv is the environment of every child process: this one's, without
// signoff's own variables, so that a developer's SIGNOFF_* settings do not
// change the topology.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SIGNOFF_") {
			env = append(env, kv)
		}
	}
	return env
}

// proc is one child process that the test can kill and start again. Its
// stdout and stderr are appended to one log file.
type proc struct {
	name string
	bin  string
	args []string
	log  string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	stopped  bool     // the test killed it: its exit is expected
	ready    bool     // it became ready since its last start
	exits    []string // unexpected exits
	restarts []string // exits before it was ready, after which it was restarted
	starts   int
}

// maxStartupRestarts is how often a NATS node that exits before it is
// ready is started again, as a supervisor (compose's restart:
// unless-stopped, Kubernetes) would. signoff's own processes get no second
// chance: starting together against a new cluster once made some exit
// (stream declarations without an answer, now retried by EnsureStreams),
// and any exit of theirs fails the test. An exit after readiness is never
// restarted.
const maxStartupRestarts = 3

// startupRestartsAllowed is how often p may be restarted before it is
// ready.
func (p *proc) startupRestartsAllowed() int {
	if strings.HasPrefix(p.name, "nats-") {
		return maxStartupRestarts
	}
	return 0
}

func newProc(name, bin, logDir string, args ...string) *proc {
	return &proc{name: name, bin: bin, args: args, log: filepath.Join(logDir, name+".log")}
}

// start starts the process in its own process group.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = false
	return p.startLocked()
}

func (p *proc) startLocked() error {
	if p.cmd != nil {
		return fmt.Errorf("%s is already running", p.name)
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening the log of %s: %w", p.name, err)
	}
	p.starts++
	fmt.Fprintf(f, "=== e2e: start #%d of %s at %s: %s %s\n", p.starts, p.name,
		time.Now().UTC().Format(time.RFC3339Nano), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = childEnv()
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.ready = cmd, done, false
	go p.wait(cmd, f, done)
	return nil
}

// wait waits for cmd to exit, records why, and restarts a process that
// exited on its own before it was ready.
func (p *proc) wait(cmd *exec.Cmd, f *os.File, done chan struct{}) {
	err := cmd.Wait()
	last := p.tail(1)
	fmt.Fprintf(f, "=== e2e: %s exited at %s: %v\n", p.name, time.Now().UTC().Format(time.RFC3339Nano), err)
	f.Close()
	p.mu.Lock()
	if p.cmd == cmd {
		p.cmd = nil
	}
	restart := false
	if !p.stopped {
		why := fmt.Sprintf("%s exited on its own (%v) after: %s", p.name, err, last)
		if !p.ready && len(p.restarts) < p.startupRestartsAllowed() {
			p.restarts = append(p.restarts, why)
			restart = true
		} else {
			p.exits = append(p.exits, why)
		}
	}
	p.mu.Unlock()
	close(done)
	if restart {
		time.AfterFunc(500*time.Millisecond, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.stopped || p.cmd != nil {
				return
			}
			if err := p.startLocked(); err != nil {
				p.exits = append(p.exits, err.Error())
			}
		})
	}
}

// markReady records that the process became ready since its last start.
func (p *proc) markReady() {
	p.mu.Lock()
	p.ready = true
	p.mu.Unlock()
}

// startupRestarts lists the exits before readiness that led to a restart.
func (p *proc) startupRestarts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.restarts...)
}

// errorLines counts the lines of the log at error level.
func (p *proc) errorLines() int {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return 0
	}
	n := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, "] [ERR] ") {
			n++
		}
	}
	return n
}

// kill SIGKILLs the process and its group and waits until it has exited.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.stopped = true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// unexpectedExits lists the times the process exited without being killed.
func (p *proc) unexpectedExits() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.exits...)
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	f, err := os.Open(p.log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 4*n {
			lines = lines[len(lines)-n:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func hostPort(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// waitFor calls check every interval until it returns nil or timeout has
// passed; then it returns check's last error. An error that wraps errFatal
// ends the wait at once.
func waitFor(ctx context.Context, timeout, interval time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := check()
		if err == nil || errors.Is(err, errFatal) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s: %w", timeout, err)
		case <-t.C:
		}
	}
}

// httpOK returns nil when GET url answers 200.
func httpOK(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}
