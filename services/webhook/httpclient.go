package webhook

import (
	"net/http"

	"github.com/signoff/signoff/shared/propagate"
)

// NewHTTPClient returns the worker's HTTP client: propagate.NewHTTPClient,
// bounded at every step, pooled, TLS 1.2 or later, never following a
// redirect.
func NewHTTPClient() *http.Client { return propagate.NewHTTPClient() }
