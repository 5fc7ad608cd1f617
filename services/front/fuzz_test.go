package front_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzEndSession sends arbitrary parameters to the end-session endpoint
// and asserts the one rule that must never break: no response redirects
// anywhere but to a registered post_logout_redirect_uri of the identified
// client, with nothing but the request's own state added (RIL-22, RIL-31).
func FuzzEndSession(f *testing.F) {
	e := newEnv(f)
	registered := map[string]string{} // uri -> client
	for _, c := range e.cfg.Clients {
		for _, u := range c.PostLogoutRedirectURIs {
			registered[u] = c.ClientID
		}
	}
	e.join("fuzz-sid", "app1", "alice")
	hints := []string{
		"",
		e.hint("app1", "alice", "fuzz-sid", time.Now().Add(24*time.Hour)),
		e.hint("app2", "bob", "fuzz-sid", time.Now().Add(-time.Hour)),
		e.hint("app1", "alice", "", time.Now().Add(24*time.Hour)),
	}
	f.Add(uint8(1), "", "https://app1.example.com/signed-out", "st", "", false, "")
	f.Add(uint8(1), "app1", "https://app1.example.com/bye?from=signoff", "a&b=c", "alice", true, "")
	f.Add(uint8(2), "app2", "https://app2.example.com/done/", "", "", false, "")
	f.Add(uint8(0), "app1", "https://app1.example.com/signed-out", "x", "", false, "")
	f.Add(uint8(0), "", "https://evil.example.com/", "x", "", true, "")
	f.Add(uint8(1), "", "https://app1.example.com/signed-out?foo=bar", "x", "", false, "")
	f.Add(uint8(1), "", "https://app2.example.com/done/", "x", "", false, "")
	f.Add(uint8(9), "", "https://app1.example.com/signed-out", "x", "", false, "eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, hintChoice uint8, clientID, uri, state, logoutHint string, post bool, rawHint string) {
		v := url.Values{}
		hint := rawHint
		if int(hintChoice) < len(hints) {
			hint = hints[hintChoice]
		}
		for k, s := range map[string]string{"id_token_hint": hint, "client_id": clientID,
			"post_logout_redirect_uri": uri, "logout_hint": logoutHint} {
			if s != "" {
				v.Set(k, s)
			}
		}
		if state != "" {
			v.Set("state", state)
		}
		var req *http.Request
		if post {
			req = httptest.NewRequest(http.MethodPost, "/connect/endsession", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(http.MethodGet, "/connect/endsession?"+v.Encode(), nil)
		}
		rec := httptest.NewRecorder()
		e.front.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		loc := rec.Header().Get("Location")
		if rec.Code < 300 || rec.Code > 399 {
			if loc != "" {
				t.Fatalf("status %d with Location %q", rec.Code, loc)
			}
			return
		}
		base, ok := registered[uri]
		if !ok || loc == "" || !strings.HasPrefix(loc, uri) {
			t.Fatalf("redirect to %q for requested %q (client %q)", loc, uri, base)
		}
		rest := loc[len(uri):]
		want := ""
		if state != "" {
			sep := "?"
			if strings.Contains(uri, "?") {
				sep = "&"
			}
			want = sep + "state=" + url.QueryEscape(state)
		}
		if rest != want {
			t.Fatalf("redirect %q adds %q, want %q", loc, rest, want)
		}
	})
}
