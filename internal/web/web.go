// Package web renders the HTML pages that tokend shows to people (tokend serve's connect
// pages and status page, and the loopback result page of `tokend authorize`): one layout,
// html/template escaping, and the security headers every page gets. It knows nothing of
// connections or Vault.
package web

import (
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
)

// layout frames every page; a page template defines "title" and "content".
const layout = `{{define "layout"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>tokend: {{template "title" .}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:64em;margin:2em auto;padding:0 1em;line-height:1.5;color:#1b1b1b}
h1{font-size:1.4em}.ok{color:#176117}.fail{color:#a31515}.warn{color:#8a5a00}
table{border-collapse:collapse;width:100%;font-size:.92em}th,td{text-align:left;padding:.35em .5em;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f4f4f4}.nowrap{white-space:nowrap}code,.mono{font-family:ui-monospace,monospace;font-size:.9em}
form.inline{display:inline}button{font:inherit;padding:.2em .7em;cursor:pointer}
.box{border:1px solid #ccc;border-radius:4px;padding:.8em 1em;background:#fafafa;word-break:break-all}
nav{display:flex;justify-content:space-between;align-items:center;border-bottom:1px solid #ddd;margin-bottom:1em}
</style></head>
<body>{{template "content" .}}</body></html>{{end}}`

// Parse returns the page template src (defining "title" and "content") inside the layout.
func Parse(name, src string) *template.Template {
	return template.Must(template.Must(template.New(name).Parse(layout)).Parse(src))
}

// Nonce returns a fresh nonce for an inline script of one response.
func Nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

// Page holds the per-response options of RenderPage.
type Page struct {
	// Nonce, when set, allows the page's inline scripts that carry it.
	Nonce string
	// ToProvider: a form of the page is answered with a redirect to a provider's
	// authorization endpoint (the connect page, the status page's "Authorize now"). Browsers
	// apply form-action to the redirects that follow a form submission too, so such a page
	// allows, beside tokend itself, exactly the URLs an auth_url may have
	// (authconn.ValidateURL): https, and http on loopback.
	ToProvider bool
	// NoForms: the page has no form (the loopback result page of `tokend authorize`), so
	// forms may post nowhere (form-action 'none') and no referrer is sent at all; a
	// same-origin referrer is there only for the Origin check of form posts.
	NoForms bool
}

// FormActionSelf, FormActionProvider and FormActionNone are the form-action directives of
// the content security policy: forms post only to tokend, or also to a provider
// (Page.ToProvider), or nowhere (Page.NoForms).
const (
	FormActionSelf     = "form-action 'self'"
	FormActionProvider = "form-action 'self' https: http://localhost:* http://127.0.0.1:*"
	FormActionNone     = "form-action 'none'"
)

// Render writes the page t with data and status (RenderPage with only a nonce).
func Render(w http.ResponseWriter, status int, t *template.Template, data any, nonce string) {
	RenderPage(w, status, t, data, Page{Nonce: nonce})
}

// RenderPage writes the page t with data and status, with headers that keep it out of
// caches, frames and other origins' reach: a referrer only to tokend itself, no sniffing, a
// content security policy that allows only inline styles, forms that post to tokend (and,
// with p.ToProvider, on to a provider) and, when p.Nonce is set, the inline scripts that
// carry it.
func RenderPage(w http.ResponseWriter, status int, t *template.Template, data any, p Page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form
	// posts, and the status page checks Origin. A URL never leaves tokend either way (and a
	// connect link's token, in the fragment, is never part of a referrer).
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	csp := "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'; "
	switch {
	case p.NoForms:
		h.Set("Referrer-Policy", "no-referrer")
		csp += FormActionNone
	case p.ToProvider:
		csp += FormActionProvider
	default:
		csp += FormActionSelf
	}
	if p.Nonce != "" {
		csp += "; script-src 'nonce-" + p.Nonce + "'"
	}
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", data); err != nil {
		slog.Warn("rendering a page failed", "page", t.Name(), "error", err)
	}
}

// Message is the data of a plain message page.
type Message struct {
	OK    bool
	Title string
	Text  string
	// Next is an optional hint of what to do next.
	Next string
}

// MessagePage renders a Message.
var MessagePage = Parse("message", `{{define "title"}}{{.Title}}{{end}}
{{define "content"}}<h1 id="result" class="{{if .OK}}ok{{else}}fail{{end}}">{{.Title}}</h1>
<p id="message">{{.Text}}</p>{{if .Next}}<p id="next">{{.Next}}</p>{{end}}{{end}}`)

// ShowMessage renders m with status.
func ShowMessage(w http.ResponseWriter, status int, m Message) {
	m.OK = status < 300
	Render(w, status, MessagePage, m, "")
}
