package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/signoff/signoff/shared/config"
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
