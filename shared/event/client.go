package event

import "time"

// ClientLogoutType is the type of a [ClientLogout].
const ClientLogoutType = "signoff.logout"

// ClientLogout is one logout as one client sees it: the JSON published on
// the client's own subject signoff.v1.logout.<client_id> and POSTed to its
// webhook_uri. It carries the sub that this client was given, never
// another client's.
type ClientLogout struct {
	// Type is always ClientLogoutType.
	Type string `json:"type"`
	// LogoutID identifies the logout; receivers de-duplicate on it.
	LogoutID string `json:"logout_id"`
	// SID is the ended session; empty when all of the subject's sessions
	// ended.
	SID string `json:"sid,omitempty"`
	// SIDs are, when SID is empty, the sessions of this client that the
	// logout ended: the app ends those, not every session of Sub (a newer
	// one may have started since).
	SIDs []string `json:"sids,omitempty"`
	// Sub is the sub this client was given.
	Sub string `json:"sub"`
	// Iss is the issuer.
	Iss string `json:"iss"`
	// ClientID is the receiving client.
	ClientID string `json:"client_id"`
	// Reason says why the session ended.
	Reason Reason `json:"reason"`
	// Time is when the logout was decided.
	Time time.Time `json:"time"`
}

// ForClient returns e as client p sees it.
func (e *SessionEnded) ForClient(p Participant) ClientLogout {
	l := ClientLogout{
		Type: ClientLogoutType, LogoutID: e.LogoutID, SID: e.SID, Sub: p.Sub, Iss: e.Iss,
		ClientID: p.ClientID, Reason: e.Reason, Time: e.Time.UTC(),
	}
	if e.SID == "" {
		l.SIDs = e.SIDsOf(p.ClientID, p.Sub)
	}
	return l
}

// Validate checks the fields a receiver relies on.
func (c *ClientLogout) Validate() error {
	var errs []error
	if c.Type != ClientLogoutType {
		errs = append(errs, errorf("type: want %q", ClientLogoutType))
	}
	if !ValidToken(c.LogoutID) {
		errs = append(errs, errorf("logout_id: invalid"))
	}
	if !ValidToken(c.ClientID) {
		errs = append(errs, errorf("client_id: invalid"))
	}
	if c.Sub == "" && c.SID == "" {
		errs = append(errs, errorf("sid or sub: required"))
	}
	return invalid(errs)
}
