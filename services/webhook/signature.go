package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of a webhook request.
const (
	// EventIDHeader carries the logout_id, to de-duplicate on.
	EventIDHeader = "Signoff-Event-Id"
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>".
	SignatureHeader = "Signoff-Signature"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock: older requests are rejected as possible replays.
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify.
var (
	// ErrMalformedSignature reports a Signoff-Signature header without
	// exactly one integer t and at least one v1.
	ErrMalformedSignature = errors.New("webhook: malformed " + SignatureHeader + " header")
	// ErrSignatureMismatch reports that no v1 is the body's signature with
	// this secret: the body was changed, or the secret is wrong.
	ErrSignatureMismatch = errors.New("webhook: signature does not match")
	// ErrStaleTimestamp reports a signature timestamp farther from now than
	// the tolerance.
	ErrStaleTimestamp = errors.New("webhook: signature timestamp outside the tolerance")
)

// Sign returns the Signoff-Signature header value of body signed with
// secret at t: "t=<t as Unix seconds>,v1=<hex HMAC-SHA256(secret,
// "<t>.<body>")>".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// Verify checks a Signoff-Signature header against the raw request body,
// as a receiver must before it trusts a webhook: one v1 must equal
// HMAC-SHA256(secret, "<t>.<body>") (compared in constant time), and t must
// be within tolerance of now, in either direction. A tolerance of zero or
// less means DefaultTolerance. The error wraps ErrMalformedSignature,
// ErrSignatureMismatch or ErrStaleTimestamp.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var (
		ts    string
		sigs  [][]byte
		nTime int
	)
	for part := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrMalformedSignature, part)
		}
		switch key {
		case "t":
			ts = value
			nTime++
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return fmt.Errorf("%w: v1 is not a hex HMAC-SHA256", ErrMalformedSignature)
			}
			sigs = append(sigs, sig)
		}
	}
	if nTime != 1 {
		return fmt.Errorf("%w: want exactly one t", ErrMalformedSignature)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || unix <= 0 {
		return fmt.Errorf("%w: t is not a Unix time", ErrMalformedSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrMalformedSignature)
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		matched = hmac.Equal(sig, want) || matched
	}
	if !matched {
		return ErrSignatureMismatch
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if age := now.Sub(time.Unix(unix, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed %s ago", ErrStaleTimestamp, age.Round(time.Second))
	}
	return nil
}

// mac is HMAC-SHA256(secret, ts + "." + body).
func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}
