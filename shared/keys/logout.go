package keys

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Logout token constants (OIDC Back-Channel Logout 1.0 §2.4, errata set 1).
const (
	// BackchannelLogoutEvent is the only member of a logout token's events
	// claim; its value is {} (BCL-11).
	BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
	// LogoutTokenType is the typ header of a logout token (§2.4, BCL-20).
	LogoutTokenType = "logout+jwt"
	// LogoutTokenLifetime is exp minus iat: short, so that a captured token
	// is of little use for replay (§4, BCL-9).
	LogoutTokenLifetime = 2 * time.Minute
)

// LogoutEvents is the events claim of a logout token. It always encodes as
// {"http://schemas.openid.net/event/backchannel-logout":{}}, which is what
// the conformance suite demands (BCL-11).
type LogoutEvents struct {
	// BackchannelLogout is the member BackchannelLogoutEvent; its value
	// is the empty object.
	BackchannelLogout struct{} `json:"http://schemas.openid.net/event/backchannel-logout"`
}

// LogoutClaims are the claims of a logout token (OIDC Back-Channel Logout
// 1.0 §2.4): one audience, sid and/or sub, and never nonce (BCL-15), so a
// logout token can never pass for an ID token. It implements jwt.Claims, to
// decode a logout token into; LogoutToken writes the same JSON without
// building one.
type LogoutClaims struct {
	// Issuer is iss, the issuer exactly (BCL-6).
	Issuer string `json:"iss"`
	// Audience is aud, the one client the token is for (BCL-7).
	Audience string `json:"aud"`
	// IssuedAt is iat (BCL-8).
	IssuedAt *jwt.NumericDate `json:"iat"`
	// ExpiresAt is exp, LogoutTokenLifetime after iat (BCL-9).
	ExpiresAt *jwt.NumericDate `json:"exp"`
	// ID is jti, 128 random bits, base64url (BCL-10).
	ID string `json:"jti"`
	// Events is the back-channel logout event (BCL-11).
	Events LogoutEvents `json:"events"`
	// SessionID is sid: the sid of the ID token issued to this client.
	SessionID string `json:"sid,omitempty"`
	// Subject is sub: the sub this client was given, which may be pairwise.
	Subject string `json:"sub,omitempty"`
}

// GetExpirationTime implements jwt.Claims.
func (c *LogoutClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }

// GetIssuedAt implements jwt.Claims.
func (c *LogoutClaims) GetIssuedAt() (*jwt.NumericDate, error) { return c.IssuedAt, nil }

// GetNotBefore implements jwt.Claims; a logout token has no nbf.
func (c *LogoutClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }

// GetIssuer implements jwt.Claims.
func (c *LogoutClaims) GetIssuer() (string, error) { return c.Issuer, nil }

// GetSubject implements jwt.Claims.
func (c *LogoutClaims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *LogoutClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

// LogoutToken returns a signed logout token for one client (OIDC
// Back-Channel Logout 1.0 §2.4): iss, aud, iat = now, exp = now +
// LogoutTokenLifetime, a fresh jti, the events claim, and sid and sub when
// not empty, signed with the active key of alg (an empty alg means
// DefaultAlgorithm) with the header typ logout+jwt and kid. sub and sid must
// not both be empty (BCL-12); a zero now means time.Now().
func (s *Set) LogoutToken(alg, issuer, audience, sub, sid string, now time.Time) (string, error) {
	b, err := s.AppendLogoutToken(nil, alg, issuer, audience, sub, sid, now)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// AppendLogoutToken is LogoutToken appending the token to dst, for a
// caller that sends it in a body of its own without copying it again.
func (s *Set) AppendLogoutToken(dst []byte, alg, issuer, audience, sub, sid string, now time.Time) ([]byte, error) {
	switch {
	case sub == "" && sid == "":
		return nil, ErrNoSubOrSID
	case issuer == "":
		return nil, fmt.Errorf("%w: iss", ErrMissingClaim)
	case audience == "":
		return nil, fmt.Errorf("%w: aud", ErrMissingClaim)
	}
	k, err := s.Signer(alg)
	if err != nil {
		return nil, err
	}
	if now.IsZero() {
		now = time.Now()
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:]) // never fails; see crypto/rand.Read
	var scratch [512]byte    // the claims of a typical logout token fit
	iat := now.Unix()
	payload := appendLogoutClaims(scratch[:0], issuer, audience, iat, iat+int64(LogoutTokenLifetime/time.Second), jti[:], sid, sub)
	return k.appendSigned(dst, payload, LogoutTokenType)
}

// appendLogoutClaims appends the JSON of a LogoutClaims with these values,
// byte for byte what encoding/json writes, without reflection: this runs
// once per client of every logout.
func appendLogoutClaims(b []byte, iss, aud string, iat, exp int64, jti []byte, sid, sub string) []byte {
	b = append(b, `{"iss":`...)
	b = appendJSONString(b, iss)
	b = append(b, `,"aud":`...)
	b = appendJSONString(b, aud)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, iat, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, exp, 10)
	b = append(b, `,"jti":"`...)
	b = base64.RawURLEncoding.AppendEncode(b, jti)
	b = append(b, `","events":{"`+BackchannelLogoutEvent+`":{}}`...)
	if sid != "" {
		b = append(b, `,"sid":`...)
		b = appendJSONString(b, sid)
	}
	if sub != "" {
		b = append(b, `,"sub":`...)
		b = appendJSONString(b, sub)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. Printable ASCII without
// quote, backslash or HTML characters is copied; anything else goes
// through encoding/json, so the output matches it exactly.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// idTokenClaims are the claims IDToken writes.
type idTokenClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  string           `json:"aud"`
	SessionID string           `json:"sid,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
}

// IDToken returns a minimal ID token signed with the active key of alg, with
// the header typ JWT and the claims iss, sub, aud (clientID), sid (when not
// empty), iat and exp; no azp. signoff issues no ID tokens in production:
// this mints id_token_hint values for tests of other packages and for the
// dev command that prints sample hints.
func (s *Set) IDToken(alg, issuer, clientID, sub, sid string, iat, exp time.Time) (string, error) {
	switch {
	case issuer == "":
		return "", fmt.Errorf("%w: iss", ErrMissingClaim)
	case clientID == "":
		return "", fmt.Errorf("%w: aud", ErrMissingClaim)
	case sub == "":
		return "", fmt.Errorf("%w: sub", ErrMissingClaim)
	}
	k, err := s.Signer(alg)
	if err != nil {
		return "", err
	}
	c := idTokenClaims{
		Issuer:    issuer,
		Subject:   sub,
		Audience:  clientID,
		SessionID: sid,
		IssuedAt:  jwt.NewNumericDate(iat),
		ExpiresAt: jwt.NewNumericDate(exp),
	}
	return k.signJSON(&c, "JWT")
}
