package propagate

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"99999999999999999", maxRetryAfter},
		{now.Add(time.Minute).Format(http.TimeFormat), time.Minute},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"tomorrow", 0},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, ParseRetryAfter(tc.in, now), "Retry-After %q", tc.in)
	}
}

// TestCheckResponse classifies real answers over loopback: which are
// delivered, which are retried (and after how long), which are permanent,
// and what the error says.
func TestCheckResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ra := r.URL.Query().Get("retry_after"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		if loc := r.URL.Query().Get("location"); loc != "" {
			w.Header().Set("Location", loc)
		}
		status, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(status)
		_, _ = w.Write([]byte(r.URL.Query().Get("body")))
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, tc := range []struct {
		path       string
		ok         bool
		permanent  bool
		retryAfter time.Duration
		says       string
	}{
		{path: "/200", ok: true},
		{path: "/204", ok: true},
		{path: "/400?body=" + url.QueryEscape(`{"error":"invalid_request","error_description":"unknown sid"}`), permanent: true,
			says: "HTTP 400: invalid_request: unknown sid"},
		{path: "/404?body=not+json", permanent: true, says: "HTTP 404"},
		{path: "/408"},
		{path: "/429?retry_after=7", retryAfter: 7 * time.Second},
		{path: "/500"},
		{path: "/503?retry_after=2", retryAfter: 2 * time.Second},
		{path: "/501", permanent: true, says: "HTTP 501"},
		{path: "/505", permanent: true, says: "HTTP 505"},
		{path: "/302?location=" + url.QueryEscape("https://elsewhere.example/x?token=secret"), permanent: true, says: "elsewhere.example/x"},
	} {
		resp, err := client.Get(srv.URL + tc.path)
		require.NoError(t, err, tc.path)
		err = CheckResponse(resp)
		if tc.ok {
			assert.NoError(t, err, tc.path)
			continue
		}
		require.Error(t, err, tc.path)
		var he *HTTPError
		require.True(t, errors.As(err, &he), tc.path)
		assert.Equal(t, tc.permanent, IsPermanent(err), tc.path)
		assert.Equal(t, tc.retryAfter, retryAfterOf(err), tc.path)
		assert.Contains(t, err.Error(), tc.says, tc.path)
		assert.NotContains(t, err.Error(), "secret", "a redirect's query is not recorded")
	}
}
