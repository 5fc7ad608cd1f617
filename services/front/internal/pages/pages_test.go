package pages

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLang(t *testing.T) {
	tests := []struct{ ui, accept, want string }{
		{"", "", "en"},
		{"de", "", "de"},
		{"fr-CA en", "", "fr"},
		{"xx-unknown", "", "en"},
		{"x!!! de", "", "de"},
		{"", "de-DE,de;q=0.9", "de"},
		{"fr", "de", "fr"},
		{"zz", "de", "de"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, Lang(tc.ui, tc.accept), "ui_locales=%q accept=%q", tc.ui, tc.accept)
	}
}

func TestEveryLanguageHasEveryText(t *testing.T) {
	for lang, m := range messages {
		for key := range messages["en"] {
			assert.NotEmpty(t, m[key], "%s lacks %s", lang, key)
		}
	}
}

func TestRenderEscapesAndSetsHeaders(t *testing.T) {
	r, err := New()
	require.NoError(t, err)
	for name := range titles {
		rec := httptest.NewRecorder()
		r.Render(rec, 400, name, Data{Lang: "de", Message: `<script>alert(1)</script>`, ClientName: `<b>x</b>`,
			Hidden: []Field{{"state", `"><script>`}}, Apps: []string{"<i>app</i>"}})
		body := rec.Body.String()
		assert.Equal(t, 400, rec.Code)
		assert.NotContains(t, body, "<script>", name)
		assert.NotContains(t, body, "<b>x</b>", name)
		assert.NotContains(t, body, "<i>app</i>", name)
		assert.Contains(t, body, `lang="de"`)
		h := rec.Header()
		assert.Equal(t, "no-store", h.Get("Cache-Control"))
		csp := h.Get("Content-Security-Policy")
		assert.Contains(t, csp, "frame-ancestors 'none'")
		assert.Contains(t, csp, "default-src 'none'")
		nonce := strings.TrimSuffix(strings.SplitN(strings.SplitN(csp, "'nonce-", 2)[1], "'", 2)[0], "'")
		assert.Contains(t, body, `nonce="`+nonce+`"`)
	}
}

func TestFrontChannelPage(t *testing.T) {
	r, err := New()
	require.NoError(t, err)

	t.Run("continues: meta refresh, link and data attribute, escaped for each", func(t *testing.T) {
		rec := httptest.NewRecorder()
		next := `https://rp.example.com/bye?a=1&state=%22%3C%26%3E%27`
		r.Render(rec, 200, FrontChannel, Data{Lang: "fr", Continue: next, FrameTimeout: 2100 * time.Millisecond,
			Frames: []Frame{{Src: "https://rp.example.com/fc?x=1&iss=i&sid=s"}, {Src: "http://127.0.0.1:9000/fc"},
				{Src: "https://rp.example.com/other"}}})
		body := rec.Body.String()
		const esc = `https://rp.example.com/bye?a=1&amp;state=%22%3C%26%3E%27`
		assert.Contains(t, body, `<meta http-equiv="refresh" content="3;url=`+esc+`">`)
		assert.Contains(t, body, `<a href="`+esc+`">Continuer</a>`)
		assert.Contains(t, body, `data-continue="`+esc+`" data-timeout-ms="2100"`)
		assert.Contains(t, body, `<iframe src="https://rp.example.com/fc?x=1&amp;iss=i&amp;sid=s"`)
		assert.Contains(t, body, "<title>Déconnexion en cours</title>")
		csp := rec.Header().Get("Content-Security-Policy")
		assert.Contains(t, csp, "; frame-src http://127.0.0.1:9000 https://rp.example.com;")
		nonce := strings.SplitN(strings.SplitN(csp, "script-src 'nonce-", 2)[1], "'", 2)[0]
		assert.Contains(t, body, `<script nonce="`+nonce+`">`)
	})

	t.Run("a native app's redirect uri is kept", func(t *testing.T) {
		rec := httptest.NewRecorder()
		r.Render(rec, 200, FrontChannel, Data{Continue: "com.example.app:/logout?state=n", FrameTimeout: time.Second,
			Frames: []Frame{{Src: "https://rp.example.com/fc"}}})
		body := rec.Body.String()
		assert.Contains(t, body, `content="1;url=com.example.app:/logout?state=n"`)
		assert.NotContains(t, body, "ZgotmplZ")
	})

	t.Run("nowhere to continue: the signed-out page with iframes", func(t *testing.T) {
		rec := httptest.NewRecorder()
		r.Render(rec, 200, FrontChannel, Data{Apps: []string{"App"}, FrameTimeout: time.Second,
			Frames: []Frame{{Src: "https://rp.example.com/fc"}}})
		body := rec.Body.String()
		assert.NotContains(t, body, `http-equiv="refresh"`)
		assert.Contains(t, body, `data-continue=""`)
		assert.Contains(t, body, "<title>You are signed out</title>")
		assert.Contains(t, body, "<li>App</li>")
	})
}

func TestRefreshSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{
		time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 3 * time.Second: 3, 0: 1,
	} {
		assert.Equal(t, want, Data{FrameTimeout: d}.RefreshSeconds(), d)
	}
}

func TestSource(t *testing.T) {
	for raw, want := range map[string]string{
		"https://app.example.com/x?y=1": "https://app.example.com",
		"http://127.0.0.1:9001/done":    "http://127.0.0.1:9001",
		"com.example.app1:/logout":      "com.example.app1:",
		"javascript:alert(1)":           "",
		"":                              "",
	} {
		assert.Equal(t, want, Source(raw), raw)
	}
}
