package webhook

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
	"github.com/signoff/signoff/shared/propagate"
)

const (
	issuer = "https://idp.example.com"
	secret = "whsec-test-0123456789"
)

// delivery returns a delivery of a logout of session sid to c.
func delivery(c *config.Client, sub, sid string) *propagate.Delivery {
	return &propagate.Delivery{
		Event: &event.SessionEnded{
			LogoutID: "logout-1",
			SID:      sid,
			Sub:      "alice",
			Iss:      issuer,
			Clients:  []event.Participant{{ClientID: c.ClientID, Sub: sub}},
			Reason:   event.ReasonEndSession,
			Time:     time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		},
		Client:  c,
		Sub:     sub,
		Kind:    Kind,
		Attempt: 1,
	}
}

// received is one request a fake receiver got.
type received struct {
	method      string
	contentType string
	eventID     string
	signature   string
	body        []byte
	at          time.Time
}

// receiver is a fake webhook endpoint that records what it receives and
// answers status.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
}

func newReceiver(t testing.TB, status int) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, received{
			method:      r.Method,
			contentType: r.Header.Get("Content-Type"),
			eventID:     r.Header.Get(EventIDHeader),
			signature:   r.Header.Get(SignatureHeader),
			body:        body,
			at:          time.Now(),
		})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}
