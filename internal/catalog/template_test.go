package catalog

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// testEntry declares one parameter per URL part.
func testEntry() *Entry {
	return &Entry{Name: "t", Params: []Param{
		{Name: "subdomain", Description: "d", Pattern: `^[a-z0-9][a-z0-9-]{0,62}$`, Where: []string{PartHost}},
		{Name: "tenant", Description: "d", Pattern: `^.{1,300}$`, Where: []string{PartPath}},
		{Name: "loose", Description: "d", Pattern: `^.*$`, Where: []string{PartHost, PartPath, PartQuery}},
		{Name: "origin", Description: "d", Pattern: `^https://[a-z0-9.-]+\.example\.com$`, Where: []string{PartOrigin}},
		{Name: "region", Description: "d", Pattern: `^(eu|us)$`, Default: "us", Where: []string{PartHost}},
	}}
}

var hostile = []string{"evil.com/", "evil.com", "a@b", "..", ".", "%2f", "%2F..", "a/b", "a\\b", "a?x=1", "a#frag",
	"ｅｖｉｌ．com", "evil\u3002com", "a\u2024b", "", strings.Repeat("a", 300), "a b", "a:443", "A", "-a", "a\x00", "😀"}

// TestFillRefusesHostileValues: a value can never move the URL to another host or path; it
// is refused, or (in a query) escaped.
func TestFillRefusesHostileValues(t *testing.T) {
	e := testEntry()
	for _, tmpl := range []string{"https://{subdomain}.zendesk.com/oauth/tokens", "https://{loose}.zendesk.com/oauth/tokens",
		"https://login.example.com/{tenant}/oauth2/token", "https://login.example.com/{loose}/oauth2/token",
		"https://login.example.com/a/{loose}-x/b"} {
		name := Placeholders(tmpl)[0]
		for _, v := range hostile {
			got, err := e.Fill(Template{tmpl}, map[string]string{name: v})
			if err != nil {
				var pe *ParamError
				if !errors.As(err, &pe) || len(v) > 2 && strings.Contains(err.Error(), v) {
					t.Errorf("%s with %q: error %v is not a ParamError without the value", tmpl, v, err)
				}
				continue
			}
			assertShape(t, tmpl, got, v)
		}
	}
}

// assertShape fails unless got is tmpl with its one placeholder replaced by v exactly.
func assertShape(t *testing.T, tmpl, got, v string) {
	t.Helper()
	want := placeholderRE.ReplaceAllString(tmpl, v)
	u, err := url.Parse(got)
	if err != nil || got != want || u.Host != strings.Split(strings.TrimPrefix(want, "https://"), "/")[0] {
		t.Errorf("%s with %q gave %q", tmpl, v, got)
	}
	if strings.ContainsAny(v, "/@?#%\\ ") || strings.Contains(v, "..") || v == "" {
		t.Errorf("%s: hostile %q was accepted: %q", tmpl, v, got)
	}
}

func TestFillAcceptsDeclaredValues(t *testing.T) {
	e := testEntry()
	for tmpl, vals := range map[string]map[string]string{
		"https://acme.zendesk.com/oauth":                        {"subdomain": "acme"},
		"https://login.example.com/contoso.onmicrosoft.com/x":   {"tenant": "contoso.onmicrosoft.com"},
		"https://na1.example.com/services/data":                 {"origin": "https://na1.example.com"},
		"https://us.api.example.com/v1?q=a%26b%3Dc%2F%2F..%23x": {"loose": "a&b=c//..#x"},
	} {
		var tpl string
		switch {
		case vals["subdomain"] != "":
			tpl = "https://{subdomain}.zendesk.com/oauth"
		case vals["tenant"] != "":
			tpl = "https://login.example.com/{tenant}/x"
		case vals["origin"] != "":
			tpl = "{origin}/services/data"
		default:
			tpl = "https://{region}.api.example.com/v1?q={loose}"
		}
		got, err := e.Fill(Template{tpl}, vals)
		if err != nil || got != tmpl {
			t.Errorf("%s with %v: %q, %v; want %q", tpl, vals, got, err, tmpl)
		}
	}
}

