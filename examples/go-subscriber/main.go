// Command go-subscriber is a custom app's side of signoff, in Go: it
// consumes the logouts of one client from NATS JetStream (the subject
// signoff.v1.logout.<client_id>, published by signoff's built-in events
// worker), logs each one as a JSON line, and ends the app's local sessions
// that the logout names.
//
// signoff publishes a client's logouts there only when the client has
// logout_events: true in signoff's configuration; in the sample
// configuration of `make run` (which exposes NATS on
// nats://127.0.0.1:4222), app2 has it:
//
//	go run . -client app2 -durable my-app
//
// It uses [clientevents.Subscribe], a durable pull consumer: every replica
// of the app that runs with the same -durable shares the work, and a
// restarted app goes on where it stopped. SIGINT or SIGTERM stop it
// gracefully: no more logouts are taken, the one in hand is finished and
// acknowledged, then the connection is drained.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/clientevents"
	"github.com/signoff/signoff/shared/event"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "go-subscriber:", err)
		}
		os.Exit(1)
	}
}

// drainTimeout bounds the graceful shutdown of the NATS connection.
const drainTimeout = 10 * time.Second

// run consumes logouts until ctx ends, logging to stdout; usage and flag
// errors go to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server URL; a user and password may be in it (nats://app1:secret@host:4222)")
	creds := fs.String("creds", "", "NATS credentials (.creds) file, for servers with decentralized auth")
	inboxPrefix := fs.String("inbox-prefix", "", "inbox prefix such as _INBOX_app1, when NATS permissions restrict this app (docs/events.md)")
	clientID := fs.String("client", "app2", "the client_id whose logouts this app consumes (it needs logout_events: true)")
	durable := fs.String("durable", "my-app", "the durable consumer, shared by every replica of this app")
	local := fs.String("sessions", "", "illustrative local sessions: comma-separated sid=user pairs, user being the sub this client was given")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if !event.ValidToken(*clientID) || !event.ValidToken(*durable) {
		return errors.New("-client and -durable must be NATS subject tokens: no '.', '*', '>' or whitespace")
	}
	sessions, err := parseSessions(*local)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil)).With("client_id", *clientID)

	closed := make(chan struct{})
	opts := []nats.Option{
		nats.Name("signoff-example-go-subscriber"),
		nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			logger.Warn("nats error", "err", err)
		}),
	}
	if *creds != "" {
		opts = append(opts, nats.UserCredentials(*creds))
	}
	if *inboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(*inboxPrefix))
	}
	nc, err := nats.Connect(*natsURL, opts...)
	if err != nil {
		return fmt.Errorf("connecting to nats: %w", err)
	}
	defer nc.Close() // after a drain, a no-op
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("opening jetstream: %w", err)
	}

	a := newApp(logger, sessions)
	cc, err := clientevents.Subscribe(ctx, js, *clientID, *durable, a.handle)
	if err != nil {
		return err
	}
	logger.Info("subscribed", "subject", event.LogoutSubject(*clientID), "durable", *durable)
	<-ctx.Done()

	// Stop taking logouts and finish the ones in hand (they are
	// acknowledged), then drain the connection: pending acks are flushed.
	// While NATS is unreachable, the connection is closed instead: what
	// was not acknowledged is redelivered to the next replica or start.
	cc.Drain()
	<-cc.Closed()
	if err := nc.Drain(); err != nil {
		logger.Warn("closing nats without draining", "err", err)
		nc.Close()
	}
	select {
	case <-closed:
	case <-time.After(drainTimeout):
		logger.Warn("closing nats: the drain timed out")
		nc.Close()
	}
	logger.Info("stopped", "handled", a.handledCount())
	return nil
}

// parseSessions parses "sid=user,sid=user".
func parseSessions(s string) (map[string]string, error) {
	out := map[string]string{}
	for pair := range strings.SplitSeq(s, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		sid, user, ok := strings.Cut(pair, "=")
		if !ok || sid == "" || user == "" {
			return nil, fmt.Errorf("-sessions: %q is not sid=user", pair)
		}
		out[sid] = user
	}
	return out, nil
}
