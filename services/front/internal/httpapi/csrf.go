package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// The confirmation form is protected by a signed double-submit cookie
// (OWASP): a random value in an HttpOnly, SameSite=Strict cookie, and in the
// form the HMAC of that value. A forged form from another site has neither.

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

func (h *handler) csrfToken(cookie string) string {
	m := hmac.New(sha256.New, h.CSRFKey)
	m.Write([]byte("signoff confirm\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether the form's token matches the cookie.
func (h *handler) checkCSRF(c *gin.Context, token string) bool {
	v, err := c.Cookie(h.csrfCookieName())
	if err != nil || v == "" || token == "" {
		return false
	}
	return hmac.Equal([]byte(token), []byte(h.csrfToken(v)))
}
