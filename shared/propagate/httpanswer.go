package propagate

// This file classifies HTTP answers for workers that deliver over HTTP
// (Back-Channel Logout 1.0 §2.8; RFC 9110 for Retry-After).

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds how much of a response body is read: enough for an OAuth
// style JSON error, never a whole error page.
const maxBody = 4 << 10

// maxField bounds each value taken from a response into an error message.
const maxField = 200

// maxRetryAfter bounds a Retry-After in seconds, so that a huge value does
// not overflow a time.Duration; the framework caps delays far lower anyway.
const maxRetryAfter = 7 * 24 * time.Hour

// HTTPError is a target's answer that is not a success.
type HTTPError struct {
	Status int
	// Code and Description are the body's JSON error and
	// error_description, for debugging only: the outcome never depends on
	// them (Back-Channel Logout 1.0 §2.8, BCL-26).
	Code, Description string
	// Location is where a 3xx answer pointed; redirects are never followed
	// (BCL-30).
	Location string
	// RetryAfter is the Retry-After of a transient answer, 0 when none.
	RetryAfter time.Duration
}

// Error reads like "HTTP 400: invalid_request: the token has no sid".
func (e *HTTPError) Error() string {
	var b strings.Builder
	b.WriteString("HTTP ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.Location != "" {
		b.WriteString(": redirect to ")
		b.WriteString(e.Location)
		b.WriteString(" not followed")
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
		if e.Description != "" {
			b.WriteString(": ")
			b.WriteString(e.Description)
		}
	}
	return b.String()
}

// CheckResponse classifies a target's answer and closes its body, after
// reading at most maxBody of it (a short body is drained, so that the
// connection is reused):
//   - 2xx: nil, delivered (200 and 204 are what receivers send, §2.8);
//   - 408, 429 and 5xx but 501 and 505: transient, with the Retry-After
//     when it parses (seconds or an HTTP-date; BCL-27);
//   - 501 (Not Implemented) and 505 (HTTP Version Not Supported):
//     permanent, a receiver that does not take this request at all is no
//     recoverable failure (BCL-27, BCL-28);
//   - 3xx: permanent, because redirects are never followed (BCL-30);
//   - any other status: permanent, with the JSON error of the body when it
//     has one (BCL-26: no retry after a 400).
func CheckResponse(resp *http.Response) error {
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if resp.Body != http.NoBody { // 204 and empty 200s have none
			_, _ = io.CopyN(io.Discard, resp.Body, maxBody)
		}
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	e := &HTTPError{Status: resp.StatusCode}
	e.Code, e.Description = jsonError(body)
	switch s := resp.StatusCode; {
	case s == http.StatusNotImplemented || s == http.StatusHTTPVersionNotSupported:
		return Permanent(e)
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500 && s < 600:
		if d := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); d > 0 {
			e.RetryAfter = d
			return RetryAfter(e, d)
		}
		return e
	case s >= 300 && s < 400:
		e.Location = "(no Location)"
		if loc, err := resp.Location(); err == nil {
			e.Location = clean(withoutQuery(loc.String()))
		}
		return Permanent(e)
	default:
		return Permanent(e)
	}
}

// TransportError returns err, an error of http.Client.Do (connection
// refused, timeout, TLS failure, ctx ended): transient. The URL that
// url.Error quotes loses its query, which may carry a credential.
func TransportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = withoutQuery(ue.URL)
	}
	return err
}

// jsonError returns the error and error_description members of a JSON
// body, or "" when the body is not such an object.
func jsonError(body []byte) (code, description string) {
	if len(body) == 0 || body[0] != '{' {
		return "", ""
	}
	var v struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "", ""
	}
	return clean(v.Error), clean(v.ErrorDescription)
}

// ParseRetryAfter returns the delay of a Retry-After header value, delay
// seconds or an HTTP-date (RFC 9110 §10.2.3), or 0 when it is absent, in
// the past or does not parse.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// withoutQuery cuts the query and fragment off a URL.
func withoutQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// clean makes a value from a response safe to put in an error message:
// printable ASCII only, at most maxField bytes.
func clean(s string) string {
	if len(s) > maxField {
		s = s[:maxField]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return strings.Map(func(r rune) rune {
				if r < ' ' || r > '~' {
					return '?'
				}
				return r
			}, s)
		}
	}
	return s
}
