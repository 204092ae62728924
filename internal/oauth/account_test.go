package oauth

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

func testIDToken(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(b) + ".sig"
}

func presetNamed(t *testing.T, name string) *Preset {
	t.Helper()
	for _, p := range Presets {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no preset %q", name)
	return nil
}

func TestAccountComesFromThePresetsClaimsAndCallbackValues(t *testing.T) {
	idt := testIDToken(t, map[string]any{"iss": "https://login.microsoftonline.com/t1/v2.0", "sub": "user-1", "tid": "t1", "oid": "o1"})
	tok := &Token{AccessToken: "at", Extra: map[string]any{"id_token": idt}}
	cases := []struct {
		name   string
		p      *Provider
		tok    *Token
		extras map[string]string
		want   *authconn.Account
	}{
		{"generic", &Provider{}, tok, map[string]string{"realmId": "ignored"}, &authconn.Account{Issuer: "https://login.microsoftonline.com/t1/v2.0", Subject: "user-1"}},
		{"microsoft", &Provider{Preset: presetNamed(t, "microsoft")}, tok, nil, &authconn.Account{Issuer: "https://login.microsoftonline.com/t1/v2.0", Subject: "user-1", Tenant: "t1"}},
		{"quickbooks without id token", &Provider{Preset: presetNamed(t, "quickbooks")}, &Token{AccessToken: "at"}, map[string]string{"realmId": "9130"}, &authconn.Account{Realm: "9130"}},
		{"nothing said", &Provider{Preset: presetNamed(t, "github")}, &Token{AccessToken: "at"}, nil, nil},
		{"garbage id token", &Provider{}, &Token{Extra: map[string]any{"id_token": "not-a-jwt"}}, nil, nil},
	}
	for _, c := range cases {
		got := c.p.Account(c.tok, c.extras)
		if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("%s: Account = %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestAccountFieldsAreSanitizedAndBounded(t *testing.T) {
	long := make([]byte, 1000)
	for i := range long {
		long[i] = 'a'
	}
	idt := testIDToken(t, map[string]any{"iss": "https://idp.example.com", "sub": "evil\x1b[31m" + string(long)})
	got := (&Provider{}).Account(&Token{Extra: map[string]any{"id_token": idt}}, nil)
	if got == nil || len(got.Subject) > maxAccountField+len("…") || got.Subject[4] != ' ' {
		t.Fatalf("subject not sanitized or bounded: %q", got)
	}
}

func TestAccountIssuerSpellingsOfOnePresetCompareEqual(t *testing.T) {
	p := &Provider{Preset: presetNamed(t, "google"), Endpoints: Endpoints{Issuer: "https://accounts.google.com"}}
	a := p.Account(&Token{Extra: map[string]any{"id_token": testIDToken(t, map[string]any{"iss": "accounts.google.com", "sub": "1"})}}, nil)
	b := p.Account(&Token{Extra: map[string]any{"id_token": testIDToken(t, map[string]any{"iss": "https://accounts.google.com", "sub": "1"})}}, nil)
	if a == nil || b == nil || *a != *b {
		t.Fatalf("%+v != %+v", a, b)
	}
}
