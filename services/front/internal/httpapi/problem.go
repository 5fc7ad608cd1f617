package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/signoff/signoff/services/front/internal/pages"
)

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	Code      string `json:"error,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// wantsJSON reports whether the caller asked for JSON rather than a page:
// API paths always, and requests whose Accept names JSON but not HTML.
func wantsJSON(c *gin.Context) bool {
	if strings.HasPrefix(c.Request.URL.Path, "/api/") {
		return true
	}
	accept := c.GetHeader("Accept")
	return strings.Contains(accept, "json") && !strings.Contains(accept, "text/html")
}

// problem writes problem JSON.
func problem(c *gin.Context, status int, code, detail string) {
	pages.SetNoStore(c.Writer.Header())
	// Set first: gin keeps a Content-Type that is already there.
	c.Header("Content-Type", "application/problem+json")
	c.JSON(status, Problem{
		Type: "about:blank", Title: http.StatusText(status), Status: status,
		Detail: detail, Code: code, RequestID: reqID(c),
	})
}

// fail answers an error as problem JSON or as an HTML page.
func (h *handler) fail(c *gin.Context, status int, code, detail string) {
	if wantsJSON(c) {
		problem(c, status, code, detail)
		return
	}
	name := pages.Error
	if status == http.StatusServiceUnavailable {
		name = pages.Unavailable
	}
	h.Pages.Render(c.Writer, status, name, pages.Data{
		Lang: h.lang(c, ""), Message: detail, RequestID: reqID(c),
	})
}

func (h *handler) lang(c *gin.Context, uiLocales string) string {
	return pages.Lang(uiLocales, c.GetHeader("Accept-Language"))
}
