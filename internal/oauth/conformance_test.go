package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/imitate"
)

// TestConformance runs every catalog entry (but the generic one, which the Hydra tests
// cover) against the imitation of the same name, written from the provider's documentation:
// authorization, code exchange, metadata, an API call, refresh, the fallback lifetime,
// revocation and the failure modes. Each entry needs an imitation and each imitation an
// entry: adding a provider is one entry plus one imitation.
func TestConformance(t *testing.T) {
	imitations := imitate.Providers()
	for _, p := range oauth.Presets {
		if _, ok := imitations[p.Name]; !ok {
			t.Errorf("%s: the catalog entry has no imitation in imitate.Providers (adding a provider is one entry plus one imitation)", p.Name)
		}
	}
	for name := range imitations {
		if p := oauth.PresetNamed(name); p == nil || p == oauth.Generic {
			t.Errorf("%s: the imitation has no catalog entry (internal/catalog/providers/%s.json)", name, name)
		}
	}
	for _, p := range oauth.Presets {
		start, ok := imitations[p.Name]
		if !ok {
			continue
		}
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			conformance(t, p, start)
		})
	}
}

// conformance runs the checks of one entry, each on an imitation of its own.
func conformance(t *testing.T, p *oauth.Preset, start func(testing.TB) *imitate.Imitation) {
	checkDeclared(t, p, start(t).Want)
	if slices.Contains(p.Grants(), catalog.GrantClientCredentials) {
		t.Run("client_credentials", func(t *testing.T) { checkClientCredentials(t, newRig(t, p, start)) })
	}
	if !slices.Contains(p.Grants(), catalog.GrantAuthorizationCode) {
		return
	}
	t.Run("connect", func(t *testing.T) { newRig(t, p, start).connect(t) })
	t.Run("default_scopes", func(t *testing.T) { checkDefaultScopes(t, newRig(t, p, start)) })
	t.Run("consent_denied", func(t *testing.T) { checkDenied(t, newRig(t, p, start)) })
	t.Run("refresh", func(t *testing.T) { checkRefresh(t, newRig(t, p, start)) })
	t.Run("revoke", func(t *testing.T) { checkRevoke(t, newRig(t, p, start)) })
	t.Run("expired_refresh_token", func(t *testing.T) {
		checkDeadRefresh(t, newRig(t, p, start), (*imitate.Imitation).ExpireRefreshTokens)
	})
	t.Run("revoked_authorization", func(t *testing.T) {
		checkDeadRefresh(t, newRig(t, p, start), (*imitate.Imitation).RevokeAuthorization)
	})
	if p.Metadata.Call != nil {
		t.Run("metadata_call_failures", func(t *testing.T) { checkMetadataFailures(t, p, start) })
	}
}

// checkDeclared compares what the entry declares with what the imitation documents.
func checkDeclared(t *testing.T, p *oauth.Preset, want imitate.Want) {
	t.Helper()
	switch auth := p.ClientAuth; want.ClientAuth {
	case "basic":
		if auth != catalog.ClientAuthBasic {
			t.Errorf("%s: client_auth is %q, the provider documents HTTP Basic (client_secret_basic)", p.Name, auth)
		}
	case "body":
		if auth != catalog.ClientAuthPost {
			t.Errorf("%s: client_auth is %q, the provider documents credentials in the body (client_secret_post)", p.Name, auth)
		}
	}
	if p.KeepsPreviousAccessToken != want.OldAccessValid {
		t.Errorf("%s: keeps_previous_access_token is %v, the provider documents %v", p.Name, p.KeepsPreviousAccessToken, want.OldAccessValid)
	}
	if d := want.DefaultLifetime; d != 0 && time.Duration(p.TokenResponse.DefaultLifetime)*time.Second != d {
		t.Errorf("%s: token_response.default_lifetime is %ds, the provider documents %s", p.Name, p.TokenResponse.DefaultLifetime, d)
	}
	if len(p.Docs) == 0 {
		t.Errorf("%s: the entry cites no documentation (docs)", p.Name)
	}
	if p.Checked == "" {
		t.Errorf("%s: the entry has no checked date", p.Name)
	}
}

