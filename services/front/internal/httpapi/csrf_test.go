package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

// TestCSRF covers what the flow tests cannot reach through a browser: a
// planted cookie, the form's expiry and the binding to the IdP session.
func TestCSRF(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	cfg := config.Default()
	cfg.SessionCookie = "idp_session"
	h := &handler{Deps: Deps{Config: cfg, CSRFKeys: []keys.Secret{{KID: "k1", Key: []byte("csrf key")}},
		Now: func() time.Time { return now }}}

	// request runs f on a request with cookies, and returns the cookies it
	// set.
	request := func(f func(c *gin.Context), cookies ...*http.Cookie) map[string]*http.Cookie {
		w := httptest.NewRecorder()
		f(newContext(w, cookies...))
		set := map[string]*http.Cookie{}
		for _, k := range w.Result().Cookies() {
			set[k.Name] = k
		}
		return set
	}
	issue := func(cookies ...*http.Cookie) (cookie *http.Cookie, token string) {
		set := request(func(c *gin.Context) { token = h.issueCSRF(c) }, cookies...)
		return set["signoff_csrf"], token
	}
	check := func(token string, cookies ...*http.Cookie) (ok bool) {
		request(func(c *gin.Context) { ok = h.checkCSRF(c, token) }, cookies...)
		return ok
	}
	session := &http.Cookie{Name: "idp_session", Value: "s1"}

	cookie, token := issue(session)
	assert.Equal(t, 3600, cookie.MaxAge)
	assert.True(t, cookie.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
	assert.True(t, check(token, cookie, session))
	assert.False(t, check(token, cookie), "without the session the token was made for")
	assert.False(t, check(token, cookie, &http.Cookie{Name: "idp_session", Value: "s2"}), "for another session")
	assert.False(t, check("", cookie, session))

	again, token2 := issue(cookie, session)
	assert.Equal(t, cookie.Value, again.Value, "a young cookie is reused")
	assert.Equal(t, token, token2)

	// A value that signoff did not mint is replaced, and never accepted.
	planted := &http.Cookie{Name: "signoff_csrf", Value: "attacker-chosen-value-!!!!!!!!!!!!!!!!!!!!!"}
	replaced, _ := issue(planted, session)
	assert.NotEqual(t, planted.Value, replaced.Value)
	assert.False(t, check(h.csrfToken(newContext(httptest.NewRecorder(), session), planted.Value), planted, session),
		"even with the token for it")

	// Half an hour on, the cookie still confirms its forms but is not
	// reused for new ones, which get a full hour.
	now = now.Add(31 * time.Minute)
	assert.True(t, check(token, cookie, session))
	fresh, _ := issue(cookie, session)
	assert.NotEqual(t, cookie.Value, fresh.Value)
	assert.Equal(t, 3600, fresh.MaxAge)

	// After an hour the form has expired.
	now = now.Add(30 * time.Minute)
	assert.False(t, check(token, cookie, session), "expired")
}

// newContext is a gin context for a GET with cookies, answering to w.
func newContext(w http.ResponseWriter, cookies ...*http.Cookie) *gin.Context {
	gin.SetMode(gin.ReleaseMode)
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/connect/endsession", nil)
	for _, k := range cookies {
		c.Request.AddCookie(k)
	}
	return c
}
