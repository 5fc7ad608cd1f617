// Command signoff is the all-in-one single-logout orchestrator: an
// embedded NATS JetStream server (unless nats.url names one), the front and
// every built-in propagation worker, in one process.
//
//	signoff -config deployments/signoff.yaml
//	signoff hint -config deployments/signoff.yaml -client app1 -sub alice -sid s1
package main

import (
	"context"
	"io"

	"github.com/signoff/signoff/shared/service"
)

func main() { service.Main("signoff", run) }

// run is main with its dependencies passed in, so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 && args[1] == "hint" {
		return runHint(ctx, args[2:], getenv, stdout, stderr)
	}
	return runServer(ctx, args[1:], getenv, stdout, stderr)
}
