package oauth

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// dcEntry's token endpoint is on the data center the callback names (Zoho's accounts-server).
const dcEntry = `{"name": "dc", "hosts": ["accounts.dc0.test"],
 "params": [{"name": "accounts_server", "description": "the data center", "pattern": "^https://accounts\\.dc[0-9]\\.test$", "where": ["origin"]}],
 "endpoints": {"authorize": "https://accounts.dc0.test/auth",
   "token": ["{accounts_server}/token", "https://accounts.dc0.test/token"]},
 "metadata": {"callback": [{"name": "accounts_server", "from": "accounts-server"}]},
 "no_refresh_token_advice": "a", "redirect_notes": "r"}`

// TestExchangeUsesCallbackMetadata: the code goes to the token endpoint the callback's
// metadata names; a value its parameter refuses stops the exchange before any request.
func TestExchangeUsesCallbackMetadata(t *testing.T) {
	c, rs := routed(t, func(seen) (int, any) {
		return 200, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600}
	})
	p := entryProvider(t, c, dcEntry, nil)
	for _, tc := range []struct{ server, wantHost string }{
		{"https://accounts.dc2.test", "accounts.dc2.test"},
		{"", "accounts.dc0.test"},
		{"https://evil.test", ""},
	} {
		rs.reqs = nil
		a := p.NewAuthRequest(secretCreds, "https://app.test/cb", nil)
		q := url.Values{"code": {"c"}, "state": {a.State}}
		if tc.server != "" {
			q.Set("accounts-server", tc.server)
		}
		cb, err := a.ParseCallback(q)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.Exchange(context.Background(), a, cb)
		if tc.wantHost == "" {
			if err == nil || len(rs.reqs) != 0 {
				t.Errorf("accounts-server %s: %v, %d requests; want an error and none", tc.server, err, len(rs.reqs))
			}
			continue
		}
		if err != nil || tok.AccessToken != "at" {
			t.Fatalf("accounts-server %q: %v", tc.server, err)
		}
		if s := rs.last(t); s.Host != tc.wantHost || s.Path != "/token" {
			t.Errorf("accounts-server %q: the code went to %s%s, want %s/token", tc.server, s.Host, s.Path, tc.wantHost)
		}
	}
}

// acctEntry's revocation names the account learnt from the token answer (Stripe's
// deauthorize takes stripe_user_id); its authorization needs the region.
const acctEntry = `{"name": "acct", "hosts": ["connect.acct.test"],
 "params": [{"name": "acct", "description": "the account", "pattern": "^acct_[a-z0-9]+$", "where": ["query"]},
   {"name": "region", "description": "the region", "pattern": "^[a-z]{2}$", "where": ["query"]}],
 "endpoints": {"authorize": "https://connect.acct.test/authorize", "token": "https://connect.acct.test/token",
   "revocation": "https://connect.acct.test/deauthorize"},
 "extra_params": {"authorize": {"region": "{region}"}, "revoke": {"stripe_user_id": "{acct}", "why": "done"}},
 "metadata": {"token": [{"name": "acct", "from": "stripe_user_id"}]},
 "no_refresh_token_advice": "a", "redirect_notes": "r"}`