// rig is one entry against a fresh imitation.
type rig struct {
	entry  *oauth.Preset
	im     *imitate.Imitation
	client *oauth.Client
	creds  oauth.Credentials
	conn   *authconn.Connection
}

func newRig(t *testing.T, p *oauth.Preset, start func(testing.TB) *imitate.Imitation) *rig {
	im := start(t)
	w := im.Want
	return &rig{entry: p, im: im, client: &oauth.Client{HTTP: im.Client},
		creds: oauth.Credentials{ClientID: w.ClientID, ClientSecret: w.ClientSecret},
		conn: &authconn.Connection{Name: "conformance", Type: "oauth2", Provider: p.Name, Params: w.Params,
			ClientID: w.ClientID, Scopes: w.Scopes}}
}

// session is a connected rig: the provider with the connection's metadata, the token and
// the metadata learnt.
type session struct {
	prov     *oauth.Provider
	tok      *oauth.Token
	metadata map[string]string
}

// resolve resolves the rig's connection to its entry.
func (r *rig) resolve(t *testing.T) *oauth.Provider {
	t.Helper()
	prov, err := r.client.Resolve(context.Background(), r.conn)
	if err != nil {
		t.Fatalf("%s: resolving a connection with params %v: %v", r.entry.Name, r.conn.Params, err)
	}
	if prov.Name() != r.entry.Name {
		t.Fatalf("%s: the connection resolved to %q", r.entry.Name, prov.Name())
	}
	return prov
}

// authorize runs the authorization-code flow with scopes and returns the token and the
// metadata learnt from the callback and the token answer.
func (r *rig) authorize(t *testing.T, scopes []string) (*oauth.Provider, *oauth.Token, map[string]string) {
	t.Helper()
	name, ctx := r.entry.Name, context.Background()
	prov := r.resolve(t)
	a := prov.NewAuthRequest(r.creds, r.im.Want.RedirectURI, scopes)
	q, err := r.im.Consent(a.URL)
	if err != nil {
		t.Fatalf("%s: the provider refused the authorization request %s: %v", name, a.URL, err)
	}
	cb, err := a.ParseCallback(q)
	if err != nil {
		t.Fatalf("%s: parsing the provider's callback: %v", name, err)
	}
	tok, err := r.client.Exchange(ctx, a, cb)
	if err != nil {
		t.Fatalf("%s: exchanging the code: %v", name, err)
	}
	if tok.AccessToken == "" {
		t.Fatalf("%s: the token answer gave no access token (token_response paths)", name)
	}
	return prov, tok, prov.Metadata(cb, tok)
}

// connect authorizes, learns the metadata (the post-connect call included), compares it
// and the API base URL with the imitation's, and calls the API with the token.
func (r *rig) connect(t *testing.T) *session {
	t.Helper()
	name, w := r.entry.Name, r.im.Want
	prov, tok, md := r.authorize(t, w.Scopes)
	more, err := r.client.FetchMetadata(context.Background(), prov, tok.AccessToken, md)
	if err != nil {
		t.Fatalf("%s: the metadata call: %v", name, err)
	}
	for k, v := range more {
		if md == nil {
			md = map[string]string{}
		}
		md[k] = v
	}
	checkMetadata(t, name, md, w.Metadata)
	checkLifetime(t, name, tok, w)
	s := &session{tok: tok, metadata: md}
	if s.prov, err = prov.WithMetadata(md); err != nil {
		t.Fatalf("%s: filling the endpoints with the metadata %v: %v", name, md, err)
	}
	base, err := s.prov.APIBaseURL(md)
	if err != nil || base != w.APIBase {
		t.Errorf("%s: the API base URL is %q (%v), the provider's is %q", name, base, err, w.APIBase)
	}
	if status, ok := r.callAPI(t, s, tok.AccessToken); !ok {
		t.Errorf("%s: the API check %s answered HTTP %d (or a failure) to the token presented as the entry says (api.token_header, api.headers)", name, w.APICheck, status)
	}
	return s
}

