package rp

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
)

// logout is POST /logout, the Sign out button: the app ends its own
// session, then sends the browser to signoff's end_session_endpoint
// (RP-Initiated Logout 1.0 §2) with id_token_hint, post_logout_redirect_uri
// and a fresh state, which /signed-out checks.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		a.fail(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	s := a.current(r)
	if s == nil || !s.EndedAt.IsZero() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(r.PostForm.Get("csrf_token"))) != 1 {
		a.fail(w, http.StatusForbidden, "The sign-out form was not sent by this app (CSRF check).")
		return
	}
	endSession, _, err := a.op.discover(r.Context())
	if err != nil {
		a.log.ErrorContext(r.Context(), "discovering signoff failed", "error", err)
		a.fail(w, http.StatusBadGateway, "signoff could not be reached: "+err.Error())
		return
	}
	a.endSessions(s.SID, s.Sub, "you signed out here")
	state := random()
	http.SetCookie(w, &http.Cookie{
		Name: a.logoutCookie, Value: state, Path: "/signed-out", MaxAge: 600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	q := url.Values{
		"id_token_hint":            {s.IDToken},
		"post_logout_redirect_uri": {a.cfg.PublicURL + "/signed-out"},
		"state":                    {state},
		"client_id":                {a.cfg.ClientID},
	}
	sep := "?"
	if strings.Contains(endSession, "?") {
		sep = "&"
	}
	a.log.InfoContext(r.Context(), "signing out through signoff", "sid", s.SID)
	http.Redirect(w, r, endSession+sep+q.Encode(), http.StatusSeeOther)
}

// signedOut is GET /signed-out, the post_logout_redirect_uri: signoff
// sends the browser back here with the state the app sent (RP-Initiated
// Logout 1.0 §3); the app checks it against its cookie.
func (a *App) signedOut(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	ck, err := r.Cookie(a.logoutCookie)
	matched := err == nil && state != "" && subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) == 1
	http.SetCookie(w, &http.Cookie{Name: a.logoutCookie, Path: "/signed-out", MaxAge: -1})
	summary := "state matched"
	if !matched {
		summary = "state did NOT match"
	}
	a.received.add(entry{
		Time: a.now(), Kind: "back from signoff", OK: matched,
		Summary: summary, Detail: "GET " + r.URL.RequestURI(),
	})
	a.render(w, http.StatusOK, "signed_out", map[string]any{"Matched": matched, "State": state})
}
