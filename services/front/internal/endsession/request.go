package endsession

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Parameter size limits: far above anything legitimate, small enough that
// a request cannot make the front do much work.
const (
	maxHintLen  = 16 << 10
	maxParamLen = 2048
)

// Request holds the end-session parameters (RP-Initiated Logout 1.0 §2).
type Request struct {
	IDTokenHint           string
	LogoutHint            string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
	HasState              bool
	UILocales             string
}

// ParseRequest reads the parameters from a query or a form. A parameter
// given twice is an error, as OAuth 2.0 §3.1 asks of authorization requests.
func ParseRequest(v url.Values) (Request, *Error) {
	var r Request
	// trim: surrounding spaces are dropped. lenient: a value that is not
	// text is ignored, not an error.
	fields := []struct {
		name          string
		dst           *string
		max           int
		trim, lenient bool
	}{
		{name: "id_token_hint", dst: &r.IDTokenHint, max: maxHintLen, trim: true},
		{name: "logout_hint", dst: &r.LogoutHint, max: maxParamLen},
		{name: "client_id", dst: &r.ClientID, max: maxParamLen},
		{name: "post_logout_redirect_uri", dst: &r.PostLogoutRedirectURI, max: maxParamLen},
		{name: "state", dst: &r.State, max: maxParamLen},
		{name: "ui_locales", dst: &r.UILocales, max: maxParamLen, lenient: true}, // RIL-6: no error for the pages' language
	}
	for _, f := range fields {
		vals, ok := v[f.name]
		if !ok {
			continue
		}
		if len(vals) > 1 {
			return r, invalidRequest(f.name + " is given more than once")
		}
		val := vals[0]
		if len(val) > f.max {
			return r, invalidRequest(f.name + " is too long")
		}
		if f.trim {
			val = strings.TrimSpace(val)
		}
		if !text(val) {
			if f.lenient {
				continue
			}
			// It would not come back as it was: the confirmation form
			// changes such values (html/template, browsers), and so does
			// JSON.
			return r, invalidRequest(f.name + " is not text: it is not UTF-8 or holds control characters")
		}
		*f.dst = val
		if f.name == "state" {
			r.HasState = true
		}
	}
	return r, nil
}

// text reports whether s is UTF-8 without control characters.
func text(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// Values returns the request as form values, for the confirmation form to
// send back. Only parameters that were present are included.
func (r Request) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("id_token_hint", r.IDTokenHint)
	set("logout_hint", r.LogoutHint)
	set("client_id", r.ClientID)
	set("post_logout_redirect_uri", r.PostLogoutRedirectURI)
	set("ui_locales", r.UILocales)
	if r.HasState {
		v.Set("state", r.State)
	}
	return v
}

// Error is a request the endpoint refuses: an HTML 400 page for a browser,
// RFC 9457 problem JSON for a client that asks for JSON. Description is
// written for people and never holds unescaped input: renderers escape it.
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func invalidRequest(desc string) *Error {
	return &Error{Status: 400, Code: "invalid_request", Description: desc}
}

// quote shortens untrusted input for a message.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(`"`+s+`"`, "?")
}
