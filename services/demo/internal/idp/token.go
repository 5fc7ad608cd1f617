package idp

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signoff/signoff/shared/keys"
)

// token is POST /token: the authorization code grant (RFC 6749 §4.1.3).
// The client authenticates with the shared demo secret, by HTTP Basic or in
// the form; with no secret configured, clients are public.
func (p *IdP) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "the form could not be read")
		return
	}
	clientID, secret, basic := r.BasicAuth()
	if basic {
		// client_secret_basic form-encodes both (RFC 6749 §2.3.1).
		clientID, secret = formDecode(clientID), formDecode(secret)
	} else {
		clientID, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if _, known := p.clients[clientID]; !known ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(p.cfg.ClientSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="demo-idp"`)
		tokenError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	}
	g, ok := p.redeem(r.PostForm.Get("code"))
	if !ok || g.clientID != clientID || g.redirectURI != r.PostForm.Get("redirect_uri") {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown, used or expired code, or another client's or redirect_uri's")
		return
	}
	idToken, err := p.idToken(g)
	if err != nil {
		p.log.ErrorContext(r.Context(), "signing ID token failed", "error", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "signing failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": random(), // opaque and useless: the demo has no resource server
		"token_type":   "Bearer",
		"expires_in":   int(idTokenLifetime.Seconds()),
		"id_token":     idToken,
	})
}

// idToken signs the ID token of a grant (OpenID Connect Core §2): iss is
// signoff's issuer, aud the client, with sid (Back-Channel Logout §2.1) and
// the nonce of the request.
func (p *IdP) idToken(g grant) (string, error) {
	now := p.now()
	claims := jwt.MapClaims{
		"iss":       p.cfg.Issuer,
		"sub":       g.sub,
		"aud":       g.clientID,
		"sid":       g.sid,
		"iat":       now.Unix(),
		"auth_time": now.Unix(),
		"exp":       now.Add(idTokenLifetime).Unix(),
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	return p.cfg.Keys.Sign(keys.RS256, claims, "JWT")
}

// jwks is GET /jwks: the public keys that verify the ID tokens; signoff
// fetches it to verify id_token_hint (id_token_hint.jwks_uri).
func (p *IdP) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=60")
	_, _ = w.Write(p.cfg.Keys.JWKS())
}

// tokenError writes an OAuth 2.0 error response (RFC 6749 §5.2).
func tokenError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// formDecode undoes the form encoding of client_secret_basic credentials;
// a value that does not decode is used as is.
func formDecode(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}
