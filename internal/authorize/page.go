package authorize

import (
	"html/template"
	"net/http"
)

// page is what the browser shows at the end of the flow.
type page struct {
	status  int
	title   string
	message string
}

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tokend: {{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;line-height:1.5}
h1{font-size:1.4em}.ok{color:#176117}.fail{color:#a31515}</style></head>
<body><h1 id="result" class="{{if .OK}}ok{{else}}fail{{end}}">{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{if not .OK}}<p>The terminal where <code>tokend authorize</code> runs shows the same message.</p>{{end}}
</body></html>
`))

func writePage(w http.ResponseWriter, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(p.status)
	_ = pageTmpl.Execute(w, struct {
		OK             bool
		Title, Message string
	}{p.status == http.StatusOK, p.title, p.message})
}
