package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/syncbuf"
)

// TestPanicIsA500 : a handler that panics (here: no index wired) answers
// 500 with problem JSON and a request id, and the server goes on.
func TestPanicIsA500(t *testing.T) {
	cfg := config.Default()
	cfg.API.Token = "t"
	h := New(Deps{Config: cfg, Clients: config.NewRegistry(nil), Logger: slog.New(slog.DiscardHandler), Ready: func() bool { return true }})
	for range 2 {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/sessions/x", nil)
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
		assert.Contains(t, rec.Body.String(), `"request_id"`)
		assert.NotContains(t, rec.Body.String(), "nil pointer", "no internals in the answer")
	}
}

// TestAccessLogLevels: a request is logged at info, one that fails with a
// 5xx at error, and a probe at debug whatever its answer: a front that
// rebuilds its index answers /readyz with 503 at every probe, and that is
// no error.
func TestAccessLogLevels(t *testing.T) {
	cfg := config.Default()
	cfg.API.Token = "t"
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(New(Deps{Config: cfg, Clients: config.NewRegistry(nil), Logger: logger, Ready: func() bool { return false },
		Gatherer: prometheus.NewRegistry()}))
	t.Cleanup(srv.Close)
	get := func(path string, header ...string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		if len(header) == 2 {
			req.Header.Set(header[0], header[1])
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusServiceUnavailable, get("/readyz"))
	require.Equal(t, http.StatusOK, get("/healthz"))
	require.Equal(t, http.StatusOK, get("/.well-known/openid-configuration"))
	require.Equal(t, http.StatusUnauthorized, get("/metrics"))                                               // a scrape without the token
	require.Equal(t, http.StatusOK, get("/metrics", "Authorization", "Bearer t"))                            // a scrape with it
	require.Equal(t, http.StatusInternalServerError, get("/api/v1/sessions/x", "Authorization", "Bearer t")) // no index: a panic

	levels := map[string]string{} // "path status": level
	for line := range strings.Lines(logs.String()) {
		var rec struct {
			Level, Msg, Path string
			Status           int
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec.Msg == "http request" {
			levels[fmt.Sprint(rec.Path, " ", rec.Status)] = rec.Level
		}
	}
	assert.Equal(t, map[string]string{
		"/readyz 503": "DEBUG", "/healthz 200": "DEBUG",
		"/.well-known/openid-configuration 200": "INFO",
		"/metrics 401":                          "INFO",
		"/metrics 200":                          "DEBUG",
		"/api/v1/sessions/:sid 500":             "ERROR",
	}, levels)
}
