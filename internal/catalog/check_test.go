package catalog

import (
	"errors"
	"strings"
	"testing"
)

func entryNamed(t *testing.T, name string) *Entry {
	t.Helper()
	entries, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no entry %s", name)
	return nil
}

func TestCheckValues(t *testing.T) {
	sf, ms, generic := entryNamed(t, "salesforce"), entryNamed(t, "microsoft"), entryNamed(t, GenericName)
	for _, tc := range []struct {
		e      *Entry
		values map[string]string
		want   string // "" accepts
	}{
		{sf, nil, ""},
		{sf, map[string]string{"hostname": "acme.my.salesforce.com"}, ""},
		{ms, map[string]string{"tenant": "contoso.onmicrosoft.com"}, ""},
		{sf, map[string]string{"hostname": "evil.example/x"}, "salesforce: parameter hostname: does not match ^[a-z0-9]"},
		{sf, map[string]string{"hostname": "evil.example#.salesforce.com"}, "parameter hostname: does not match"},
		{sf, map[string]string{"hostname": ""}, "parameter hostname: empty"},
		{sf, map[string]string{"subdomain": "acme"}, "salesforce: parameter subdomain: not declared by the entry; its parameters are hostname, instance_url"},
		{ms, map[string]string{"tenant": "../evil"}, "microsoft: parameter tenant: does not match"},
		{generic, map[string]string{"tenant": "x"}, "oidc: parameter tenant: not declared by the entry; it takes no parameters"},
	} {
		err := tc.e.CheckValues(tc.values)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %v: %v", tc.e.Name, tc.values, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %v: got %v, want %q", tc.e.Name, tc.values, err, tc.want)
		case err != nil:
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Errorf("%v is not a *ParamError", err)
			}
		}
	}
}

// TestCheckValuesRequired: a parameter that an endpoint needs and that has no default nor
// fallback is required, and the error says what it is.
func TestCheckValuesRequired(t *testing.T) {
	e := &Entry{Name: "acme", Params: []Param{{Name: "subdomain", Description: "The account's subdomain.", Pattern: "^[a-z0-9-]+$", Where: []string{PartHost}}},
		URLs: Endpoints{Authorize: Template{"https://{subdomain}.acme.example/oauth/authorize"}, Token: Template{"https://{subdomain}.acme.example/oauth/token"}}}
	err := e.CheckValues(nil)
	if err == nil || !strings.Contains(err.Error(), "acme: parameter subdomain: required (The account's subdomain), a value matching ^[a-z0-9-]+$") {
		t.Fatalf("got %v", err)
	}
	if err := e.CheckValues(map[string]string{"subdomain": "shop-1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.CheckValues(map[string]string{"subdomain": "Evil.example"}); err == nil {
		t.Fatal("an upper-case host label was accepted")
	}
}
