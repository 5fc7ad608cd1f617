package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/propagate"
)

// Kind is the worker kind: the name of its durable consumers
// (worker-notify, retry-notify-<client_id>) and the channel of its
// deliveries in the session API.
const Kind = "notify"

// Notifier posts a chat message about each logout to the incoming webhook
// of the client's team (Slack-style: a JSON body with "text"). It is the
// worker's [propagate.Propagator].
//
// It keeps no mutable state, so one Notifier serves every delivery
// concurrently, as the framework requires.
type Notifier struct {
	client *http.Client
	// hooks maps a client_id to its incoming webhook URL. A client without
	// one is not a target of this worker (see Wants).
	hooks map[string]string
}

// NewNotifier returns a Notifier that posts with client (nil: a client
// that does not follow redirects) to hooks.
func NewNotifier(client *http.Client, hooks map[string]string) *Notifier {
	if client == nil {
		client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Notifier{client: client, hooks: hooks}
}

// Wants reports whether c is a target: it has an incoming webhook.
func (n *Notifier) Wants(c *config.Client) bool {
	_, ok := n.hooks[c.ClientID]
	return ok
}

// message is the JSON body of a post.
type message struct {
	Text string `json:"text"`
	// LogoutID lets the receiver de-duplicate: the framework may call
	// Propagate more than once for one logout and client.
	LogoutID string `json:"logout_id"`
}

// Propagate posts one message about d. Its errors follow the Propagator
// contract: nil is delivered; 408, 429, 5xx and transport errors are
// transient (retried, after Retry-After when there is one); any other
// answer is permanent (dead-lettered at once). The framework bounds ctx
// with Options.Timeout, and the request honours it.
func (n *Notifier) Propagate(ctx context.Context, d *propagate.Delivery) error {
	url, ok := n.hooks[d.Client.ClientID]
	if !ok {
		return propagate.Permanent(fmt.Errorf("no hook for client %s", d.Client.ClientID))
	}
	body, err := json.Marshal(message{Text: text(d), LogoutID: d.Event.LogoutID})
	if err != nil {
		return propagate.Permanent(fmt.Errorf("encoding message: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return propagate.Permanent(fmt.Errorf("building request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting message: %w", err) // transient
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
			return propagate.RetryAfter(err, time.Duration(secs)*time.Second)
		}
		return err
	default:
		return propagate.Permanent(err)
	}
}

// text is the message about one delivery.
func text(d *propagate.Delivery) string {
	where := "session " + d.Event.SID
	if d.Event.SID == "" {
		// All of a subject's sessions: those this client was in.
		where = "all sessions"
		if sids := d.Event.SIDsOf(d.Client.ClientID, d.Sub); len(sids) > 0 {
			where = "sessions " + strings.Join(sids, ", ")
		}
	}
	return fmt.Sprintf("%s was signed out of %s (%s, reason %s, logout %s)",
		d.Sub, d.Client.DisplayName(), where, d.Event.Reason, d.Event.LogoutID)
}