// checkMetadata compares the metadata learnt with the provider's: every value the provider
// gives must be kept, under the provider's name (compared without case, "_", "-" and ".")
// or, where the entry names it otherwise, under a name of the entry's own.
func checkMetadata(t *testing.T, name string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		kept := false
		for gk, gv := range got {
			if normName(gk) == normName(k) && gv != v {
				t.Errorf("%s: metadata %s is %q, the provider's %s is %q", name, gk, gv, k, v)
			}
			kept = kept || gv == v
		}
		if !kept {
			t.Errorf("%s: metadata %s (%q) is not kept; the entry kept %v", name, k, v, keys(got))
		}
	}
}

func normName(s string) string {
	return strings.NewReplacer("_", "", "-", "", ".", "").Replace(strings.ToLower(s))
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkLifetime checks the access token's lifetime: none for tokens that do not expire, the
// entry's fallback when the answer had no expires_in and the provider documents the
// lifetime (where it documents none, as Salesforce's session timeout, the entry may assume
// one), and the expires_in the entry reads where it names a path.
func checkLifetime(t *testing.T, name string, tok *oauth.Token, w imitate.Want) {
	t.Helper()
	switch {
	case w.NoExpiry:
		if tok.RefreshToken != "" {
			t.Errorf("%s: the provider documents tokens without expiry or refresh, yet a refresh token was read", name)
		}
	case w.DefaultLifetime != 0:
		if !tok.ExpiresInAssumed || tok.ExpiresIn != w.DefaultLifetime {
			t.Errorf("%s: without expires_in the lifetime is %s (assumed %v), the provider documents %s", name, tok.ExpiresIn, tok.ExpiresInAssumed, w.DefaultLifetime)
		}
	case tok.ExpiresIn <= 0 && entryReadsLifetime(name):
		t.Errorf("%s: the access token's lifetime was not read (token_response.expires_in_path)", name)
	}
}

// entryReadsLifetime reports whether the entry names where the answer keeps expires_in.
func entryReadsLifetime(name string) bool {
	return oauth.PresetNamed(name).TokenResponse.ExpiresInPath != ""
}

// callAPI calls the imitation's API check URL with token presented as the entry says, and
// returns the HTTP status and whether the call worked: a 2xx answer, whose ok field is true
// for a provider that reports errors in 200 answers (token_response.ok_field, Slack).
func (r *rig) callAPI(t *testing.T, s *session, token string) (int, bool) {
	t.Helper()
	return r.call(t, s, token, r.im.Want.APIMethod, r.im.Want.APICheck)
}

// call calls url with method (GET when empty) and token presented as the entry says; see
// callAPI.
func (r *rig) call(t *testing.T, s *session, token, method, url string) (int, bool) {
	t.Helper()
	h, err := s.prov.APIHeaders(token, s.metadata)
	if err != nil {
		t.Fatalf("%s: the API headers: %v", r.entry.Name, err)
	}
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := r.im.Client.Do(req)
	if err != nil {
		t.Fatalf("%s: the API check: %v", r.entry.Name, err)
	}
	defer resp.Body.Close()
	ok := resp.StatusCode/100 == 2
	if field := r.entry.TokenResponse.OKField; ok && field != "" {
		var doc any
		_ = json.NewDecoder(resp.Body).Decode(&doc)
		v, _ := catalog.Lookup(doc, field)
		ok = v == true
	}
	return resp.StatusCode, ok
}

// checkDefaultScopes authorizes with no scopes named: the entry's default and required
// scopes must be accepted.
func checkDefaultScopes(t *testing.T, r *rig) {
	if len(r.entry.DefaultScopes) == 0 {
		t.Skipf("%s: the entry names no default scopes", r.entry.Name)
	}
	r.authorize(t, nil)
}

// checkDenied makes the user refuse consent: the provider's error on the callback must read
// as access_denied.
func checkDenied(t *testing.T, r *rig) {
	name := r.entry.Name
	r.im.Deny(true)
	a := r.resolve(t).NewAuthRequest(r.creds, r.im.Want.RedirectURI, r.im.Want.Scopes)
	_, err := r.im.Consent(a.URL)
	var ce *imitate.ConsentError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: a refused consent gave %v, want the provider's refusal", name, err)
	}
	if !ce.Redirected {
		t.Skipf("%s: the provider shows its refusal on its own page", name)
	}
	_, err = a.ParseCallback(ce.Query)
	var cbe *oauth.CallbackError
	if !errors.As(err, &cbe) || cbe.Code != "access_denied" {
		t.Errorf("%s: the callback of a refused consent gave %v, want access_denied", name, err)
	}
}

