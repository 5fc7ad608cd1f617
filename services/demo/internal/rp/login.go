package rp

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// login is GET /login: the start of the authorization code flow, with a
// fresh state (bound to this browser by a cookie) and nonce.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	state, nonce := random(), random()
	a.mu.Lock()
	for s, l := range a.logins {
		if a.now().After(l.expires) {
			delete(a.logins, s)
		}
	}
	a.logins[state] = login{nonce: nonce, expires: a.now().Add(loginLifetime)}
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: a.loginCookie, Value: state, Path: "/callback", MaxAge: int(loginLifetime.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {a.cfg.ClientID},
		"redirect_uri":  {a.cfg.PublicURL + "/callback"},
		"scope":         {"openid"},
		"state":         {state},
		"nonce":         {nonce},
	}
	http.Redirect(w, r, a.cfg.IdPPublicURL+"/authorize?"+q.Encode(), http.StatusFound)
}

// callback is GET /callback: it checks state, redeems the code and checks
// the ID token, then starts a local session.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		a.fail(w, http.StatusBadRequest, "The IdP answered "+e+": "+q.Get("error_description"))
		return
	}
	state := q.Get("state")
	ck, err := r.Cookie(a.loginCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		a.fail(w, http.StatusBadRequest, "The state does not match this browser's sign-in. Start again.")
		return
	}
	a.mu.Lock()
	l, ok := a.logins[state]
	delete(a.logins, state)
	a.mu.Unlock()
	if !ok || a.now().After(l.expires) {
		a.fail(w, http.StatusBadRequest, "This sign-in expired or was already used. Start again.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: a.loginCookie, Path: "/callback", MaxAge: -1})
	raw, err := a.redeem(r.Context(), q.Get("code"))
	if err != nil {
		a.log.ErrorContext(r.Context(), "redeeming the code failed", "error", err)
		a.fail(w, http.StatusBadGateway, "Redeeming the code at the IdP failed: "+err.Error())
		return
	}
	claims, err := a.verifyIDToken(r.Context(), raw, l.nonce)
	if err != nil {
		a.log.ErrorContext(r.Context(), "ID token rejected", "error", err)
		a.fail(w, http.StatusBadGateway, "The ID token was rejected: "+err.Error())
		return
	}
	sub, _ := claims["sub"].(string)
	sid, _ := claims["sid"].(string)
	s := a.startSession(sub, sid, raw, indent(claims))
	http.SetCookie(w, &http.Cookie{
		Name: a.sessionCookie, Value: s.ID, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	a.log.InfoContext(r.Context(), "signed in", "sub", sub, "sid", sid)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// redeem exchanges code at the IdP's token endpoint and returns the ID
// token (RFC 6749 §4.1.3, client_secret_basic).
func (a *App) redeem(ctx context.Context, code string) (string, error) {
	form := url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {code},
		"redirect_uri": {a.cfg.PublicURL + "/callback"},
	}
	if a.cfg.ClientSecret == "" {
		form.Set("client_id", a.cfg.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.IdPURL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("building token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a.cfg.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(a.cfg.ClientID), url.QueryEscape(a.cfg.ClientSecret))
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("posting to the token endpoint: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
		Desc    string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("decoding the token response (%s): %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK || body.IDToken == "" {
		return "", fmt.Errorf("token endpoint: %s: %s %s", resp.Status, body.Error, body.Desc)
	}
	return body.IDToken, nil
}

// verifyIDToken checks an ID token (OpenID Connect Core §3.1.3.7): its
// signature against the IdP's JWK Set, iss (signoff's issuer), aud, exp,
// iat, nonce, and that it carries sub and sid.
func (a *App) verifyIDToken(ctx context.Context, raw, nonce string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, a.idpKeys.KeyfuncCtx(ctx),
		jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA", "PS256"}),
		jwt.WithIssuer(a.cfg.Issuer),
		jwt.WithAudience(a.cfg.ClientID),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(time.Minute),
		jwt.WithTimeFunc(a.now),
	)
	if err != nil {
		return nil, fmt.Errorf("verifying ID token: %w", err)
	}
	if got, _ := claims["nonce"].(string); subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return nil, errors.New("ID token nonce does not match the sign-in's")
	}
	if sub, _ := claims["sub"].(string); sub == "" {
		return nil, errors.New("ID token has no sub")
	}
	if sid, _ := claims["sid"].(string); sid == "" {
		return nil, errors.New("ID token has no sid")
	}
	return claims, nil
}

// indent returns v as indented JSON, for the page.
func indent(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
