package propagate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/propagate"
	"github.com/signoff/signoff/shared/propagate/propagatetest"
)

// jsonPropagator is the smallest worker there is: it POSTs the logout id
// as JSON. It shows what a worker's Propagate does with answers.
func jsonPropagator() propagate.Propagator {
	client := &http.Client{Timeout: 5 * time.Second}
	return propagate.PropagatorFunc(func(ctx context.Context, d *propagate.Delivery) error {
		body, _ := json.Marshal(map[string]string{"logout_id": d.Event.LogoutID, "sub": d.Sub})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Client.WebhookURI, bytes.NewReader(body))
		if err != nil {
			return propagate.Permanent(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("posting: %w", err)
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode == 429:
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			return propagate.RetryAfter(fmt.Errorf("HTTP 429"), time.Duration(secs)*time.Second)
		case resp.StatusCode >= 500:
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		default:
			var e struct{ Error string }
			_ = json.NewDecoder(resp.Body).Decode(&e)
			return propagate.Permanent(fmt.Errorf("HTTP %d: %s", resp.StatusCode, e.Error))
		}
	})
}

func TestConformance(t *testing.T) {
	propagatetest.Run(t, propagatetest.Worker{
		Kind:      "testjson",
		Configure: func(c *config.Client, url string) { c.WebhookURI, c.WebhookSecret = url, "s" },
		Options: func(testing.TB, *config.Config) propagate.Options {
			return propagate.Options{
				Kind:       "testjson",
				Wants:      func(c *config.Client) bool { return c.WebhookURI != "" },
				Propagator: jsonPropagator(),
			}
		},
		Check: func(t testing.TB, r *http.Request, body []byte, _ string) string {
			var m map[string]string
			require.NoError(t, json.Unmarshal(body, &m))
			assert.Equal(t, http.MethodPost, r.Method)
			return m["logout_id"]
		},
	})
}

func TestBackoff(t *testing.T) {
	r := propagate.RetryPolicy{Initial: time.Second, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.2}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: 30 * time.Second} {
		got := propagate.Backoff(r, n, 0)
		assert.InDelta(t, float64(want), float64(got), float64(want)*0.21, "attempt %d", n)
	}
	assert.Equal(t, 7*time.Second, propagate.Backoff(r, 1, 7*time.Second), "Retry-After wins")
	assert.Equal(t, 30*time.Second, propagate.Backoff(r, 1, time.Hour), "capped")
}

func TestOptionsValidate(t *testing.T) {
	err := propagate.Run(t.Context(), propagate.Options{Kind: "a.b"})
	require.Error(t, err)
	for _, key := range []string{"kind", "wants", "propagator", "js", "clients"} {
		assert.Contains(t, err.Error(), key)
	}
}

// TestDeliveriesCounterIsShared: a component that counts deliveries of its
// own (the front) gets the counter the workers on the same registry count
// with, not a second one that the registry refuses.
func TestDeliveriesCounterIsShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := propagate.DeliveriesCounter(reg)
	require.NoError(t, err)
	second, err := propagate.DeliveriesCounter(reg)
	require.NoError(t, err)
	assert.Same(t, first, second)
}
