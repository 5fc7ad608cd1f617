package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signoff/signoff/shared/natsconn"
)

// Ops is the operations listener of a service (-metrics-listen): /metrics
// for Prometheus and /healthz, without authentication, so it belongs on an
// address that only the cluster reaches.
type Ops struct {
	ln  net.Listener
	srv *http.Server
}

// ListenOps listens on addr for the operations endpoints: /metrics from
// reg, /healthz, which answers 200 while the process serves (liveness: an
// outage of NATS is not cured by a restart), unless the NATS connection
// has closed for good (nats.go gives up on repeated authentication
// errors; a restart does cure that), and, when ready is not nil, /readyz,
// which answers 200 once ready says so and while conn is connected to
// NATS.
func ListenOps(addr string, reg *prometheus.Registry, conn *natsconn.Conn, ready func() bool, logger *slog.Logger) (*Ops, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics: %w", err)
	}
	logger.Info("serving metrics", "addr", ln.Addr().String())
	return &Ops{ln: ln, srv: &http.Server{
		Handler:           opsHandler(reg, conn, ready),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}, nil
}

// Serve serves until Shutdown.
func (o *Ops) Serve() error {
	if err := o.srv.Serve(o.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving metrics: %w", err)
	}
	return nil
}

// Shutdown stops the listener, letting a scrape in flight finish for a
// few seconds; ctx's cancellation is ignored, as it is usually why.
func (o *Ops) Shutdown(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = o.srv.Shutdown(ctx)
}

// opsHandler serves Prometheus metrics, /healthz, which answers 200 unless
// the NATS connection is closed for good, and /readyz (with ready), which
// needs the NATS connection up and ready to say so.
func opsHandler(reg *prometheus.Registry, conn *natsconn.Conn, ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if conn.Closed() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "nats connection closed\n")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	if ready != nil {
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			switch {
			case !conn.Connected():
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, "nats disconnected\n")
			case !ready():
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, "starting: consumers not bound yet\n")
			default:
				_, _ = io.WriteString(w, "ok\n")
			}
		})
	}
	return mux
}
