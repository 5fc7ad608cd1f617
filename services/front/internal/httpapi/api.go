package httpapi

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/signoff/signoff/services/front/internal/sessions"
	"github.com/signoff/signoff/shared/event"
)

// authenticate admits requests with Authorization: Bearer <api.token>. An
// empty api.token disables the API: every call is refused.
func (h *handler) authenticate(c *gin.Context) {
	token := h.Config.API.Token
	// The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
	scheme, got, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	ok = ok && strings.EqualFold(scheme, "Bearer")
	if token == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="signoff"`)
		detail := "a valid bearer token is required"
		if token == "" {
			detail = "the API is disabled: set api.token"
		}
		problem(c, http.StatusUnauthorized, "unauthorized", detail)
		c.Abort()
		return
	}
	c.Next()
}

// putParticipation records that a client took part in a session:
// PUT /api/v1/sessions/{sid}/clients/{client_id} {"sub": "..."}.
func (h *handler) putParticipation(c *gin.Context) {
	var body struct {
		Sub string `json:"sub"`
	}
	data, err := io.ReadAll(c.Request.Body)
	if err == nil {
		err = decodeObject(data, &body, "sub")
	}
	if err != nil {
		problem(c, http.StatusBadRequest, "invalid_request", "body must be JSON {\"sub\": \"...\"}: "+err.Error())
		return
	}
	j := &event.Joined{SID: pathParam(c, "sid"), ClientID: pathParam(c, "client_id"), Sub: body.Sub}
	err = h.Sessions.Join(c.Request.Context(), j)
	switch {
	case err == nil:
		c.Status(http.StatusNoContent)
	case errors.Is(err, event.ErrInvalid):
		problem(c, http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, sessions.ErrUnknownClient):
		problem(c, http.StatusBadRequest, "invalid_client", "client_id "+quoteID(j.ClientID)+" is not a registered client")
	case errors.Is(err, sessions.ErrSessionEnded):
		problem(c, http.StatusConflict, "session_ended", "the session has ended; a new login has a new sid")
	case errors.Is(err, sessions.ErrTooManyClients):
		problem(c, http.StatusConflict, "too_many_clients", err.Error())
	default:
		h.Logger.Error("recording participation", "request_id", reqID(c), "err", err)
		problem(c, http.StatusServiceUnavailable, "unavailable", "the participation could not be recorded; retry")
	}
}

// getSession shows a session, its clients and its deliveries.
func (h *handler) getSession(c *gin.Context) {
	s, ok := h.Index.Session(pathParam(c, "sid"))
	if !ok {
		problem(c, http.StatusNotFound, "not_found", "no such session")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, s)
}

func quoteID(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// decodeObject decodes data, one JSON object, into v. Unlike json.Unmarshal
// it refuses what it would read otherwise than the sender meant: bytes that
// are not UTF-8 (they would become U+FFFD), a key given twice (the last one
// would win) and one of fields spelled in another case (it would match).
func decodeObject(data []byte, v any, fields ...string) error {
	if !utf8.Valid(data) {
		return errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("not a JSON object")
		}
		key := tok.(string) // json.Decoder.Token: object keys are strings
		if seen[key] {
			return fmt.Errorf("key %s given twice", quoteID(key))
		}
		seen[key] = true
		if slices.ContainsFunc(fields, func(f string) bool { return f != key && strings.EqualFold(f, key) }) {
			return fmt.Errorf("unknown key %s (keys are case-sensitive)", quoteID(key))
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return errors.New("not a JSON object")
		}
	}
	if _, err := dec.Token(); err != nil {
		return errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("bad value: %w", err)
	}
	return nil
}
