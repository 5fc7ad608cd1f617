package idp

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"time"
)

// reportTimeout bounds the participation report of one sign-in, retries
// included.
const reportTimeout = 10 * time.Second

// authRequest is an authorization request (OpenID Connect Core §3.1.2.1),
// the parameters the demo uses.
type authRequest struct {
	ResponseType string
	ClientID     string
	RedirectURI  string
	State        string
	Nonce        string
}

func parseAuthRequest(v url.Values) authRequest {
	return authRequest{
		ResponseType: v.Get("response_type"),
		ClientID:     v.Get("client_id"),
		RedirectURI:  v.Get("redirect_uri"),
		State:        v.Get("state"),
		Nonce:        v.Get("nonce"),
	}
}

// query is the request as authorize's query string, to send it again.
func (a authRequest) query() string {
	v := url.Values{
		"response_type": {a.ResponseType},
		"client_id":     {a.ClientID},
		"redirect_uri":  {a.RedirectURI},
		"scope":         {"openid"},
	}
	if a.State != "" {
		v.Set("state", a.State)
	}
	if a.Nonce != "" {
		v.Set("nonce", a.Nonce)
	}
	return v.Encode()
}

// check validates the request. An error is shown on a 400 page and never
// redirects: a redirect URI that is not registered must not receive
// anything (OpenID Connect Core §3.1.2.1, RFC 6749 §4.1.2.1).
func (p *IdP) check(a authRequest) (Client, string) {
	c, ok := p.client(a.ClientID, a.RedirectURI)
	switch {
	case a.ClientID == "":
		return c, "client_id is missing."
	case c.ID == "":
		return c, "client_id " + a.ClientID + " is not registered."
	case !ok:
		return c, "redirect_uri " + a.RedirectURI + " is not registered for " + a.ClientID + "."
	case a.ResponseType != "code":
		return c, "response_type must be code (this IdP does the authorization code flow only)."
	}
	return c, ""
}

// home shows the IdP session of the browser, if any.
func (p *IdP) home(w http.ResponseWriter, r *http.Request) {
	sid, sub, ok := p.session(r)
	p.render(w, http.StatusOK, "home", map[string]any{"SignedIn": ok, "SID": sid, "Sub": sub, "Clients": p.cfg.Clients})
}

// authorize is GET /authorize: with a live IdP session the client is signed
// in at once; otherwise the one-click sign-in page.
func (p *IdP) authorize(w http.ResponseWriter, r *http.Request) {
	a := parseAuthRequest(r.URL.Query())
	c, problem := p.check(a)
	if problem != "" {
		p.render(w, http.StatusBadRequest, "error", map[string]any{"Problem": problem})
		return
	}
	if sid, sub, ok := p.session(r); ok {
		ended, err := p.cfg.Reporter.Ended(r.Context(), sid)
		if err != nil {
			p.log.WarnContext(r.Context(), "asking signoff about the session failed; using it", "sid", sid, "error", err)
		}
		if !ended {
			p.complete(w, r, a, sid, sub)
			return
		}
		// signoff ended it (say, through its API): sign in again.
		p.forget(sid)
	}
	p.render(w, http.StatusOK, "signin", map[string]any{
		"Client": c, "Request": a, "CSRF": p.csrfToken(w, r), "Sub": p.cfg.Subject,
	})
}

// signIn is POST /authorize, the sign-in form: it starts an IdP session.
func (p *IdP) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, "error", map[string]any{"Problem": "The form could not be read."})
		return
	}
	ck, err := r.Cookie(csrfCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf_token"))) != 1 {
		p.render(w, http.StatusForbidden, "error", map[string]any{"Problem": "The form expired or was not sent by this IdP (CSRF check). Go back and try again."})
		return
	}
	a := parseAuthRequest(r.PostForm)
	if _, problem := p.check(a); problem != "" {
		p.render(w, http.StatusBadRequest, "error", map[string]any{"Problem": problem})
		return
	}
	sid, login := p.newSession()
	for name, value := range map[string]string{SessionCookie: sid, loginCookie: login} {
		http.SetCookie(w, &http.Cookie{
			Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		})
	}
	p.log.InfoContext(r.Context(), "demo user signed in", "sid", sid)
	p.complete(w, r, a, sid, p.cfg.Subject)
}

// complete reports the client's participation to signoff and sends the
// browser back to the client with a code. A failed report is shown, with
// the choice to retry or to go on without it.
func (p *IdP) complete(w http.ResponseWriter, r *http.Request, a authRequest, sid, sub string) {
	code := p.issueCode(grant{clientID: a.ClientID, redirectURI: a.RedirectURI, nonce: a.Nonce, sid: sid, sub: sub})
	back := redirectWithCode(a.RedirectURI, code, a.State)
	ctx, cancel := context.WithTimeout(r.Context(), reportTimeout)
	defer cancel()
	if err := p.cfg.Reporter.Report(ctx, sid, a.ClientID, sub); err != nil {
		p.log.ErrorContext(ctx, "reporting participation to signoff failed", "sid", sid, "client_id", a.ClientID, "error", err)
		p.render(w, http.StatusBadGateway, "report_failed", map[string]any{
			"Error": err.Error(), "ClientID": a.ClientID, "Retry": "/authorize?" + a.query(), "Continue": back,
		})
		return
	}
	p.log.InfoContext(ctx, "client joined the session", "sid", sid, "client_id", a.ClientID)
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// redirectWithCode appends code and state to a registered redirect URI,
// keeping its query.
func redirectWithCode(redirectURI, code, state string) string {
	u, err := url.Parse(redirectURI)
	if err != nil { // registered URIs parse; see main
		return redirectURI
	}
	q := u.Query()
	q.Set("code", code)
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// csrfToken returns the browser's sign-in CSRF token, setting the cookie
// when there is none yet (double-submit cookie).
func (p *IdP) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
		return ck.Value
	}
	tok := random()
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: tok, Path: "/authorize", HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return tok
}