// TestFillOriginRefusesHostileOrigins: an origin parameter is a bare https origin.
func TestFillOriginRefusesHostileOrigins(t *testing.T) {
	e := testEntry()
	for _, v := range []string{"https://evil.com", "http://na1.example.com", "https://na1.example.com/", "https://a@na1.example.com",
		"https://na1.example.com/../x", "https://evil.com#.example.com", "https://evil.com?.example.com", "https://evil.com\\.example.com",
		"https://na1.example.com:99999x", "javascript:alert(1)//.example.com", ""} {
		if got, err := e.Fill(Template{"{origin}/services/data"}, map[string]string{"origin": v}); err == nil {
			t.Errorf("origin %q accepted: %q", v, got)
		}
	}
}

// TestFillFallbacks: the first alternative whose placeholders have values wins; a refused
// value is an error, never a fallback; defaults count as values.
func TestFillFallbacks(t *testing.T) {
	e := testEntry()
	tmpl := Template{"https://{subdomain}.example.com/token", "https://login.example.com/token"}
	if got, _ := e.Fill(tmpl, nil); got != "https://login.example.com/token" {
		t.Errorf("fallback: %q", got)
	}
	if got, _ := e.Fill(tmpl, map[string]string{"subdomain": "acme"}); got != "https://acme.example.com/token" {
		t.Errorf("first: %q", got)
	}
	if got, err := e.Fill(tmpl, map[string]string{"subdomain": "evil.com/"}); err == nil {
		t.Errorf("a refused value fell back to %q", got)
	}
	if got, _ := e.Fill(Template{"https://{region}.example.com"}, nil); got != "https://us.example.com" {
		t.Errorf("default: %q", got)
	}
	if _, err := e.Fill(Template{"https://{subdomain}.example.com"}, nil); err == nil {
		t.Error("a missing value without default must be an error")
	}
}

// TestFillRefusesUndeclaredPlacesAndNames: a parameter only goes where its entry says.
func TestFillRefusesUndeclaredPlacesAndNames(t *testing.T) {
	e := testEntry()
	for _, tmpl := range []string{"https://login.example.com/{subdomain}", "https://{tenant}.example.com", "https://x.example.com/{nope}", "{subdomain}/x"} {
		name := Placeholders(tmpl)[0]
		if got, err := e.Fill(Template{tmpl}, map[string]string{name: "abc"}); err == nil {
			t.Errorf("%s accepted: %q", tmpl, got)
		}
	}
}

func TestLookupAndSecretNames(t *testing.T) {
	doc := map[string]any{"team": map[string]any{"id": "T1"}, "items": []any{map[string]any{"tenantId": "x"}}, "n": 3.0}
	for path, want := range map[string]string{"team.id": "T1", "items.0.tenantId": "x", "n": "3"} {
		v, ok := Lookup(doc, path)
		s, _ := Scalar(v)
		if !ok || s != want {
			t.Errorf("%s: %v", path, v)
		}
	}
	for _, p := range []string{"team.x", "items.1.tenantId", "items.-1", "n.x", "team.id.x"} {
		if _, ok := Lookup(doc, p); ok {
			t.Errorf("%s found", p)
		}
	}
	for _, s := range []string{"access_token", "authed_user.access_token", "refresh_token", "id_token", "client_secret", "x.Password", "SECRET_value", "incoming_webhook.token"} {
		if !IsSecretName(s) {
			t.Errorf("%s must count as a secret name", s)
		}
	}
	for _, s := range []string{"instance_url", "team.id", "realmId", "tenantId", "token_type"} {
		if IsSecretName(s) {
			t.Errorf("%s is not a secret name", s)
		}
	}
}