// checkRefresh refreshes and compares rotation and the previous tokens' validity with the
// provider's documentation.
func checkRefresh(t *testing.T, r *rig) {
	name, w, ctx := r.entry.Name, r.im.Want, context.Background()
	s := r.connect(t)
	if w.NoExpiry {
		t.Skipf("%s: the provider's tokens do not expire and cannot be refreshed", name)
	}
	if s.tok.RefreshToken == "" {
		t.Fatalf("%s: no refresh token was read (token_response.refresh_token_path, default scopes)", name)
	}
	next, err := r.client.Refresh(ctx, s.prov, r.creds, s.tok.RefreshToken, r.conn.Scopes)
	if err != nil {
		t.Fatalf("%s: refreshing: %v", name, err)
	}
	if next.AccessToken == "" || next.AccessToken == s.tok.AccessToken {
		t.Fatalf("%s: the refresh gave no new access token", name)
	}
	checkLifetime(t, name, next, w)
	if status, ok := r.callAPI(t, s, next.AccessToken); !ok {
		t.Errorf("%s: the refreshed access token: API check answered HTTP %d", name, status)
	}
	if rotated := next.RefreshToken != "" && next.RefreshToken != s.tok.RefreshToken; rotated != w.RotatesRefresh {
		t.Errorf("%s: the refresh rotated the refresh token: %v, the provider documents %v", name, rotated, w.RotatesRefresh)
	}
	if next.ValidAfterRefresh != w.OldAccessValid {
		t.Errorf("%s: the token says it stays valid after a refresh: %v, the provider documents %v", name, next.ValidAfterRefresh, w.OldAccessValid)
	}
	if w.RotatesRefresh && !w.OldRefreshValid {
		if _, err := r.client.Refresh(ctx, s.prov, r.creds, s.tok.RefreshToken, r.conn.Scopes); !oauth.IsInvalidGrant(err) {
			t.Errorf("%s: reusing a rotated refresh token: got %v, want invalid_grant", name, err)
		}
	}
}

// checkDeadRefresh makes the provider end the refresh token (fault), then refreshes: the
// provider's own error shape must classify as invalid_grant (authorize again).
func checkDeadRefresh(t *testing.T, r *rig, fault func(*imitate.Imitation)) {
	name := r.entry.Name
	s := r.connect(t)
	if r.im.Want.NoExpiry || s.tok.RefreshToken == "" {
		t.Skipf("%s: the provider issues no refresh token", name)
	}
	fault(r.im)
	_, err := r.client.Refresh(context.Background(), s.prov, r.creds, s.tok.RefreshToken, r.conn.Scopes)
	if !oauth.IsInvalidGrant(err) {
		t.Errorf("%s: refreshing with an ended refresh token: got %v (kind %s), want invalid_grant (error_codes, token_response.ok_field)", name, err, oauth.KindOf(err))
	}
}

// checkRevoke revokes the tokens as the entry says, when it declares revocation (and the
// imitation answers the revocation URL): the provider must accept the call and the token
// must stop working.
// revocationNotModelled names the imitations without a revocation route, and why; for any
// other entry a 404 at its revocation URL is a wrong URL and fails.
var revocationNotModelled = map[string]string{
	"zoho": "Zoho's documented revocation takes the refresh token in the URL query, which tailor never sends",
}

func checkRevoke(t *testing.T, r *rig) {
	name := r.entry.Name
	if r.entry.RevocationKind() == catalog.RevokeNone {
		t.Skipf("%s: the entry declares no revocation", name)
	}
	if why, ok := revocationNotModelled[name]; ok {
		t.Skipf("%s: the imitation does not model revocation: %s", name, why)
	}
	s := r.connect(t)
	tok, hint := s.tok.RefreshToken, "refresh_token"
	if tok == "" || r.entry.RevocationKind() == catalog.RevokeCall {
		tok, hint = s.tok.AccessToken, "access_token" // a call presents the token as the API takes it
	}
	err := r.client.Revoke(context.Background(), s.prov, r.creds, tok, hint)
	if err != nil {
		t.Fatalf("%s: revoking the %s: %v", name, hint, err)
	}
	if hint == "refresh_token" {
		if _, err := r.client.Refresh(context.Background(), s.prov, r.creds, tok, r.conn.Scopes); !oauth.IsInvalidGrant(err) {
			t.Errorf("%s: refreshing with a revoked refresh token: got %v, want invalid_grant", name, err)
		}
		return
	}
	if _, ok := r.callAPI(t, s, tok); ok {
		t.Errorf("%s: the revoked access token still works at the API", name)
	}
}

