package authorize

import (
	"net/http"

	"github.com/authconnection/terraform-provider-tailor/internal/web"
)

// page is what the browser shows at the end of the flow.
type page struct {
	status  int
	title   string
	message string
}

// writePage renders p in tokend's layout, with its security headers (web.RenderPage): the
// page has no form, so forms may post nowhere and no referrer leaves it.
func writePage(w http.ResponseWriter, p page) {
	m := web.Message{OK: p.status == http.StatusOK, Title: p.title, Text: p.message}
	if !m.OK {
		m.Next = "The terminal where tokend authorize runs shows the same message."
	}
	web.RenderPage(w, p.status, web.MessagePage, m, web.Page{NoForms: true})
}
