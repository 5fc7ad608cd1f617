// Package pages renders the front's HTML pages: confirmation, signed-out,
// still-signed-in, error and unavailable pages, in English, German and
// French. Every page is served with a strict Content-Security-Policy (a
// nonce for its inline style and script, frame-ancestors 'none'),
// Cache-Control: no-store and no referrer.
package pages

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var files embed.FS

// Name of a page.
type Name string

// The pages.
const (
	Confirm     Name = "confirm"
	SignedOut   Name = "signedout"
	Stay        Name = "stay"
	Error       Name = "error"
	Unavailable Name = "unavailable"
)

var titles = map[Name]string{
	Confirm: "confirm.title", SignedOut: "signedout.title", Stay: "stay.title",
	Error: "error.title", Unavailable: "unavailable.title",
}

// Field is a hidden form field.
type Field struct{ Name, Value string }

// Data is what a page shows. Each page reads the fields it needs; every
// value is escaped by html/template for its context.
type Data struct {
	Lang      string
	RequestID string

	// Confirm page.
	Action     string
	CSRF       string
	Hidden     []Field
	ClientName string
	Suspect    bool
	// FormTargets are origins the confirmation form may end at after its
	// redirect (CSP form-action also governs redirects after a POST).
	FormTargets []string

	// Signed-out page.
	Apps    []string
	Pending []string

	// Error page.
	Message string

	// Set by Render.
	Nonce    string
	TitleKey string
}

// Renderer renders pages. It is safe for concurrent use.
type Renderer struct {
	tmpl map[Name]*template.Template
}

// New parses the templates.
func New() (*Renderer, error) {
	funcs := template.FuncMap{"t": T}
	r := &Renderer{tmpl: map[Name]*template.Template{}}
	for name := range titles {
		t, err := template.New("layout").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+string(name)+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing page %s: %w", name, err)
		}
		r.tmpl[name] = t
	}
	return r, nil
}

// Render writes page name with status.
func (r *Renderer) Render(w http.ResponseWriter, status int, name Name, d Data) {
	d.Nonce = nonce()
	d.TitleKey = titles[name]
	if d.Lang == "" {
		d.Lang = "en"
	}
	var buf bytes.Buffer
	if err := r.tmpl[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		http.Error(w, "internal error rendering page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp(d))
	SetNoStore(h)
	h.Set("Content-Language", d.Lang)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func csp(d Data) string {
	formAction := "'self'"
	if len(d.FormTargets) > 0 {
		formAction += " " + strings.Join(d.FormTargets, " ")
	}
	return "default-src 'none'; style-src 'nonce-" + d.Nonce + "'; form-action " + formAction +
		"; frame-ancestors 'none'; base-uri 'none'"
}

// SetNoStore marks a response as never to be cached or framed, with no
// referrer: every response of the end-session endpoint carries this.
func SetNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
