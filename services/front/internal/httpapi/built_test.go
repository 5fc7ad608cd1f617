package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/services/front/internal/pages"
	"github.com/signoff/signoff/shared/config"
)

// TestWaitsForTheIndex: until the index is built, the routes that read it
// wait for it, at most BuildWait, then answer 503 (a page for browsers, a
// problem for the API) with nothing done; a request that was waiting is
// served once it is built. Discovery does not wait.
func TestWaitsForTheIndex(t *testing.T) {
	cfg := config.Default()
	cfg.API.Token = "t"
	ix, err := index.New()
	require.NoError(t, err)
	renderer, err := pages.New()
	require.NoError(t, err)
	built := make(chan struct{})
	srv := httptest.NewServer(New(Deps{Config: cfg, Clients: config.NewRegistry(nil), Index: ix, Pages: renderer,
		Logger: slog.New(slog.DiscardHandler), Ready: func() bool { return false }, Built: built, BuildWait: 200 * time.Millisecond}))
	t.Cleanup(srv.Close)
	get := func(path string) (*http.Response, string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer t")
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(body)
	}

	resp, body := get("/connect/endsession?client_id=app1")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	assert.Equal(t, "5", resp.Header.Get("Retry-After"))
	assert.Contains(t, body, "Signing out is temporarily unavailable. Nothing was changed.")

	resp, body = get("/api/v1/sessions/s1")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	assert.Contains(t, body, `"error":"index_not_built"`)

	resp, _ = get("/.well-known/openid-configuration")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "discovery does not read the index")

	// A request that arrives before the index is built and waits is
	// served once it is.
	srv.Config.Handler = New(Deps{Config: cfg, Clients: config.NewRegistry(nil), Index: ix, Pages: renderer,
		Logger: slog.New(slog.DiscardHandler), Ready: func() bool { return true }, Built: built, BuildWait: time.Minute})
	time.AfterFunc(100*time.Millisecond, func() { close(built) })
	resp, body = get("/api/v1/sessions/s1")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, body)
}
