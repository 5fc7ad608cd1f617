package natsconn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/config"
)

// storeLockFile, in the embedded server's store directory, holds the pid
// of the process that uses it.
const storeLockFile = "signoff.lock"

// ErrNotReady reports an embedded server that did not become ready in time.
var ErrNotReady = errors.New("natsconn: embedded server not ready")

// Conn is a connection to NATS JetStream, and the embedded server when
// signoff runs one.
type Conn struct {
	// NC is the core NATS connection.
	NC *nats.Conn
	// JS is the JetStream API over NC.
	JS jetstream.JetStream
	// Server is the embedded server, nil for an external one.
	Server *server.Server
	logger *slog.Logger
}

// Connect dials cfg.URL, or starts an embedded JetStream server when it is
// empty. name identifies the client in NATS monitoring.
func Connect(ctx context.Context, cfg config.NATS, name string, logger *slog.Logger) (*Conn, error) {
	c := &Conn{logger: logger}
	opts := []nats.Option{
		nats.Name(name),
		nats.Timeout(5 * time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close, at shutdown
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		// What the server refuses asynchronously, above all a permissions
		// violation: the request it was for only times out, so without
		// this line a missing permission looks like a slow server.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				logger.Warn("nats error", "subject", sub.Subject, "err", err)
				return
			}
			logger.Warn("nats error", "err", err)
		}),
	}
	url := cfg.URL
	if url == "" {
		s, err := StartEmbedded(ctx, cfg, logger)
		if err != nil {
			return nil, err
		}
		c.Server = s
		opts = append(opts, nats.InProcessServer(s))
		if cfg.ListenToken != "" {
			opts = append(opts, nats.Token(cfg.ListenToken))
		}
	} else if cfg.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredentialsFile))
	}
	// A server that is not up yet (started at the same moment, restarting)
	// delays the start, as a cluster that is not ready does.
	nc, err := RetryTransient(ctx, logger, "connecting to nats", func() (*nats.Conn, error) {
		return nats.Connect(url, opts...)
	})
	if err != nil {
		c.shutdownServer()
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		c.shutdownServer()
		return nil, fmt.Errorf("opening jetstream: %w", err)
	}
	c.NC, c.JS = nc, js
	return c, nil
}

// StartEmbedded starts a JetStream server in this process with its data in
// cfg.StoreDir. It listens on cfg.Listen when set, so that custom apps can
// connect; otherwise only in-process connections reach it.
func StartEmbedded(ctx context.Context, cfg config.NATS, logger *slog.Logger) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "signoff-embedded",
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		// NoSigs: NewServer would otherwise install signal handlers that
		// exit the process on SIGTERM and skip our graceful shutdown.
		NoSigs:     true,
		DontListen: cfg.Listen == "",
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("parsing nats.listen: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("parsing nats.listen port: %w", err)
		}
		opts.Host, opts.Port = host, p
		// Every client, this process's own too, presents the token.
		opts.Authorization = cfg.ListenToken
		if cfg.ListenToken == "" {
			logger.Warn("the embedded nats server accepts clients without credentials: any local process can read sessions and end them; set nats.listen_token",
				"listen", cfg.Listen)
		}
	}
	// nats-server itself stores into <dir>/jetstream, dir defaulting to
	// the system's temporary folder.
	unlock, err := lockStore(cmp.Or(cfg.StoreDir, os.TempDir()))
	if err != nil {
		return nil, err
	}
	release := sync.OnceFunc(unlock)
	s, err := server.NewServer(opts)
	if err != nil {
		release()
		return nil, fmt.Errorf("creating embedded nats server: %w", err)
	}
	go func() {
		s.WaitForShutdown()
		release()
	}()
	sl := &serverLog{logger: logger}
	s.SetLoggerV2(sl, false, false, false)
	go s.Start()
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	// Poll, so that a server that cannot start (its port taken) fails at
	// once, with its reason, rather than after the deadline; and a caller
	// that gave up (ctx ended) gets no server, even a ready one.
	for {
		ready := s.ReadyForConnections(100 * time.Millisecond)
		fatal := sl.fatal()
		var err error
		switch {
		case fatal != "":
			err = fmt.Errorf("%w: %s", ErrNotReady, fatal)
		case ctx.Err() != nil:
			err = fmt.Errorf("%w: %w", ErrNotReady, context.Cause(ctx))
		case ready:
		case time.Now().After(deadline):
			err = ErrNotReady
		default:
			continue
		}
		if err != nil {
			s.Shutdown()
			s.WaitForShutdown()
			release()
			return nil, err
		}
		break
	}
	logger.Info("embedded nats started", "store_dir", s.StoreDir(), "listen", cfg.Listen)
	return s, nil
}

// Connected reports whether the connection is up.
func (c *Conn) Connected() bool { return c.NC != nil && c.NC.IsConnected() }

// Closed reports whether the connection has closed for good: nats.go gives
// up after repeated authentication errors, and a restart cures that (an
// outage does not close it: it reconnects without end).
func (c *Conn) Closed() bool { return c.NC != nil && c.NC.IsClosed() }

// Close drains the connection, then shuts the embedded server down. It is
// the last step of a graceful shutdown: consumers are drained before.
func (c *Conn) Close(ctx context.Context) {
	if c.NC != nil {
		if err := c.NC.Drain(); err != nil {
			c.NC.Close()
		}
		for !c.NC.IsClosed() {
			select {
			case <-ctx.Done():
				c.NC.Close()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	c.shutdownServer()
}

func (c *Conn) shutdownServer() {
	if c.Server != nil {
		c.Server.Shutdown()
		c.Server.WaitForShutdown()
	}
}

// serverLog passes the embedded server's warnings and errors to slog, as
// "nats server" lines with the server's text in detail (its notices at
// debug; its errors, mostly about one client connection, at warn), and
// keeps the first fatal one: the reason it could not start.
type serverLog struct {
	logger *slog.Logger
	mu     sync.Mutex
	first  string
}

const serverLogMsg = "nats server"

func (l *serverLog) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

func (l *serverLog) Noticef(format string, v ...any) {
	l.logger.Debug(serverLogMsg, "detail", fmt.Sprintf(format, v...))
}

func (l *serverLog) Warnf(format string, v ...any) {
	l.logger.Warn(serverLogMsg, "detail", fmt.Sprintf(format, v...))
}

func (l *serverLog) Errorf(format string, v ...any) {
	l.logger.Warn(serverLogMsg, "detail", fmt.Sprintf(format, v...))
}

func (l *serverLog) Fatalf(format string, v ...any) {
	detail := fmt.Sprintf(format, v...)
	l.logger.Error(serverLogMsg, "detail", detail)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first == "" {
		l.first = detail
	}
}

func (l *serverLog) Debugf(string, ...any) {}

func (l *serverLog) Tracef(string, ...any) {}
