package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// The confirmation form is protected by a signed double-submit cookie
// (OWASP): an HttpOnly, SameSite=Strict cookie that signoff minted and
// signed, "<issued>.<random>.<mac>", and in the form the HMAC of that
// whole value and of the IdP's session cookie, if any (macKeys). A forged form from another site has neither; a
// cookie planted by someone else (over plain http, where the __Host-
// prefix does not apply) does not verify and is replaced; a cookie older
// than csrfLifetime is refused, so the form expires.

// csrfLifetime is how long a confirmation form can be submitted; a cookie
// is reused for new forms only in the first half of it, so every form has
// at least half of it.
const csrfLifetime = time.Hour

func (h *handler) csrfCookieName() string {
	if h.secureCookies() {
		return "__Host-signoff_csrf"
	}
	return "signoff_csrf"
}

func (h *handler) secureCookies() bool {
	return strings.HasPrefix(h.Config.PublicBaseURL(), "https://")
}

// issueCSRF sets the cookie (reusing a valid one that is young enough) and
// returns the form token.
func (h *handler) issueCSRF(c *gin.Context) string {
	now := h.Now()
	v, _ := c.Cookie(h.csrfCookieName())
	issued, ok := h.csrfCookieIssued(v)
	if !ok || now.Sub(issued) > csrfLifetime/2 {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		payload := strconv.FormatInt(now.Unix(), 10) + "." + base64.RawURLEncoding.EncodeToString(b)
		v, issued = payload+"."+macKeys(h.CSRFKeys).sign(csrfCookieDomain, payload), now
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: h.csrfCookieName(), Value: v, Path: "/", MaxAge: int((csrfLifetime - now.Sub(issued)).Seconds()),
		HttpOnly: true, Secure: h.secureCookies(), SameSite: http.SameSiteStrictMode,
	})
	return h.csrfToken(c, v)
}

// csrfCookieIssued returns when a cookie that signoff minted was issued;
// false for any other value.
func (h *handler) csrfCookieIssued(v string) (time.Time, bool) {
	ts, rest, ok := strings.Cut(v, ".")
	if !ok {
		return time.Time{}, false
	}
	random, tok, ok := strings.Cut(rest, ".")
	if !ok || !macKeys(h.CSRFKeys).verify(csrfCookieDomain, ts+"."+random, tok) {
		return time.Time{}, false
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(unix, 0), true
}

// csrfDomain separates the CSRF token's MACs, and csrfCookieDomain the
// cookie's, from every other MAC.
const (
	csrfDomain       = "signoff confirm"
	csrfCookieDomain = "signoff confirm cookie"
)

// csrfToken is the form token for cookie: bound to the IdP session cookie
// too, when there is one, so that a pair of cookie and token that an
// attacker obtained for their own browser does not confirm for the
// victim's session.
func (h *handler) csrfToken(c *gin.Context, cookie string) string {
	return macKeys(h.CSRFKeys).sign(csrfDomain, cookie+"\n"+h.cookieSID(c))
}

// checkCSRF reports whether the form's token matches a cookie that signoff
// minted less than csrfLifetime ago.
func (h *handler) checkCSRF(c *gin.Context, token string) bool {
	v, err := c.Cookie(h.csrfCookieName())
	if err != nil || v == "" || token == "" {
		return false
	}
	issued, ok := h.csrfCookieIssued(v)
	if age := h.Now().Sub(issued); !ok || age > csrfLifetime || age < -time.Minute {
		return false
	}
	return macKeys(h.CSRFKeys).verify(csrfDomain, v+"\n"+h.cookieSID(c), token)
}
