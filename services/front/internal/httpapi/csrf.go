package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// The confirmation form is protected by a signed double-submit cookie
// (OWASP): a random value in an HttpOnly, SameSite=Strict cookie, and in the
// form the HMAC of that value (macKeys). A forged form from another site
// has neither.

func (h *handler) csrfCookieName() string {
	if h.secureCookies() {
		return "__Host-signoff_csrf"
	}
	return "signoff_csrf"
}

func (h *handler) secureCookies() bool {
	return strings.HasPrefix(h.Config.PublicBaseURL(), "https://")
}

// issueCSRF sets the cookie (reusing a valid one) and returns the form
// token.
func (h *handler) issueCSRF(c *gin.Context) string {
	v, err := c.Cookie(h.csrfCookieName())
	if err != nil || len(v) != 43 {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		v = base64.RawURLEncoding.EncodeToString(b)
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: h.csrfCookieName(), Value: v, Path: "/", MaxAge: 3600,
		HttpOnly: true, Secure: h.secureCookies(), SameSite: http.SameSiteStrictMode,
	})
	return h.csrfToken(v)
}

// csrfDomain separates the CSRF token's MACs from every other MAC.
const csrfDomain = "signoff confirm"

func (h *handler) csrfToken(cookie string) string {
	return macKeys(h.CSRFKeys).sign(csrfDomain, cookie)
}

// checkCSRF reports whether the form's token matches the cookie.
func (h *handler) checkCSRF(c *gin.Context, token string) bool {
	v, err := c.Cookie(h.csrfCookieName())
	if err != nil || v == "" || token == "" {
		return false
	}
	return macKeys(h.CSRFKeys).verify(csrfDomain, v, token)
}
