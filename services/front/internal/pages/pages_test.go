package pages

import (
	"net/http/httptest"
	"strings"
	"testing"

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
