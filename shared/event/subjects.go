package event

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Prefix starts every subject that signoff publishes.
const Prefix = "signoff.v1."

// Subjects of the public contract.
const (
	// SubjectSessionEnded carries a [SessionEnded] event: the single source of
	// truth that a logout was decided. Workers consume it.
	SubjectSessionEnded = Prefix + "session.ended"
	// SubjectSessionJoined accepts a [Joined] report from the IdP: a client took
	// part in a session.
	SubjectSessionJoined = Prefix + "session.joined"
	// LogoutPrefix starts the per-client logout subjects, one token for the
	// client id: signoff.v1.logout.<client_id>. A custom app subscribes to
	// its own subject and NATS permissions can restrict it to that.
	LogoutPrefix = Prefix + "logout."
	// StatePrefix starts the subjects of the state stream, which keeps the
	// last message of each subject only: the session index is rebuilt from
	// it in time proportional to live state, not history.
	StatePrefix = Prefix + "state."
	// DeliveryPrefix starts the per-target delivery progress subjects:
	// signoff.v1.state.delivery.<logout_id>.<channel>.<client_id>.
	DeliveryPrefix = StatePrefix + "delivery."
	// BatchPrefix starts the subjects of batched delivery progress: the
	// first-attempt outcomes of one logout on one channel, one subject per
	// delivery of the event to the worker,
	// signoff.v1.state.batch.<logout_id>.<channel>.d<n>. A later
	// per-delivery record of the same delivery supersedes its batch entry.
	BatchPrefix = StatePrefix + "batch."
	// ParticipationPrefix starts the participation subjects:
	// signoff.v1.state.session.<sid_token>.client.<client_id>.
	ParticipationPrefix = StatePrefix + "session."
	// DeadLetterPrefix starts dead-letter subjects:
	// signoff.v1.deadletter.<channel>.<client_id>.<logout_id>.
	DeadLetterPrefix = Prefix + "deadletter."
	// WorkPrefix starts the subjects of durable retry tasks:
	// signoff.v1.work.<channel>.<client_id>.
	WorkPrefix = Prefix + "work."
)

// SIDToken encodes a sid as one subject token (unpadded base64url), so that
// any opaque sid can be part of a subject.
func SIDToken(sid string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(sid))
}

// ParseSIDToken decodes a token made by [SIDToken].
func ParseSIDToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", fmt.Errorf("decoding sid token: %w", err)
	}
	return string(b), nil
}

// LogoutSubject is the per-client logout subject of clientID.
func LogoutSubject(clientID string) string { return LogoutPrefix + clientID }

// ParticipationSubject is the state subject that records that clientID took
// part in session sid.
func ParticipationSubject(sid, clientID string) string {
	return ParticipationPrefix + SIDToken(sid) + ".client." + clientID
}

// DeliverySubject is the state subject of one delivery's progress.
func DeliverySubject(logoutID, channel, clientID string) string {
	return DeliveryPrefix + logoutID + "." + channel + "." + clientID
}

// BatchSubject is the state subject of one logout's batched progress on
// one channel, written while the event was delivered to the worker for the
// n-th time.
func BatchSubject(logoutID, channel string, n int) string {
	return BatchPrefix + logoutID + "." + channel + ".d" + strconv.Itoa(n)
}

// BatchSubjects matches every BatchSubject of one logout on one channel.
func BatchSubjects(logoutID, channel string) string {
	return BatchPrefix + logoutID + "." + channel + ".*"
}

// BatchNumber is the n of a BatchSubject, false for another subject.
func BatchNumber(subject string) (int, bool) {
	if !strings.HasPrefix(subject, BatchPrefix) {
		return 0, false
	}
	digits, ok := strings.CutPrefix(subject[strings.LastIndexByte(subject, '.')+1:], "d")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil && n > 0
}

// DeadLetterSubject is the subject on which a failed delivery is published.
func DeadLetterSubject(channel, clientID, logoutID string) string {
	return DeadLetterPrefix + channel + "." + clientID + "." + logoutID
}

// WorkSubject is the subject of the retry tasks of one channel and client.
func WorkSubject(channel, clientID string) string {
	return WorkPrefix + channel + "." + clientID
}

// ValidToken reports whether s can be used as one subject token: printable
// ASCII without '.', '*', '>' or whitespace.
func ValidToken(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' {
			return false
		}
	}
	return true
}

// TokenAfter returns the n-th token (0-based) after prefix in subject, or ""
// when subject does not start with prefix or has too few tokens.
func TokenAfter(subject, prefix string, n int) string {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok {
		return ""
	}
	for i := 0; ; i++ {
		tok, tail, more := strings.Cut(rest, ".")
		if i == n {
			return tok
		}
		if !more {
			return ""
		}
		rest = tail
	}
}
