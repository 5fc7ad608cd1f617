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
// whole value (macKeys). A forged form from another site has neither; a
// cookie planted by someone else (over plain http, where the __Host-
// prefix does not apply) does not verify and is replaced; a cookie older
// than csrfLifetime is refused, so the form expires. The token is not
// bound to the IdP's session cookie: that cookie may be SameSite=Strict,
// absent from the cross-site GET that shows the form and present on its
// same-site POST.

const (
	// csrfLifetime is how long a cookie confirms forms. A cookie is reused
	// for new forms only in the first half of it, so that every form can
	// be submitted for at least half of it.
	csrfLifetime = time.Hour
	// csrfSkew is how far ahead of this front's clock another front's
	// may be: a cookie it minted is valid here too.
	csrfSkew = 5 * time.Minute
)

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
	v, _ := cookie(c, h.csrfCookieName())
	age, ok := h.csrfCookieAge(v, now)
	if !ok || age > csrfLifetime/2 {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		payload := strconv.FormatInt(now.Unix(), 10) + "." + base64.RawURLEncoding.EncodeToString(b)
		v, age = payload+"."+macKeys(h.CSRFKeys).sign(csrfCookieDomain, payload), 0
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: h.csrfCookieName(), Value: v, Path: "/", MaxAge: int((csrfLifetime - max(age, 0)).Seconds()),
		HttpOnly: true, Secure: h.secureCookies(), SameSite: http.SameSiteStrictMode,
	})
	return macKeys(h.CSRFKeys).sign(csrfDomain, v)
}

// csrfCookieAge returns the age of a cookie that signoff minted and that
// is still valid at now (issued at most csrfSkew in the future, at most
// csrfLifetime ago); false for any other value.
func (h *handler) csrfCookieAge(v string, now time.Time) (time.Duration, bool) {
	ts, rest, ok := strings.Cut(v, ".")
	if !ok {
		return 0, false
	}
	random, tok, ok := strings.Cut(rest, ".")
	if !ok || !macKeys(h.CSRFKeys).verify(csrfCookieDomain, ts+"."+random, tok) {
		return 0, false
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, false
	}
	age := now.Sub(time.Unix(unix, 0))
	return age, age >= -csrfSkew && age <= csrfLifetime
}

// csrfDomain separates the CSRF token's MACs, and csrfCookieDomain the
// cookie's, from every other MAC.
const (
	csrfDomain       = "signoff confirm"
	csrfCookieDomain = "signoff confirm cookie"
)

// checkCSRF reports whether the form's token matches a valid cookie.
func (h *handler) checkCSRF(c *gin.Context, token string) bool {
	v, ok := cookie(c, h.csrfCookieName())
	if !ok || v == "" || token == "" {
		return false
	}
	if _, ok := h.csrfCookieAge(v, h.Now()); !ok {
		return false
	}
	return macKeys(h.CSRFKeys).verify(csrfDomain, v, token)
}
