package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
)

const requestIDHeader = "X-Request-ID"

type ctxKey string

const requestIDKey ctxKey = "request_id"

// requestID takes a sane X-Request-ID from the caller or makes one, and
// echoes it.
func (h *handler) requestID(c *gin.Context) {
	id := c.GetHeader(requestIDHeader)
	if !saneID(id) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Set(string(requestIDKey), id)
	c.Header(requestIDHeader, id)
	c.Next()
}

func saneID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func reqID(c *gin.Context) string { return c.GetString(string(requestIDKey)) }

// accessLog logs one line per request, without the query: it may carry an
// id_token_hint. Probes (/healthz, /readyz) are logged at debug, whatever
// their status: a /readyz that answers 503 while the index is rebuilt is
// no error, and at a probe every few seconds their lines would bury the
// others. So are scrapes of /metrics that succeed; a refused or failed
// one is not (a wrong token, a guessed one).
func (h *handler) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	level := slog.LevelInfo
	status, path := c.Writer.Status(), c.FullPath()
	switch {
	case path == "/healthz" || path == "/readyz" || path == "/metrics" && status < 400:
		level = slog.LevelDebug
	case status >= 500:
		level = slog.LevelError
	}
	h.Logger.LogAttrs(c.Request.Context(), level, "http request",
		slog.String("request_id", reqID(c)),
		slog.String("method", c.Request.Method),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
	)
}

// recover turns a panic into a 500 page or problem, logged with its stack.
func (h *handler) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.Logger.Error("panic serving request", "request_id", reqID(c), "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
			if !c.Writer.Written() {
				h.fail(c, http.StatusInternalServerError, "server_error", "internal error")
			}
			c.Abort()
		}
	}()
	c.Next()
}

// MaxHeaderBytes bounds a request's line and headers, as the front's
// pages and problems answer it: 431. The HTTP server's own limit
// (http.Server.MaxHeaderBytes) must be above it, or Go's server answers
// first, in plain text.
const MaxHeaderBytes = 32 << 10

// limitHeader answers 431, with a page or a problem, a request whose line
// and headers are over MaxHeaderBytes: mostly a browser with too many
// cookies for the IdP's domain.
func (h *handler) limitHeader(c *gin.Context) {
	r := c.Request
	// Counted as they came: "Name: value\r\n" for every line, Host too
	// (which Go moves out of the map), and the request line.
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len("Host: \r\n") + len(r.Host)
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + len(v) + 4
		}
	}
	if n > MaxHeaderBytes {
		detail := fmt.Sprintf("the request's headers are too large (%d KiB, at most %d)", (n+1023)>>10, MaxHeaderBytes>>10)
		if !wantsJSON(c) {
			detail += ": remove this site's cookies from the browser and try again"
		}
		h.fail(c, http.StatusRequestHeaderFieldsTooLarge, "header_too_large", detail)
		c.Abort()
		return
	}
	c.Next()
}

// limitBody bounds the request body.
func limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	}
	c.Next()
}
