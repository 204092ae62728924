package oauth

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
	"github.com/authconnection/terraform-provider-tailor/internal/egress"
)

// labEntry names a literal host in every kind of URL an entry has.
const labEntry = `{"name": "lab", "hosts": ["login.lab.test"],
 "params": [{"name": "account_id", "description": "learnt after connecting", "pattern": "^[0-9]{1,12}$", "where": ["path"]}],
 "endpoints": {"issuer": "https://login.lab.test", "authorize": "https://login.lab.test/authorize", "token": "https://token.lab.test/token",
   "refresh": "https://refresh.lab.test/refresh", "revocation": "https://token.lab.test/revoke",
   "userinfo": "https://login.lab.test/userinfo", "device_authorization": "https://login.lab.test/device"},
 "metadata": {"call": {"url": "https://api.lab.test/me", "pick": "first", "values": [{"name": "account_id", "from": "id"}]}},
 "api": {"base_url": "https://api.lab.test/v1/{account_id}"},
 "no_refresh_token_advice": "a", "redirect_notes": "r"}`

// labProvider resolves a connection of labEntry with host overrides.
func labProvider(t *testing.T, c *Client, overrides map[string]string) (*Provider, error) {
	t.Helper()
	e, err := catalog.Parse([]byte(labEntry))
	if err != nil {
		t.Fatalf("test entry: %v", err)
	}
	conn := &authconn.Connection{ProviderURL: "https://login.lab.test", HostOverrides: overrides}
	return c.resolveWith(context.Background(), conn, &Preset{e}, nil)
}

// TestHostOverridesRewriteEveryEntryURL: every URL derived from the entry on an overridden
// host (endpoints, the metadata call, the API base URL) goes to the override origin, with
// its path and query; other hosts and the issuer (a name) stay; the origins are allowed by
// the egress policy.
func TestHostOverridesRewriteEveryEntryURL(t *testing.T) {
	c, rs := routed(t, func(seen) (int, any) { return 200, map[string]any{"id": "42"} })
	over := map[string]string{"login.lab.test": "https://127.0.0.1:8443", "token.lab.test": "http://localhost:9000",
		"refresh.lab.test": "https://gw.internal.example", "api.lab.test": "https://127.0.0.1:9443/"}
	p, err := labProvider(t, c, over)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{"authorize": p.AuthURL, "token": p.TokenURL, "refresh": p.RefreshURL,
		"revocation": p.RevocationURL, "userinfo": p.UserinfoURL, "device": p.DeviceAuthURL} {
		want := map[string]string{"authorize": "https://127.0.0.1:8443/authorize", "token": "http://localhost:9000/token",
			"refresh": "https://gw.internal.example/refresh", "revocation": "http://localhost:9000/revoke",
			"userinfo": "https://127.0.0.1:8443/userinfo", "device": "https://127.0.0.1:8443/device"}[name]
		if got != want {
			t.Errorf("%s endpoint %s, want %s", name, got, want)
		}
	}
	if p.Issuer != "https://login.lab.test" {
		t.Errorf("issuer %s: an identifier, not rewritten", p.Issuer)
	}
	if base, err := p.APIBaseURL(map[string]string{"account_id": "42"}); err != nil || base != "https://127.0.0.1:9443/v1/42" {
		t.Errorf("API base URL %q %v", base, err)
	}
	m, err := c.FetchMetadata(context.Background(), p, "at-1", nil)
	if err != nil || m["account_id"] != "42" {
		t.Fatalf("metadata call: %v %v", m, err)
	}
	if s := rs.last(t); s.Host != "127.0.0.1:9443" || s.Path != "/me" {
		t.Errorf("metadata call went to %s%s", s.Host, s.Path)
	}
	q, err := p.WithMetadata(map[string]string{"account_id": "42"})
	if err != nil || q.TokenURL != "http://localhost:9000/token" {
		t.Errorf("WithMetadata dropped the overrides: %v %v", q.TokenURL, err)
	}
	ctx := p.allow(context.Background())
	for _, o := range over {
		u, _ := url.Parse(o)
		if !egress.Allowed(ctx, u) {
			t.Errorf("override origin %s is not allowed by the egress policy", o)
		}
	}
	none, _ := labProvider(t, c, nil)
	if none.TokenURL != "https://token.lab.test/token" || len(none.typed) != 1+len(none.preset().literalURLs()) {
		t.Errorf("without overrides: %s, typed %v", none.TokenURL, none.typed)
	}
}

// TestHostOverridesRefused: an override of a host the entry does not name, on a connection
// without an entry, or to an origin that is not one (a record not written by tailor) is
// refused when the connection is resolved.
func TestHostOverridesRefused(t *testing.T) {
	c, _ := routed(t, okToken)
	_, err := labProvider(t, c, map[string]string{"evil.example": "https://127.0.0.1:1"})
	var he *HostOverrideError
	if !errors.As(err, &he) || KindOf(err) != KindRejected || !strings.Contains(err.Error(), "api.lab.test, login.lab.test, refresh.lab.test, token.lab.test") {
		t.Errorf("unknown host: %v", err)
	}
	for _, o := range []string{"https://127.0.0.1:1/path", "https://u:p@127.0.0.1", "http://evil.example", "javascript:alert(1)"} {
		if _, err := labProvider(t, c, map[string]string{"token.lab.test": o}); err == nil || KindOf(err) != KindRejected {
			t.Errorf("origin %q: %v", o, err)
		}
	}
	_, err = c.Resolve(context.Background(), &authconn.Connection{ProviderURL: "https://sso.example.com", AuthURL: "https://sso.example.com/a",
		TokenURL: "https://sso.example.com/t", HostOverrides: map[string]string{"sso.example.com": "https://127.0.0.1:1"}})
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "not a host of a catalog entry") {
		t.Errorf("a connection without an entry: %v", err)
	}
}

// TestCheckHostOverrides: the check tokend create runs before storing refuses what Resolve
// would refuse, without a request.
func TestCheckHostOverrides(t *testing.T) {
	conn := &authconn.Connection{Provider: "quickbooks", HostOverrides: map[string]string{"oauth.platform.intuit.com": "https://127.0.0.1:8443"}}
	if err := CheckHostOverrides(conn); err != nil {
		t.Fatal(err)
	}
	conn.HostOverrides["api.evil.example"] = "https://127.0.0.1:8443"
	var he *HostOverrideError
	if err := CheckHostOverrides(conn); !errors.As(err, &he) || he.Host != "api.evil.example" {
		t.Errorf("unknown host: %v", err)
	}
	if err := CheckHostOverrides(&authconn.Connection{Provider: "nope", HostOverrides: conn.HostOverrides}); err == nil {
		t.Error("an unknown entry was accepted")
	}
}