// TestExtraParamsWaitForTheirMetadata: an extra parameter whose value is metadata is left out
// until the metadata is known, then sent; a missing connection parameter is still an error.
func TestExtraParamsWaitForTheirMetadata(t *testing.T) {
	c, rs := routed(t, func(seen) (int, any) { return 200, map[string]any{} })
	p := entryProvider(t, c, acctEntry, map[string]string{"region": "eu"})
	if err := c.Revoke(context.Background(), p, secretCreds, "rt", "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if f := rs.last(t).Form; f.Has("stripe_user_id") || f.Get("why") != "done" {
		t.Errorf("before the metadata: %v, want why=done and no stripe_user_id", f)
	}
	q, err := p.WithMetadata(map[string]string{"acct": "acct_42"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(context.Background(), q, secretCreds, "rt", "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if f := rs.last(t).Form; f.Get("stripe_user_id") != "acct_42" || f.Get("why") != "done" {
		t.Errorf("with the metadata: %v, want stripe_user_id=acct_42", f)
	}
	if _, err := p.WithMetadata(map[string]string{"acct": "acct_../x"}); err == nil {
		t.Error("a metadata value the pattern refuses was accepted")
	}
	e, _ := catalog.Parse([]byte(acctEntry))
	if _, err := c.resolveWith(context.Background(), &authconn.Connection{ProviderURL: "https://connect.acct.test"}, &Preset{e}, nil); err == nil {
		t.Error("resolved without the region, which only the connection gives")
	}
}

// prefixEntry's metadata call takes the token after "OAuth ", its API after "Bearer ".
const prefixEntry = `{"name": "pfx", "hosts": ["login.pfx.test"],
 "endpoints": {"authorize": "https://login.pfx.test/authorize", "token": "https://login.pfx.test/token"},
 "metadata": {"call": {"url": "https://login.pfx.test/metadata", "token_prefix": "OAuth ", "pick": "only",
   "values": [{"name": "dc", "from": "dc"}]}},
 "no_refresh_token_advice": "a", "redirect_notes": "r"}`

// TestMetadataCallTokenPrefix: the call presents the token after its own prefix; the API
// keeps Bearer.
func TestMetadataCallTokenPrefix(t *testing.T) {
	c, rs := routed(t, func(seen) (int, any) { return 200, map[string]any{"dc": "us6"} })
	p := entryProvider(t, c, prefixEntry, nil)
	m, err := c.FetchMetadata(context.Background(), p, "at-1", nil)
	if err != nil || m["dc"] != "us6" {
		t.Fatalf("metadata: %v %v", m, err)
	}
	if got := rs.last(t).Auth; got != "OAuth at-1" {
		t.Errorf("the call's Authorization is %q, want OAuth at-1", got)
	}
	h, err := p.APIHeaders("at-1", m)
	if err != nil || h.Get("Authorization") != "Bearer at-1" {
		t.Errorf("the API's Authorization is %q (%v), want Bearer at-1", h.Get("Authorization"), err)
	}
}

// queryEntry's token endpoint also wants client_id in its query (ClickUp).
const queryEntry = `{"name": "qry", "hosts": ["app.qry.test"],
 "endpoints": {"authorize": "https://app.qry.test/api", "token": "https://api.qry.test/oauth/token"},
 "client_auth": "client_secret_post", "token_query": ["client_id"],
 "no_refresh_token_advice": "a", "redirect_notes": "r"}`

// TestTokenQuery: the parameters token_query names go in the URL's query too; the secret and
// the code stay in the body only.
func TestTokenQuery(t *testing.T) {
	var rawQuery string
	c, rs := routed(t, func(seen) (int, any) { return 200, map[string]any{"access_token": "at", "token_type": "Bearer"} })
	inner := c.HTTP.Transport
	c.HTTP = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rawQuery = r.URL.RawQuery
		return inner.RoundTrip(r)
	})}
	p := entryProvider(t, c, queryEntry, nil)
	a := p.NewAuthRequest(secretCreds, "https://app.test/cb", nil)
	cb, err := a.ParseCallback(url.Values{"code": {"the-code"}, "state": {a.State}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exchange(context.Background(), a, cb); err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(rawQuery)
	if q.Get("client_id") != "cid" || len(q) != 1 {
		t.Errorf("token URL query %q, want client_id=cid only", rawQuery)
	}
	if f := rs.last(t).Form; f.Get("client_secret") != "csecret" || f.Get("code") != "the-code" {
		t.Errorf("token body %v, want the secret and the code", f)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestExchangeKeepsOverridesWithoutCallbackTemplates: callback metadata the token template
// does not use (QuickBooks' realmId) leaves the connection's token_url override in place.
func TestExchangeKeepsOverridesWithoutCallbackTemplates(t *testing.T) {
	c, rs := routed(t, func(seen) (int, any) {
		return 200, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600}
	})
	p, err := c.Resolve(context.Background(), &authconn.Connection{Provider: "quickbooks",
		TokenURL: "https://tokens.override.test/bearer"})
	if err != nil {
		t.Fatal(err)
	}
	a := p.NewAuthRequest(secretCreds, "https://app.test/cb", nil)
	cb, err := a.ParseCallback(url.Values{"code": {"c"}, "state": {a.State}, "realmId": {"9130"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exchange(context.Background(), a, cb); err != nil {
		t.Fatal(err)
	}
	if s := rs.last(t); s.Host != "tokens.override.test" {
		t.Errorf("the code went to %s, want the override tokens.override.test", s.Host)
	}
}

// TestOperatorTokenURLNeverMovesWithMetadata: a connection that names its token_url keeps
// it when a callback (or a token answer) carries metadata the entry's token template uses:
// neither the code exchange nor a later WithMetadata sends the code, the refresh token or
// the client secret anywhere else (security: the person authorizing edits the callback).
func TestOperatorTokenURLNeverMovesWithMetadata(t *testing.T) {
	c, rs := routed(t, func(seen) (int, any) {
		return 200, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600}
	})
	e, err := catalog.Parse([]byte(dcEntry))
	if err != nil {
		t.Fatal(err)
	}
	conn := &authconn.Connection{ProviderURL: "https://accounts.dc0.test", TokenURL: "https://gateway.operator.test/token"}
	p, err := c.resolveWith(context.Background(), conn, &Preset{e}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := p.NewAuthRequest(secretCreds, "https://app.test/cb", nil)
	cb, err := a.ParseCallback(url.Values{"code": {"c"}, "state": {a.State}, "accounts-server": {"https://accounts.dc2.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exchange(context.Background(), a, cb); err != nil {
		t.Fatal(err)
	}
	if s := rs.last(t); s.Host != "gateway.operator.test" {
		t.Errorf("the code went to %s, want the operator's gateway.operator.test", s.Host)
	}
	q, err := p.WithMetadata(map[string]string{"accounts_server": "https://accounts.dc2.test"})
	if err != nil || q.TokenURL != "https://gateway.operator.test/token" {
		t.Errorf("WithMetadata moved the token endpoint to %q (%v)", q.TokenURL, err)
	}
}

// TestMetadataAParameterWouldRefuseIsDropped: a provider's answer (Salesforce's
// instance_url) that its parameter's pattern refuses (another domain) is not kept as
// metadata, so it never fills a template nor reaches a function as the API host.
func TestMetadataAParameterWouldRefuseIsDropped(t *testing.T) {
	c, _ := routed(t, func(seen) (int, any) { return 200, nil })
	p := namedProvider(t, c, "salesforce", nil)
	for _, tc := range []struct{ instance, want string }{
		{"https://acme.my.salesforce.com", "https://acme.my.salesforce.com"},
		{"https://evil.example.com", ""},
		{"https://10.0.0.5", ""},
	} {
		md := p.Metadata(nil, &Token{AccessToken: "at", Extra: map[string]any{"instance_url": tc.instance}})
		if got := md["instance_url"]; got != tc.want {
			t.Errorf("instance_url %s kept as %q, want %q", tc.instance, got, tc.want)
		}
	}
}
