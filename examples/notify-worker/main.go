// Command notify-worker is an example of a propagation worker built on
// signoff's framework (shared/propagate), outside signoff's own modules: it
// posts a chat message to a client team's incoming webhook for each logout
// of that client. docs/workers.md walks through it.
//
// It reads signoff's configuration file (for the clients) and needs the
// NATS server that the fronts use. With `make run` in the repository root:
//
//	go run ./examples/notify-worker -config deployments/signoff.yaml \
//	  -nats-url nats://127.0.0.1:4222 -hook app1=http://127.0.0.1:9009/hook
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/service"
)

func main() { service.Main("notify-worker", run) }

// run is the whole main: service.RunWorker reads -config (and SIGNOFF_*
// variables, -nats-url), connects to NATS, serves /metrics, /healthz and
// /readyz on -metrics-listen, and stops the worker on SIGTERM (the calls in
// flight finish; what it has not called goes back to JetStream).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	hooks := hookFlag{}
	return service.RunWorker(ctx, service.Worker{
		Name: "notify-worker", MetricsListen: "127.0.0.1:9104",
		Flags: func(fs *flag.FlagSet) {
			fs.Var(hooks, "hook", "client_id=URL: the client's incoming webhook (repeat per client)")
		},
		Run: func(ctx context.Context, cfg *config.Config, d service.WorkerDeps) error {
			n := NewNotifier(nil, hooks)
			return propagate.Run(ctx, propagate.Options{
				Kind: Kind, Wants: n.Wants, Propagator: n,
				JS: d.JS, Clients: cfg.Registry(), Logger: d.Logger, Metrics: d.Metrics, Ready: d.Ready,
			})
		},
	}, args, getenv, stdout, stderr)
}

// hookFlag collects -hook client_id=URL flags.
type hookFlag map[string]string

func (h hookFlag) String() string { return fmt.Sprint(map[string]string(h)) }

func (h hookFlag) Set(v string) error {
	id, url, ok := strings.Cut(v, "=")
	if !ok || id == "" || url == "" {
		return fmt.Errorf("%q is not client_id=URL", v)
	}
	h[id] = url
	return nil
}
