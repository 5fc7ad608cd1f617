package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

// TestCSRF covers what the flow tests cannot reach through a browser: a
// planted cookie, the form's expiry, the cookie's Max-Age and fronts whose
// clocks differ.
func TestCSRF(t *testing.T) {
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	now := start
	newHandler := func(clock *time.Time) *handler {
		return &handler{Deps: Deps{Config: config.Default(), CSRFKeys: []keys.Secret{{KID: "k1", Key: []byte("csrf key")}},
			Now: func() time.Time { return *clock }}}
	}
	h := newHandler(&now)

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
	issue := func(h *handler, cookies ...*http.Cookie) (cookie *http.Cookie, token string) {
		set := request(func(c *gin.Context) { token = h.issueCSRF(c) }, cookies...)
		require.Contains(t, set, "signoff_csrf")
		return set["signoff_csrf"], token
	}
	check := func(h *handler, token string, cookies ...*http.Cookie) (ok bool) {
		request(func(c *gin.Context) { ok = h.checkCSRF(c, token) }, cookies...)
		return ok
	}

	cookie, token := issue(h)
	assert.Equal(t, 3600, cookie.MaxAge)
	assert.True(t, cookie.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
	assert.True(t, check(h, token, cookie))
	assert.False(t, check(h, "", cookie))
	assert.False(t, check(h, token), "no cookie")

	// Ten minutes on, a new form reuses the cookie, which keeps its end.
	now = start.Add(10 * time.Minute)
	again, token2 := issue(h, cookie)
	assert.Equal(t, cookie.Value, again.Value, "a young cookie is reused")
	assert.Equal(t, token, token2)
	assert.Equal(t, 3000, again.MaxAge, "the cookie's end does not move")

	// A value that signoff did not mint is replaced, and never accepted.
	planted := &http.Cookie{Name: "signoff_csrf", Value: "attacker-chosen-value-!!!!!!!!!!!!!!!!!!!!!"}
	replaced, _ := issue(h, planted)
	assert.NotEqual(t, planted.Value, replaced.Value)
	assert.False(t, check(h, macKeys(h.CSRFKeys).sign(csrfDomain, planted.Value), planted), "even with the token for it")

	// Half an hour on, the cookie still confirms its forms but is not
	// reused for new ones, which get a full hour.
	now = start.Add(31 * time.Minute)
	assert.True(t, check(h, token, cookie))
	fresh, _ := issue(h, cookie)
	assert.NotEqual(t, cookie.Value, fresh.Value)
	assert.Equal(t, 3600, fresh.MaxAge)

	// After an hour the form has expired.
	now = start.Add(61 * time.Minute)
	assert.False(t, check(h, token, cookie), "expired")

	// Another front whose clock is 3 minutes ahead: its cookie and form are
	// good here, and reused here, with a Max-Age of at most an hour.
	ahead := start.Add(3 * time.Minute)
	now = start
	other := newHandler(&ahead)
	theirs, theirToken := issue(other)
	assert.True(t, check(h, theirToken, theirs))
	ours, _ := issue(h, theirs)
	assert.Equal(t, theirs.Value, ours.Value)
	assert.Equal(t, 3600, ours.MaxAge)
	// One 10 minutes ahead is beyond the skew allowed: replaced, refused.
	ahead = start.Add(10 * time.Minute)
	far, farToken := issue(other)
	assert.False(t, check(h, farToken, far))
	ours, _ = issue(h, far)
	assert.NotEqual(t, far.Value, ours.Value)
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
