//go:build unix

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Retries of a request that a front answered 5xx or did not answer, which
// happens while JetStream elects new leaders after a node died (a few
// seconds): every retryBackoff, for at most retryFor.
const (
	retryFor     = time.Minute
	retryBackoff = 250 * time.Millisecond
)

// api calls the fronts as the IdP and as browsers do, retrying transient
// failures and counting them.
type api struct {
	c     *http.Client
	token string

	mu      sync.Mutex
	retried map[string]int // by phase: requests retried after a 5xx or a transport error
	codes   map[int]int    // 5xx answers seen
}

func newAPI(token string) *api {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &api{
		c: &http.Client{
			Transport: tr,
			Timeout:   20 * time.Second,
			// The end-session endpoint answers with a redirect: the test
			// looks at it, a browser would follow it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		token:   token,
		retried: map[string]int{},
		codes:   map[int]int{},
	}
}

// response is an answer that is not a transient failure.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request built by build until the answer is not a 5xx (or a
// transport error), for at most retryFor.
func (a *api) do(ctx context.Context, phase string, build func() (*http.Request, error)) (*response, error) {
	var last error
	giveUp := time.Now().Add(retryFor)
	for attempt := 1; attempt == 1 || time.Now().Before(giveUp); attempt++ {
		if attempt > 1 {
			a.mu.Lock()
			a.retried[phase]++
			a.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%w (last: %w)", ctx.Err(), last)
			case <-time.After(retryBackoff):
			}
		}
		req, err := build()
		if err != nil {
			return nil, err
		}
		resp, err := a.c.Do(req.WithContext(ctx))
		if err != nil {
			last = err
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		if resp.StatusCode >= 500 {
			a.mu.Lock()
			a.codes[resp.StatusCode]++
			a.mu.Unlock()
			last = fmt.Errorf("%s %s: HTTP %d: %s", req.Method, req.URL.Path, resp.StatusCode, trim(body))
			continue
		}
		return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
	}
	return nil, fmt.Errorf("giving up after %s of retries: %w", retryFor, last)
}

func (a *api) authed(method, u string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// join reports that client took part in session sid with sub.
func (a *api) join(ctx context.Context, front, sid, client, sub string) error {
	body, _ := json.Marshal(map[string]string{"sub": sub})
	u := front + "/api/v1/sessions/" + url.PathEscape(sid) + "/clients/" + url.PathEscape(client)
	resp, err := a.do(ctx, "join", func() (*http.Request, error) { return a.authed(http.MethodPut, u, body) })
	if err != nil {
		return err
	}
	if resp.status != http.StatusNoContent {
		return fmt.Errorf("PUT %s: HTTP %d: %s", u, resp.status, trim(resp.body))
	}
	return nil
}

// deleteSession ends sid through the API and returns the logout id.
func (a *api) deleteSession(ctx context.Context, phase, front, sid string) (string, error) {
	u := front + "/api/v1/sessions/" + url.PathEscape(sid)
	resp, err := a.do(ctx, phase, func() (*http.Request, error) { return a.authed(http.MethodDelete, u, nil) })
	if err != nil {
		return "", err
	}
	var out struct {
		LogoutID     string   `json:"logout_id"`
		Sessions     []string `json:"sessions"`
		AlreadyEnded bool     `json:"already_ended"`
	}
	_ = json.Unmarshal(resp.body, &out)
	switch {
	case resp.status == http.StatusAccepted && !out.AlreadyEnded,
		// An earlier attempt ended it, though its answer was a 5xx.
		resp.status == http.StatusOK && out.AlreadyEnded:
	default:
		return "", fmt.Errorf("DELETE %s: HTTP %d: %s", u, resp.status, trim(resp.body))
	}
	if out.LogoutID == "" || len(out.Sessions) != 1 || out.Sessions[0] != sid {
		return "", fmt.Errorf("DELETE %s: unexpected answer %s", u, trim(resp.body))
	}
	return out.LogoutID, nil
}

// endSession ends a session at the end-session endpoint as a browser
// does, with an id_token_hint and a registered post_logout_redirect_uri,
// and checks that it is sent back there with its state.
func (a *api) endSession(ctx context.Context, phase, front, hint, redirect, state string) error {
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {redirect}, "state": {state}}
	u := front + "/connect/endsession?" + q.Encode()
	resp, err := a.do(ctx, phase, func() (*http.Request, error) { return http.NewRequest(http.MethodGet, u, nil) })
	if err != nil {
		return err
	}
	want := redirect + "?state=" + url.QueryEscape(state)
	if resp.status != http.StatusFound || resp.header.Get("Location") != want {
		return fmt.Errorf("GET /connect/endsession: HTTP %d, Location %q, want 302 to %q: %s",
			resp.status, resp.header.Get("Location"), want, trim(resp.body))
	}
	return nil
}

// session is the answer of GET /api/v1/sessions/{sid}.
type session struct {
	SID     string `json:"sid"`
	Clients []struct {
		ClientID string `json:"client_id"`
		Sub      string `json:"sub"`
	} `json:"clients"`
	EndedAt    *time.Time `json:"ended_at"`
	LogoutID   string     `json:"logout_id"`
	Reason     string     `json:"reason"`
	Deliveries []struct {
		ClientID  string `json:"client_id"`
		Channel   string `json:"channel"`
		Status    string `json:"status"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	} `json:"deliveries"`
}

// getSession reads a session from one front, once: the caller polls.
func (a *api) getSession(ctx context.Context, front, sid string) (*session, error) {
	u := front + "/api/v1/sessions/" + url.PathEscape(sid)
	req, err := a.authed(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.c.Do(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, trim(body))
	}
	var s session
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if s.SID != sid {
		return nil, errors.New("GET " + u + ": another sid")
	}
	return &s, nil
}

// discovery returns the front's issuer and jwks_uri.
func (a *api) discovery(ctx context.Context, front string) (issuer, jwksURI string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, front+"/.well-known/openid-configuration", nil)
	if err != nil {
		return "", "", err
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var d struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return "", "", fmt.Errorf("decoding discovery of %s: %w", front, err)
	}
	return d.Issuer, d.JWKSURI, nil
}

func (a *api) retriedBy(phase string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.retried[phase]
}

func trim(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
