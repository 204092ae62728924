package apikey

import (
	"slices"
	"testing"
)

func TestPermitsPerPattern(t *testing.T) {
	grants := []Grant{
		{Pattern: "quickbooks-*", Allow: []Permission{PermProxy}},
		{Pattern: "google-drive", Allow: []Permission{PermToken}},
		{Pattern: "google-*", Allow: []Permission{PermProxy}},
	}
	for _, c := range []struct {
		name string
		perm Permission
		want bool
	}{
		{"quickbooks-eu", PermProxy, true},
		{"quickbooks-eu", PermToken, false},
		{"google-drive", PermToken, true},
		{"google-drive", PermProxy, true}, // grants add up
		{"google-mail", PermToken, false},
		{"ms365", PermProxy, false},
	} {
		if got := Permits(grants, c.name, c.perm); got != c.want {
			t.Errorf("Permits(%s, %s) = %v, want %v", c.name, c.perm, got, c.want)
		}
	}
	if !Matches(grants, "quickbooks-eu") || Matches(grants, "ms365") {
		t.Error("Matches: wrong answer")
	}
	if Permits(nil, "x", PermToken) {
		t.Error("no grants permit something")
	}
}

func TestParseGrantAndAllow(t *testing.T) {
	g, err := ParseGrant("quickbooks-*=proxy,token")
	if err != nil || g.Pattern != "quickbooks-*" || !slices.Equal(g.Allow, []Permission{PermToken, PermProxy}) {
		t.Fatalf("ParseGrant = %+v, %v", g, err)
	}
	if g.String() != "quickbooks-*=token,proxy" {
		t.Errorf("String = %q", g.String())
	}
	for _, bad := range []string{"quickbooks-*", "=proxy", "a=", "a=admin", "a b=token", "a/b=proxy"} {
		if _, err := ParseGrant(bad); err == nil {
			t.Errorf("ParseGrant(%q) accepted", bad)
		}
	}
	if p, err := ParseAllow("proxy, proxy"); err != nil || !slices.Equal(p, []Permission{PermProxy}) {
		t.Errorf("ParseAllow = %v, %v", p, err)
	}
	if _, err := ParseAllow(""); err == nil {
		t.Error("ParseAllow accepted nothing")
	}
	all := GrantAll([]string{"a", "b"}, []Permission{PermToken})
	all[0].Allow[0] = PermProxy
	if all[1].Allow[0] != PermToken {
		t.Error("GrantAll shares its Allow slices")
	}
}
