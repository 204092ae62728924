package catalog

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzFillKeepsHostAndPath: whatever the value, Fill either refuses it or returns the
// template with the placeholder replaced by the value itself, whose host and path differ
// from the template's only there.
func FuzzFillKeepsHostAndPath(f *testing.F) {
	for _, v := range hostile {
		f.Add(v)
	}
	f.Add("acme")
	e := &Entry{Name: "f", Params: []Param{{Name: "v", Description: "d", Pattern: `^.*$`, Where: []string{PartHost, PartPath}}}}
	f.Fuzz(func(t *testing.T, v string) {
		for _, tmpl := range []string{"https://{v}.example.com/a/b", "https://login.example.com/a/{v}/b", "https://login.example.com/a/x{v}y"} {
			got, err := e.Fill(Template{tmpl}, map[string]string{"v": v})
			if err != nil {
				continue
			}
			u, perr := url.Parse(got)
			if perr != nil || got != strings.Replace(tmpl, "{v}", v, 1) || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				t.Fatalf("%s with %q gave %q", tmpl, v, got)
			}
			if !strings.HasSuffix(u.Host, ".example.com") || strings.Count(u.Path, "/") != strings.Count(tmpl, "/")-2 || strings.Contains(v, "..") {
				t.Fatalf("%s with %q moved the URL: %q", tmpl, v, got)
			}
		}
	})
}
