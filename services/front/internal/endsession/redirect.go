package endsession

import (
	"net/url"
	"strings"
)

// RedirectTo returns the URI to send the browser to: the registered
// post_logout_redirect_uri exactly as registered, with state appended when
// the request carried one, and nothing else added (RIL-27..30).
func RedirectTo(registered string, state string, hasState bool) string {
	if !hasState {
		return registered
	}
	return WithQuery(registered, "state="+url.QueryEscape(state))
}

// WithQuery appends params (already encoded) to a registered URI and keeps
// the query it has: joined with '?' or '&', whichever fits (RIL-30, FCL-12).
func WithQuery(registered, params string) string {
	sep := "?"
	switch {
	case strings.HasSuffix(registered, "?"), strings.HasSuffix(registered, "&"):
		sep = ""
	case strings.Contains(registered, "?"):
		sep = "&"
	}
	return registered + sep + params
}
