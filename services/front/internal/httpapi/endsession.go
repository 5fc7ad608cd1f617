package httpapi

import (
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/signoff/signoff/services/front/internal/endsession"
	"github.com/signoff/signoff/services/front/internal/pages"
)

// endSession serves GET and POST (form) of the end-session endpoint
// (RP-Initiated Logout 1.0 §2): both are handled the same (RIL-3, RIL-4).
func (h *handler) endSession(c *gin.Context) {
	pages.SetNoStore(c.Writer.Header())
	vals, ok := h.params(c)
	if !ok {
		return
	}
	req, perr := endsession.ParseRequest(vals)
	if perr != nil {
		h.refuse(c, req, perr)
		return
	}
	dec, derr := h.Decider.Decide(c.Request.Context(), req, h.cookieSID(c))
	if derr != nil {
		h.refuse(c, req, derr)
		return
	}
	if dec.Confirm {
		h.askConfirmation(c, req, dec)
		return
	}
	h.logout(c, req, dec)
}

// confirm receives the confirmation form. It decides the request again
// from its parameters (nothing in the form is trusted that the endpoint
// would not check) and acts only on a valid CSRF token and a "yes".
func (h *handler) confirm(c *gin.Context) {
	pages.SetNoStore(c.Writer.Header())
	if err := c.Request.ParseForm(); err != nil {
		h.fail(c, http.StatusBadRequest, "invalid_request", "the form could not be read")
		return
	}
	form := c.Request.PostForm
	if !h.fromOwnPage(c) || !h.checkCSRF(c, form.Get("csrf_token")) {
		h.fail(c, http.StatusBadRequest, "invalid_request",
			"the confirmation form expired or did not come from this site; start the sign-out again")
		return
	}
	answer := form.Get("confirm")
	for _, k := range []string{"csrf_token", "confirm"} {
		form.Del(k)
	}
	req, perr := endsession.ParseRequest(form)
	if perr != nil {
		h.refuse(c, req, perr)
		return
	}
	if answer != "yes" {
		// RIL-20: "no" leaves everything alone and notifies nobody.
		h.Pages.Render(c.Writer, http.StatusOK, pages.Stay, pages.Data{Lang: h.lang(c, req.UILocales)})
		return
	}
	dec, derr := h.Decider.Decide(c.Request.Context(), req, h.cookieSID(c))
	if derr != nil {
		h.refuse(c, req, derr)
		return
	}
	h.logout(c, req, dec)
}

// params returns the request's parameters: the query for GET, the form
// body for POST. A query or a body it cannot read whole is refused, not
// read in part (a state lost on the way).
func (h *handler) params(c *gin.Context) (url.Values, bool) {
	if c.Request.Method != http.MethodPost {
		v, err := url.ParseQuery(c.Request.URL.RawQuery)
		if err != nil {
			h.fail(c, http.StatusBadRequest, "invalid_request", "the query could not be read: a parameter is not URL-encoded")
			return nil, false
		}
		return v, true
	}
	if !isForm(c.Request) {
		h.fail(c, http.StatusUnsupportedMediaType, "invalid_request", "the request body must be a form (application/x-www-form-urlencoded)")
		return nil, false
	}
	if err := c.Request.ParseForm(); err != nil {
		h.fail(c, http.StatusBadRequest, "invalid_request", "the form body could not be read")
		return nil, false
	}
	return c.Request.PostForm, true
}

// isForm reports whether r's body is a URL-encoded form, or empty.
func isForm(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return r.ContentLength == 0
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// fromOwnPage reports whether a form post may come from signoff's own
// page, as the browser says: Sec-Fetch-Site same-origin when it sends the
// header (a sibling subdomain is same-site, and could have planted a CSRF
// cookie of its own over plain http), otherwise an Origin that is the
// public URL's, or none, or "null" (the pages' no-referrer policy makes a
// browser without Sec-Fetch-Site send that).
func (h *handler) fromOwnPage(c *gin.Context) bool {
	if site := c.GetHeader("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	o := c.GetHeader("Origin")
	return o == "" || o == "null" || o == pages.Origin(h.Config.PublicBaseURL())
}

func (h *handler) cookieSID(c *gin.Context) string {
	if h.Config.SessionCookie == "" {
		return ""
	}
	v, ok := cookie(c, h.Config.SessionCookie)
	if !ok || len(v) > 255 {
		return ""
	}
	// Some IdPs' frameworks (Express, ASP.NET Core, PHP) percent-encode a
	// cookie's value: unless the index knows the sid as sent, the decoded
	// value is the sid (a sid with a '%' of its own is rare; encoded base64
	// ones are not).
	if strings.Contains(v, "%") {
		if d, err := url.PathUnescape(v); err == nil && d != v {
			if _, known := h.Index.Session(v); !known {
				return d
			}
		}
	}
	return v
}

// cookie returns the value of the request's cookie name as the browser
// sent it. (gin's Context.Cookie decodes it as a query: a sid with '+'
// or '%' would be another one.)
func cookie(c *gin.Context, name string) (string, bool) {
	ck, err := c.Request.Cookie(name)
	if err != nil {
		return "", false
	}
	return ck.Value, true
}

// refuse answers an invalid request: 400, never a redirect (RIL-31).
func (h *handler) refuse(c *gin.Context, req endsession.Request, e *endsession.Error) {
	h.Logger.Info("end-session request refused", "request_id", reqID(c), "reason", e.Description)
	if wantsJSON(c) {
		problem(c, e.Status, e.Code, e.Description)
		return
	}
	h.Pages.Render(c.Writer, e.Status, pages.Error, pages.Data{
		Lang: h.lang(c, req.UILocales), Message: e.Description, RequestID: reqID(c),
	})
}

func (h *handler) askConfirmation(c *gin.Context, req endsession.Request, dec *endsession.Decision) {
	var hidden []pages.Field
	vals := req.Values()
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		hidden = append(hidden, pages.Field{Name: k, Value: vals.Get(k)})
	}
	d := pages.Data{
		Lang: h.lang(c, req.UILocales), Action: ConfirmPath, CSRF: h.issueCSRF(c),
		Hidden: hidden, Suspect: dec.Suspect,
	}
	if dec.Client != nil {
		d.ClientName = dec.Client.DisplayName()
	}
	if o := pages.Source(dec.Redirect); o != "" {
		d.FormTargets = append(d.FormTargets, o)
	}
	if o := pages.Origin(h.Config.Logout.SignedOutURL); o != "" {
		d.FormTargets = append(d.FormTargets, o)
	}
	h.Pages.Render(c.Writer, http.StatusOK, pages.Confirm, d)
}