// checkMetadataFailures makes the post-connect call answer several tenants, none, and an
// error: each must be a typed *oauth.MetadataError (the tokens are kept by the caller).
func checkMetadataFailures(t *testing.T, p *oauth.Preset, start func(testing.TB) *imitate.Imitation) {
	cases := []struct {
		name  string
		fault func(*imitate.Imitation)
		want  oauth.MetadataErrorKind
	}{
		{"several", func(im *imitate.Imitation) { im.SetTenants(3) }, oauth.MetadataSeveral},
		{"none", func(im *imitate.Imitation) { im.SetTenants(0) }, oauth.MetadataNone},
		{"failing", func(im *imitate.Imitation) { im.FailMetadata(http.StatusInternalServerError) }, oauth.MetadataCallFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, p, start)
			if c.want == oauth.MetadataSeveral && p.Metadata.Call.Pick == catalog.PickFirst {
				t.Skipf("%s: the entry picks the first item", p.Name)
			}
			r.conn.Params = withoutMatchParam(r.conn.Params, p.Metadata.Call.MatchParam)
			prov, tok, md := r.authorize(t, r.im.Want.Scopes)
			ctx := context.Background()
			before, _ := r.client.FetchMetadata(ctx, prov, tok.AccessToken, md)
			c.fault(r.im)
			after, err := r.client.FetchMetadata(ctx, prov, tok.AccessToken, md)
			if err == nil && maps.Equal(before, after) {
				t.Skipf("%s: the imitation's call does not model %s tenants (one account per token)", p.Name, c.name)
			}
			var me *oauth.MetadataError
			if !errors.As(err, &me) || !metadataKindIs(me, c.want) {
				t.Errorf("%s: the metadata call with %s tenants: got %v, want a *oauth.MetadataError of kind %s", p.Name, c.name, err, c.want)
			}
		})
	}
}

// metadataKindIs reports whether me is of kind want; for no tenants, a provider may also
// answer 404 (HubSpot: no portal), which is a failed call.
func metadataKindIs(me *oauth.MetadataError, want oauth.MetadataErrorKind) bool {
	return me.Kind == want || want == oauth.MetadataNone && me.Kind == oauth.MetadataCallFailed && me.StatusCode == http.StatusNotFound
}

// withoutMatchParam returns params without the one the metadata call matches on.
func withoutMatchParam(params map[string]string, match string) map[string]string {
	out := map[string]string{}
	for k, v := range params {
		if k != match {
			out[k] = v
		}
	}
	return out
}

// checkClientCredentials runs the client credentials grant (application permissions), then
// calls the API with the token.
func checkClientCredentials(t *testing.T, r *rig) {
	name, w := r.entry.Name, r.im.Want
	prov := r.resolve(t)
	scopes := r.entry.DefaultScopes
	if len(scopes) == 0 {
		scopes = w.Scopes
	}
	tok, err := r.client.ClientCredentials(context.Background(), prov, r.creds, scopes)
	if err != nil {
		t.Fatalf("%s: the client credentials grant: %v", name, err)
	}
	md := prov.Metadata(nil, tok)
	checkMetadata(t, name, md, w.Metadata)
	s := &session{prov: prov, tok: tok, metadata: md}
	if base, err := prov.APIBaseURL(md); err != nil || base != w.APIBase {
		t.Errorf("%s: the API base URL is %q (%v), the provider's is %q", name, base, err, w.APIBase)
	}
	check := w.AppAPICheck
	if check == "" {
		check = w.APICheck
	}
	if status, ok := r.call(t, s, tok.AccessToken, http.MethodGet, check); !ok {
		t.Errorf("%s: the API check %s answered HTTP %d (or a failure) to an application token", name, check, status)
	}
}
