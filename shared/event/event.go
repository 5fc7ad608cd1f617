package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors returned by the decoders.
var (
	// ErrInvalid reports a payload that is well-formed JSON but breaks the
	// contract (a missing required field, an unknown status).
	ErrInvalid = errors.New("event: invalid")
)

// Reason says why a session ended.
type Reason string

// Reasons a session ends. Every way goes through the same pipeline.
const (
	// ReasonEndSession: the person logged out at the end-session endpoint.
	ReasonEndSession Reason = "end_session"
	// ReasonAPI: an API call ended one session.
	ReasonAPI Reason = "api"
	// ReasonAPISubject: an API call ended all of a subject's sessions.
	ReasonAPISubject Reason = "api_subject"
	// ReasonExpired: the session reached the end of its retention.
	ReasonExpired Reason = "expired"
)

// Participant is a client that took part in a session, with the sub that
// client was given (which may be pairwise).
type Participant struct {
	ClientID string `json:"client_id"`
	Sub      string `json:"sub"`
	// SIDs, in a logout without a sid (all of a subject's sessions), are
	// the sessions that this client took part in with this sub: a client
	// that requires a sid in its logout tokens gets one per session.
	SIDs []string `json:"sids,omitempty"`
	// Channels names the channels that the configuration of the front
	// that published the logout gives the client (config.Client.Channels:
	// frontchannel, backchannel, webhook, events). A worker that does not
	// serve the client, but would with these channels, parks the delivery
	// for a replica that does (the client was given a channel that reached
	// the fronts first). Empty for a client without channels, and from
	// fronts older than the field: the worker's configuration decides
	// alone.
	Channels []string `json:"channels,omitempty"`
}

// SessionEnded is published on [SubjectSessionEnded] once a logout is decided. It
// is a snapshot of the session's participants taken before the session is
// marked ended (spec DES-1), so workers need nothing else to propagate it.
type SessionEnded struct {
	// LogoutID identifies this logout; consumers de-duplicate on it. It is
	// also the JetStream message id.
	LogoutID string `json:"logout_id"`
	// SID is the ended session. Empty for a logout of all of a subject's
	// sessions, which back-channel workers send as a sub-only logout token
	// (Back-Channel Logout 1.0 §2.4).
	SID string `json:"sid,omitempty"`
	// Sessions lists the sids that a subject-wide logout ended.
	Sessions []string `json:"sessions,omitempty"`
	// Sub is the session's subject as first reported.
	Sub string `json:"sub"`
	// Iss is the issuer.
	Iss string `json:"iss"`
	// Clients are the participants, each with its own sub.
	Clients []Participant `json:"clients"`
	// InitiatingClientID is the client that started an RP-initiated logout.
	InitiatingClientID string `json:"initiating_client_id,omitempty"`
	// Reason says why the session ended.
	Reason Reason `json:"reason"`
	// Time is when the logout was decided.
	Time time.Time `json:"time"`
}

// SIDs returns the sids this logout ended: SID, or Sessions when SID is
// empty.
func (e *SessionEnded) SIDs() []string {
	if e.SID != "" {
		return []string{e.SID}
	}
	return e.Sessions
}

// SIDsOf returns the sessions of this logout that client took part in
// with sub: the event's SID when it has one; otherwise the participant's
// SIDs, for every sub of the client when sub is empty.
func (e *SessionEnded) SIDsOf(clientID, sub string) []string {
	if e.SID != "" {
		return []string{e.SID}
	}
	var out []string
	for _, p := range e.Clients {
		if p.ClientID == clientID && (sub == "" || p.Sub == sub) {
			out = append(out, p.SIDs...)
		}
	}
	return out
}

// Validate checks the fields every consumer relies on.
func (e *SessionEnded) Validate() error {
	var errs []error
	if e.LogoutID == "" || !ValidToken(e.LogoutID) {
		errs = append(errs, errors.New("logout_id: required, one subject token"))
	}
	if e.SID == "" && e.Sub == "" {
		errs = append(errs, errors.New("sid or sub: required"))
	}
	if slices.Contains(e.Sessions, "") {
		errs = append(errs, errors.New("sessions: an empty sid"))
	}
	if !utf8.ValidString(e.SID) || !utf8.ValidString(e.Sub) || slices.ContainsFunc(e.Sessions, func(s string) bool { return !utf8.ValidString(s) }) {
		// JSON would carry them changed: the event would name another session.
		errs = append(errs, errors.New("sid, sub, sessions: not valid UTF-8"))
	}
	if e.Iss == "" {
		errs = append(errs, errors.New("iss: required"))
	}
	for i, c := range e.Clients {
		if !ValidToken(c.ClientID) {
			errs = append(errs, fmt.Errorf("clients[%d].client_id: invalid", i))
		}
	}
	switch e.Reason {
	case ReasonEndSession, ReasonAPI, ReasonAPISubject, ReasonExpired:
	default:
		errs = append(errs, fmt.Errorf("reason: unknown %q", e.Reason))
	}
	if e.Time.IsZero() {
		errs = append(errs, errors.New("time: required"))
	}
	return invalid(errs)
}

// ValidText reports whether s is UTF-8 without U+FFFD or control
// characters: whether it is what its sender meant, and keys the index
// exactly. JSON changes other strings (invalid bytes become U+FFFD, and so
// do lone surrogate escapes such as \udc80 when decoded), so that two
// reports' sids could read the same; and the index ends each key with a
// NUL, so that "alice" would find "alice\x00x" too. New reports are
// checked with it; stored records are not, so that what an earlier
// version stored is still read.
func ValidText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return r == utf8.RuneError || unicode.IsControl(r)
	})
}

