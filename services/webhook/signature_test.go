package webhook

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A known answer, computed with Python's hmac module.
const (
	vectorBody = `{"type":"signoff.logout"}`
	vectorT    = 1735787045
	vectorSig  = "t=1735787045,v1=415b8cc358bf4304004b693afb6f61e721d6d3735e74712cabbb6fb207575515"
)

func TestSign(t *testing.T) {
	assert.Equal(t, vectorSig, Sign([]byte(secret), time.Unix(vectorT, 0), []byte(vectorBody)))
}

func TestVerify(t *testing.T) {
	signedAt := time.Unix(vectorT, 0)
	body := []byte(vectorBody)
	valid := vectorSig
	v1 := strings.TrimPrefix(valid, "t=1735787045,")
	otherV1 := "v1=" + strings.Repeat("ab", 32)
	tests := []struct {
		name      string
		secret    string
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		wantErr   error
	}{
		{name: "valid", header: valid},
		{name: "valid, 4 minutes later", header: valid, now: signedAt.Add(4 * time.Minute)},
		{name: "valid, receiver's clock 1 minute behind", header: valid, now: signedAt.Add(-time.Minute)},
		{name: "valid, spaces and v1 first", header: v1 + ", t=1735787045"},
		{name: "valid among several v1 (secret rotation)", header: "t=1735787045," + otherV1 + "," + v1},
		{name: "unknown scheme ignored", header: valid + ",v2=whatever"},
		{name: "tampered body", header: valid, body: []byte(`{"type":"signoff.logout","sub":"mallory"}`), wantErr: ErrSignatureMismatch},
		{name: "wrong secret", header: valid, secret: "whsec-other", wantErr: ErrSignatureMismatch},
		{name: "other timestamp", header: "t=1735787046," + v1, wantErr: ErrSignatureMismatch},
		{name: "only a wrong v1", header: "t=1735787045," + otherV1, wantErr: ErrSignatureMismatch},
		{name: "older than 5 minutes", header: valid, now: signedAt.Add(5*time.Minute + time.Second), wantErr: ErrStaleTimestamp},
		{name: "in the future", header: valid, now: signedAt.Add(-6 * time.Minute), wantErr: ErrStaleTimestamp},
		{name: "custom tolerance", header: valid, now: signedAt.Add(2 * time.Minute), tolerance: time.Minute, wantErr: ErrStaleTimestamp},
		{name: "empty", header: "", wantErr: ErrMalformedSignature},
		{name: "no t", header: v1, wantErr: ErrMalformedSignature},
		{name: "two t", header: "t=1735787045,t=1735787045," + v1, wantErr: ErrMalformedSignature},
		{name: "t not a number", header: "t=yesterday," + v1, wantErr: ErrMalformedSignature},
		{name: "negative t", header: "t=-5," + v1, wantErr: ErrMalformedSignature},
		{name: "no v1", header: "t=1735787045", wantErr: ErrMalformedSignature},
		{name: "v1 not hex", header: "t=1735787045,v1=zz", wantErr: ErrMalformedSignature},
		{name: "v1 too short", header: "t=1735787045,v1=abcd", wantErr: ErrMalformedSignature},
		{name: "no key=value", header: "t=1735787045;" + v1, wantErr: ErrMalformedSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := secret
			if tc.secret != "" {
				key = tc.secret
			}
			b := body
			if tc.body != nil {
				b = tc.body
			}
			now := signedAt.Add(30 * time.Second)
			if !tc.now.IsZero() {
				now = tc.now
			}
			err := Verify([]byte(key), tc.header, b, now, tc.tolerance)
			if tc.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.wantErr)
		})
	}
}

// ExampleVerify shows a receiver: read the raw body, verify, then decode
// and de-duplicate on Signoff-Event-Id.
func ExampleVerify() {
	secret := []byte("the client's webhook_secret")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := Verify(secret, r.Header.Get(SignatureHeader), body, time.Now(), DefaultTolerance); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Decode body as a Payload, end the sessions unless
		// r.Header.Get(EventIDHeader) was already handled, then answer 2xx.
		w.WriteHeader(http.StatusNoContent)
	})

	body := `{"type":"signoff.logout","logout_id":"l1","sub":"alice","iss":"https://idp.example.com","client_id":"app","reason":"api","time":"2025-01-02T03:04:05Z"}`
	req := httptest.NewRequest(http.MethodPost, "/signoff", strings.NewReader(body))
	req.Header.Set(SignatureHeader, Sign(secret, time.Now(), []byte(body)))
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output: 204
}

func TestVerifyRoundTrip(t *testing.T) {
	now := time.Now()
	for _, body := range []string{"", "{}", vectorBody, strings.Repeat("é", 1000)} {
		h := Sign([]byte(secret), now, []byte(body))
		require.NoError(t, Verify([]byte(secret), h, []byte(body), now, 0))
	}
}
