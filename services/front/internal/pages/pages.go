// Package pages renders the front's HTML pages: confirmation, signed-out,
// front-channel logout, still-signed-in, error and unavailable pages, in
// English, German and French. Every page is served with a strict
// Content-Security-Policy (default-src 'none', a nonce for its inline style
// and script, frame-ancestors 'none'), Cache-Control: no-store and no
// referrer.
package pages

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
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
	// FrontChannel loads the front-channel logout iframes, then continues
	// (Front-Channel Logout 1.0 §3).
	FrontChannel Name = "frontchannel"
)

var titles = map[Name]string{
	Confirm: "confirm.title", SignedOut: "signedout.title", Stay: "stay.title",
	Error: "error.title", Unavailable: "unavailable.title", FrontChannel: "fc.title",
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

	// Signed-out page, and the front-channel page when it has nowhere to
	// continue to.
	Apps    []string
	Pending []string

	// Front-channel page. Frames are the iframes: their URLs, iss and sid
	// already added (CSP frame-src allows exactly their origins), and
	// their report tokens. Continue is where
	// the page goes once every iframe has loaded or FrameTimeout has
	// passed: a post_logout_redirect_uri that matched a registration, or
	// the configured signed-out URL, never unchecked input, because the
	// page trusts it as a URL (a native app's custom scheme included). ""
	// means the page stays and shows the signed-out content.
	Frames       []Frame
	Continue     string
	FrameTimeout time.Duration
	// ReportURL is where the page sends the frames' reports (CSP
	// connect-src allows its origin); "" means it reports nothing.
	ReportURL string

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

// Frame is one iframe of the front-channel page.
type Frame struct {
	Src    string // the front-channel logout URI to load
	Name   string // the application(s) it signs out of, for people
	Report string // its report token, "" for none
}

// ContinueURL is Continue as a URL the templates trust (see Continue).
func (d Data) ContinueURL() template.URL { return template.URL(d.Continue) }

// RefreshSeconds is the meta refresh delay: FrameTimeout rounded up to
// whole seconds, at least one.
func (d Data) RefreshSeconds() int64 {
	return max(1, int64((d.FrameTimeout+time.Second-1)/time.Second))
}

// TimeoutMillis is FrameTimeout in milliseconds, for the page's script.
func (d Data) TimeoutMillis() int64 { return max(1, d.FrameTimeout.Milliseconds()) }

// New parses the templates.
func New() (*Renderer, error) {
	funcs := template.FuncMap{"t": T}
	r := &Renderer{tmpl: map[Name]*template.Template{}}
	for name := range titles {
		t, err := template.New("layout").Funcs(funcs).ParseFS(files,
			"templates/layout.html", "templates/parts.html", "templates/"+string(name)+".html")
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
	if name == FrontChannel && d.Continue == "" {
		// It stays: it is the signed-out page, with iframes.
		d.TitleKey = titles[SignedOut]
	}
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

// csp is the page's Content-Security-Policy: nothing but the nonce'd
// inline style, the nonce'd inline script and, on the front-channel page,
// frames from exactly the origins of its iframes (FCL-16).
func csp(d Data) string {
	formAction := "'self'"
	if len(d.FormTargets) > 0 {
		formAction += " " + strings.Join(d.FormTargets, " ")
	}
	p := "default-src 'none'; script-src 'nonce-" + d.Nonce + "'; style-src 'nonce-" + d.Nonce + "'"
	srcs := make([]string, len(d.Frames))
	for i, f := range d.Frames {
		srcs[i] = f.Src
	}
	if o := origins(srcs); len(o) > 0 {
		p += "; frame-src " + strings.Join(o, " ")
	}
	if o := Origin(d.ReportURL); o != "" {
		p += "; connect-src " + o
	}
	return p + "; form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'"
}

// origins returns the sorted, distinct scheme://host[:port] of the http(s)
// URLs in urls, as CSP source expressions.
func origins(urls []string) []string {
	var out []string
	for _, raw := range urls {
		if o := Origin(raw); o != "" && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// Origin returns scheme://host[:port] of an absolute http(s) URL, or ""
// for anything else.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Source is the CSP source that allows raw: its origin for http(s), its
// scheme ("com.example.app:") for a native app's custom scheme.
func Source(raw string) string {
	if o := Origin(raw); o != "" {
		return o
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Scheme == "javascript" || u.Scheme == "data" {
		return ""
	}
	return u.Scheme + ":"
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
