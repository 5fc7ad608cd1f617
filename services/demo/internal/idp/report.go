package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Reporter talks to signoff's session API: it reports that a client took
// part in a session (PUT /api/v1/sessions/{sid}/clients/{client_id}) and
// asks whether a session has ended.
type Reporter struct {
	base  string
	token string
	http  *http.Client
	// backoff is the wait before each retry; its length is the number of
	// retries.
	backoff []time.Duration
}

// NewReporter returns a Reporter for signoff's API at base (server to
// server), authenticated with the bearer token. client may be nil.
func NewReporter(base, token string, client *http.Client) *Reporter {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &Reporter{
		base:    strings.TrimRight(base, "/"),
		token:   token,
		http:    client,
		backoff: []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second},
	}
}

// errRefused marks an answer that a retry cannot change (4xx).
var errRefused = errors.New("signoff refused the report")

// Report tells signoff that clientID took part in session sid, as sub.
// It retries briefly on network errors and 5xx answers; ctx bounds the
// whole.
func (rp *Reporter) Report(ctx context.Context, sid, clientID, sub string) error {
	body, err := json.Marshal(map[string]string{"sub": sub})
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	u := rp.base + "/api/v1/sessions/" + url.PathEscape(sid) + "/clients/" + url.PathEscape(clientID)
	for attempt := 0; ; attempt++ {
		err = rp.put(ctx, u, body)
		if err == nil || errors.Is(err, errRefused) || attempt == len(rp.backoff) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("reporting to signoff: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(rp.backoff[attempt]):
		}
	}
	if err != nil {
		return fmt.Errorf("reporting to signoff: %w", err)
	}
	return nil
}

func (rp *Reporter) put(ctx context.Context, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+rp.token)
	resp, err := rp.http.Do(req)
	if err != nil {
		return fmt.Errorf("PUT %s: %w", u, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("PUT %s: %s: %s", u, resp.Status, bytes.TrimSpace(msg))
	default:
		return fmt.Errorf("%w: PUT %s: %s: %s", errRefused, u, resp.Status, bytes.TrimSpace(msg))
	}
}

// Ended reports whether signoff knows session sid and says it has ended.
// A session signoff does not know (404) has not ended.
func (rp *Reporter) Ended(ctx context.Context, sid string) (bool, error) {
	u := rp.base + "/api/v1/sessions/" + url.PathEscape(sid)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+rp.token)
	resp, err := rp.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return false, nil
	case http.StatusOK:
	default:
		return false, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var s struct {
		EndedAt *time.Time `json:"ended_at"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil {
		return false, fmt.Errorf("decoding %s: %w", u, err)
	}
	return s.EndedAt != nil, nil
}
