package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// probeTimeout bounds a health probe, connection and answer together.
const probeTimeout = 3 * time.Second

// Probe is a container health check for images without a shell or wget
// (distroless): it GETs url and returns nil when the answer is 2xx within
// a few seconds, and an error saying what went wrong otherwise. Mains run
// it instead of serving when -healthcheck is given, and exit 0 or 1.
func Probe(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	client := &http.Client{
		// A probe asks one server about itself; a redirect is an answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("healthcheck %s: %s", url, resp.Status)
	}
	return nil
}
