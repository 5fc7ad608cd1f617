// Package service holds what every signoff main does the same way: read
// the flags and the configuration, build the slog logger.
package service

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/signoff/signoff/shared/config"
)

// ErrHelp is returned when -h was asked for; the usage was printed.
var ErrHelp = flag.ErrHelp

// Flags are the command-line flags every signoff service takes. Flags win
// over the file and the environment.
type Flags struct {
	ConfigPath string
	Listen     string
	NATSURL    string
	// Healthcheck, when set, is a URL to probe instead of serving (see
	// [Probe]): `signoff-front -healthcheck http://127.0.0.1:8080/readyz`
	// is a container health check that needs no shell.
	Healthcheck string
}

// Parse reads flags from args (without the program name) into a FlagSet
// named name. Extra flags can be added with extra before parsing.
func Parse(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*Flags, error) {
	return parse(name, args, getenv, stderr, front, extra)
}

// ParseTool is Parse for a command that reads the configuration and serves
// nothing (such as `signoff hint`): -config and extra, no server flags.
func ParseTool(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*Flags, error) {
	return parse(name, args, getenv, stderr, tool, extra)
}

// commandKind says which of the common flags a command takes.
type commandKind int

const (
	tool   commandKind = iota // -config
	worker                    // and -nats-url, -healthcheck
	front                     // and -listen
)

func parse(name string, args []string, getenv func(string) string, stderr io.Writer, kind commandKind, extra func(*flag.FlagSet)) (*Flags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &Flags{}
	fs.StringVar(&f.ConfigPath, "config", getenv(config.EnvConfigFile), "configuration file (env "+config.EnvConfigFile+")")
	if kind == front {
		fs.StringVar(&f.Listen, "listen", "", "override listen (host:port)")
	}
	if kind >= worker {
		fs.StringVar(&f.NATSURL, "nats-url", "", "override nats.url")
		fs.StringVar(&f.Healthcheck, "healthcheck", "", "GET this URL, exit 0 on a 2xx answer and 1 otherwise, instead of serving (container health checks)")
	}
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		// A mistyped subcommand or a stray word: not a server to start.
		fs.Usage()
		return nil, fmt.Errorf("unexpected argument %q (flags start with -)", fs.Arg(0))
	}
	return f, nil
}

// LoadConfig loads the configuration: defaults, file, SIGNOFF_* env, flags.
func LoadConfig(f *Flags, getenv func(string) string) (*config.Config, error) {
	if f.ConfigPath == "" {
		return nil, errors.New("no configuration: pass -config PATH or set " + config.EnvConfigFile)
	}
	cfg, err := config.Load(f.ConfigPath, getenv)
	if err != nil {
		return nil, fmt.Errorf("loading configuration %s:\n%w", f.ConfigPath, err)
	}
	if f.Listen != "" || f.NATSURL != "" {
		if f.Listen != "" {
			cfg.Listen = f.Listen
		}
		if f.NATSURL != "" {
			cfg.NATS.URL = f.NATSURL
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("validating configuration with flags:\n%w", err)
		}
	}
	return cfg, nil
}

// Logger builds the process's one logger from log.level and log.format.
// Durations are written as Go writes them ("1.5s", "250ms"), in JSON too,
// where slog would write a number of nanoseconds.
func Logger(cfg config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if strings.EqualFold(cfg.Format, "text") {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			a.Value = slog.StringValue(a.Value.Duration().String())
		}
		return a
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