// Joined reports that a client took part in a session. It is the JSON of
// [SubjectSessionJoined] and of PUT /api/v1/sessions/{sid}/clients/{client_id}.
type Joined struct {
	SID      string    `json:"sid"`
	ClientID string    `json:"client_id"`
	Sub      string    `json:"sub"`
	Time     time.Time `json:"time,omitzero"`
}

// Validate checks the report's shape; whether the client is registered is
// the receiver's business.
func (j *Joined) Validate() error {
	var errs []error
	if j.SID == "" || len(j.SID) > 255 || !utf8.ValidString(j.SID) {
		errs = append(errs, errors.New("sid: required, at most 255 bytes of UTF-8"))
	}
	if !ValidToken(j.ClientID) {
		errs = append(errs, errors.New("client_id: required, a valid client id"))
	}
	if j.Sub == "" || len(j.Sub) > 255 || !utf8.ValidString(j.Sub) {
		errs = append(errs, errors.New("sub: required, at most 255 bytes of UTF-8"))
	}
	return invalid(errs)
}

// Status is the state of one delivery of a logout to one client.
type Status string

// Delivery statuses. Settled ones end the front's wait.
const (
	StatusPending   Status = "pending"
	StatusDelivered Status = "delivered"
	StatusRetrying  Status = "retrying"
	StatusDeferred  Status = "deferred"
	StatusFailed    Status = "failed"
	StatusSkipped   Status = "skipped"
)

// Settled reports whether s ends the front's bounded wait: delivered,
// failed, deferred (parked behind an open breaker) or skipped.
func (s Status) Settled() bool {
	switch s {
	case StatusDelivered, StatusFailed, StatusDeferred, StatusSkipped:
		return true
	}
	return false
}

// Final reports whether s is the end of the delivery: delivered, failed or
// skipped. (A deferred one is settled, for the front's wait, but not
// final: it is retried when the breaker lets it.)
func (s Status) Final() bool {
	return s == StatusDelivered || s == StatusFailed || s == StatusSkipped
}

// Valid reports whether s is one of the statuses above.
func (s Status) Valid() bool {
	return s.Settled() || s == StatusPending || s == StatusRetrying
}

// Delivery is the progress of one logout to one client on one channel,
// published on [DeliverySubject]. Each message replaces the previous one of
// the same subject.
type Delivery struct {
	LogoutID  string    `json:"logout_id"`
	SID       string    `json:"sid,omitempty"`
	ClientID  string    `json:"client_id"`
	Channel   string    `json:"channel"`
	Status    Status    `json:"status"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	Time      time.Time `json:"time"`
}

// Validate checks the progress record's shape.
func (d *Delivery) Validate() error {
	var errs []error
	if !ValidToken(d.LogoutID) {
		errs = append(errs, errors.New("logout_id: invalid"))
	}
	if !ValidToken(d.ClientID) {
		errs = append(errs, errors.New("client_id: invalid"))
	}
	if !ValidToken(d.Channel) {
		errs = append(errs, errors.New("channel: invalid"))
	}
	if !d.Status.Valid() {
		errs = append(errs, fmt.Errorf("status: unknown %q", d.Status))
	}
	return invalid(errs)
}

// DeliveryBatch is the progress of several deliveries of one logout on one
// channel, published on [BatchSubject]: the outcomes of the first attempts,
// in one message instead of one per client.
type DeliveryBatch struct {
	LogoutID   string          `json:"logout_id"`
	SID        string          `json:"sid,omitempty"`
	Channel    string          `json:"channel"`
	Deliveries []BatchDelivery `json:"deliveries"`
	Time       time.Time       `json:"time"`
}

// BatchDelivery is one entry of a [DeliveryBatch].
type BatchDelivery struct {
	ClientID  string `json:"client_id"`
	Status    Status `json:"status"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
}

// Validate checks the batch's shape.
func (b *DeliveryBatch) Validate() error {
	var errs []error
	if !ValidToken(b.LogoutID) || !ValidToken(b.Channel) {
		errs = append(errs, errors.New("logout_id and channel: required"))
	}
	for i, d := range b.Deliveries {
		if !ValidToken(d.ClientID) || !d.Status.Valid() {
			errs = append(errs, fmt.Errorf("deliveries[%d]: invalid", i))
		}
	}
	return invalid(errs)
}

// Delivery returns entry i as a [Delivery].
func (b *DeliveryBatch) Delivery(i int) Delivery {
	d := b.Deliveries[i]
	return Delivery{LogoutID: b.LogoutID, SID: b.SID, ClientID: d.ClientID, Channel: b.Channel,
		Status: d.Status, Attempts: d.Attempts, LastError: d.LastError, Time: b.Time}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func invalid(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
}

// validator is a payload that can check itself.
type validator interface{ Validate() error }

// Decode unmarshals data into v and validates it. Data that is not UTF-8
// is refused: json.Unmarshal would change its strings (to U+FFFD), so that
// a report would name another session than its sender's.
func Decode[T any, P interface {
	*T
	validator
}](data []byte) (*T, error) {
	v := P(new(T))
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("decoding %T: %w: not UTF-8", v, ErrInvalid)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decoding %T: %w", v, err)
	}
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("decoding %T: %w", v, err)
	}
	return (*T)(v), nil
}
