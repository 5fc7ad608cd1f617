package service_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/service"
)

func TestProbe(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/unready", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/hang", func(http.ResponseWriter, *http.Request) { <-release })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	// A port with nothing listening on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String() + "/healthz"
	require.NoError(t, ln.Close())

	require.NoError(t, service.Probe(t.Context(), srv.URL+"/ok"))
	for name, tc := range map[string]struct{ url, want string }{
		"503":           {srv.URL + "/unready", "503 Service Unavailable"},
		"redirect":      {srv.URL + "/moved", "302 Found"},
		"refused":       {closed, "connection refused"},
		"not a URL":     {"::", "missing protocol scheme"},
		"never answers": {srv.URL + "/hang", "deadline exceeded"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			err := service.Probe(ctx, tc.url)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
