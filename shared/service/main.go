package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/signoff/signoff/shared/config"
)

// Main is a command's main: it calls run with os.Args, the environment and
// the standard streams, under a context that ends on SIGINT or SIGTERM
// (graceful shutdown), and exits 1 after printing "name: error" when run
// fails; after -h, whose usage run printed, it exits 0.
func Main(name string, run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error) {
	for _, v := range config.UnknownEnv(os.Environ()) {
		fmt.Fprintf(os.Stderr, "%s: ignoring %s: no configuration key has that variable (a misspelling?)\n", name, v)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
