package rp

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

// parsePages parses the app's pages, each with the layout. The templates
// are embedded, so an error is a bug.
func parsePages() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"home", "signed_out", "error", "frontchannel"} {
		m[name] = template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return m
}

// render writes page name with data and status. Every page gets the app's
// name as .App.
func (a *App) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	data["App"] = a.cfg.Name
	data["ClientID"] = a.cfg.ClientID
	var buf bytes.Buffer
	if err := a.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		a.log.Error("rendering page failed", "page", name, "error", err)
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if h.Get("Content-Security-Policy") == "" {
		// No form-action: the sign-out form's redirect goes to signoff.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows an error page.
func (a *App) fail(w http.ResponseWriter, status int, problem string) {
	a.render(w, status, "error", map[string]any{"Problem": problem})
}
