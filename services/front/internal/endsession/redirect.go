package endsession

import (
	"net/url"
	"strings"
)

// RedirectTo returns the URI to send the browser to: the registered
// post_logout_redirect_uri exactly as registered, with state appended when
// the request carried one, and nothing else added (RIL-27..30). A query the
// URI already has is kept, and state joins it with '&'.
func RedirectTo(registered string, state string, hasState bool) string {
	if !hasState {
		return registered
	}
	sep := "?"
	switch {
	case strings.HasSuffix(registered, "?"), strings.HasSuffix(registered, "&"):
		sep = ""
	case strings.Contains(registered, "?"):
		sep = "&"
	}
	return registered + sep + "state=" + url.QueryEscape(state)
}
