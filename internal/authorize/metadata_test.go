package authorize_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/authorize"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/imitate"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
	"github.com/authconnection/terraform-provider-tailor/internal/tokens"
)

// imitatedStore is an in-memory store with connection name of catalog entry provider, set
// up with im's client credentials.
func imitatedStore(im *imitate.Imitation, name, provider string, scopes []string) *tailortest.MemStore {
	st := tailortest.NewMemStore()
	st.Conns[name] = true
	st.Configs[name] = authconn.Connection{Name: name, Type: authconn.TypeOAuth2, ClientID: im.Want.ClientID, Provider: provider, Scopes: scopes}
	st.Secrets[name] = im.Want.ClientSecret
	return st
}

// authorizeAt runs one authorization of name against im: Begin, the user's consent, then
// edit (when set) on the callback query, and Complete.
func authorizeAt(ctx context.Context, t *testing.T, st authorize.Store, im *imitate.Imitation, oc *oauth.Client, name string, edit func(url.Values)) (*authorize.Result, error) {
	t.Helper()
	a, err := authorize.Begin(ctx, st, authorize.Request{Name: name, RedirectURI: im.Want.RedirectURI, OAuth: oc})
	if err != nil {
		t.Fatal(err)
	}
	q, err := im.Consent(a.Request.URL)
	if err != nil {
		t.Fatalf("consent: %v", err)
	}
	if edit != nil {
		edit(q)
	}
	return a.Complete(ctx, q)
}

// TestQuickBooksMetadataReachesTheAPI: an authorization of the QuickBooks entry against its
// imitation keeps the callback's realmId as metadata and fills the API base URL, with which
// the stored access token reads the company; connection.authorized carries the metadata.
func TestQuickBooksMetadataReachesTheAPI(t *testing.T) {
	t.Parallel()
	im := imitate.QuickBooks(t)
	st := imitatedStore(im, "quickbooks-oauth", "quickbooks", im.Want.Scopes)
	st.Webhooks = []string{"wh"}
	ctx := context.Background()
	res, err := authorizeAt(ctx, t, st, im, &oauth.Client{HTTP: im.Client}, "quickbooks-oauth", nil)
	if err != nil {
		t.Fatal(err)
	}
	realm := im.Want.Metadata["realmId"]
	rec, err := st.GetTokens(ctx, "quickbooks-oauth")
	if err != nil || rec.Metadata["realmId"] != realm || rec.APIBaseURL != im.Want.APIBase || rec.LastError != "" {
		t.Fatalf("invariant «the callback's realmId is kept with the tokens»: %v %q %q %v", rec.Metadata, rec.APIBaseURL, rec.LastError, err)
	}
	if res.Metadata["realmId"] != realm || res.APIBaseURL != rec.APIBaseURL || res.MetadataError != "" {
		t.Errorf("the result does not say what was kept: %+v", res)
	}
	// What a function does with the token answer: nothing hard-coded but the API's paths.
	u := rec.APIBaseURL + "/v3/company/" + rec.Metadata["realmId"] + "/companyinfo/" + rec.Metadata["realmId"]
	if u != im.Want.APICheck {
		t.Fatalf("the API URL built from the answer, %s, is not the imitation's %s", u, im.Want.APICheck)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+rec.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := im.Client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invariant «the token and the metadata reach the API»: %v %v", resp, err)
	}
	resp.Body.Close()
	found := false
	for _, ev := range st.Events {
		found = found || ev.Type == authconn.EventAuthorized && ev.Metadata["realmId"] == realm && ev.APIBaseURL == rec.APIBaseURL
	}
	if !found {
		t.Errorf("invariant «connection.authorized carries the metadata»: %+v", st.Events)
	}
}

// TestQuickBooksAnotherRealmIsRefused: a second authorization whose callback names another
// company (realmId) is refused by the account rule, and nothing is stored; the same
// company is accepted.
func TestQuickBooksAnotherRealmIsRefused(t *testing.T) {
	t.Parallel()
	im := imitate.QuickBooks(t)
	st := imitatedStore(im, "qb", "quickbooks", im.Want.Scopes)
	oc := &oauth.Client{HTTP: im.Client}
	ctx := context.Background()
	if _, err := authorizeAt(ctx, t, st, im, oc, "qb", nil); err != nil {
		t.Fatal(err)
	}
	first, _ := st.GetTokens(ctx, "qb")
	_, err := authorizeAt(ctx, t, st, im, oc, "qb", func(q url.Values) { q.Set("realmId", "9130000000000999") })
	var am *authorize.AccountMismatchError
	if !errors.As(err, &am) || !strings.Contains(err.Error(), "9130000000000999") {
		t.Fatalf("invariant «another company is refused»: %v", err)
	}
	if now, _ := st.GetTokens(ctx, "qb"); now.Version != first.Version || now.Metadata["realmId"] != first.Metadata["realmId"] {
		t.Fatalf("invariant «a refused company stores nothing»: version %d (was %d), metadata %v", now.Version, first.Version, now.Metadata)
	}
	if _, err := authorizeAt(ctx, t, st, im, oc, "qb", nil); err != nil {
		t.Fatalf("the same company again: %v", err)
	}
}

// xeroClient reaches im through next (im's transport when nil).
func xeroClient(im *imitate.Imitation, next http.RoundTripper) *oauth.Client {
	if next == nil {
		next = im.Client.Transport
	}
	return &oauth.Client{HTTP: &http.Client{Transport: next}}
}

// hangingMetadata is a transport that answers the API host's requests only when their
// context ends (a metadata call that never answers) and sends the others to next.
type hangingMetadata struct {
	host string
	next http.RoundTripper
}

func (h hangingMetadata) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != h.host {
		return h.next.RoundTrip(r)
	}
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// TestMetadataCallFailuresKeepTheTokens: when Xero's post-connect call (GET /connections)
// fails, times out, lists several organisations without a tenant_id to pick one, or lists
// none, the authorization still stores its tokens (status authorized), without the
// metadata, and says why in last_error and in the result's warnings.
func TestMetadataCallFailuresKeepTheTokens(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(im *imitate.Imitation) *oauth.Client
		want  string
	}{
		{"fails", func(im *imitate.Imitation) *oauth.Client {
			im.FailMetadata(http.StatusInternalServerError)
			return xeroClient(im, nil)
		}, "HTTP 500"},
		{"times out", func(im *imitate.Imitation) *oauth.Client {
			return xeroClient(im, hangingMetadata{host: "api.xero.com", next: im.Client.Transport})
		}, "timed out"},
		{"several", func(im *imitate.Imitation) *oauth.Client { im.SetTenants(2); return xeroClient(im, nil) }, "returned 2 items"},
		{"none", func(im *imitate.Imitation) *oauth.Client { im.SetTenants(0); return xeroClient(im, nil) }, "no usable item"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			im := imitate.Xero(t)
			st := imitatedStore(im, "xero", "xero", im.Want.Scopes)
			oc := tc.setup(im)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			res, err := authorizeAt(ctx, t, st, im, oc, "xero", nil)
			if err != nil {
				t.Fatalf("invariant «a failed metadata call does not fail the authorization»: %v", err)
			}
			rec, err := st.GetTokens(context.Background(), "xero")
			if err != nil || rec.AccessToken == "" || rec.RefreshToken == "" || rec.Status != authconn.StatusAuthorized {
				t.Fatalf("invariant «the tokens are kept»: %v %v", rec, err)
			}
			if !strings.HasPrefix(rec.LastError, tokens.MetadataNote) || !strings.Contains(rec.LastError, tc.want) || rec.Metadata["tenant_id"] != "" {
				t.Errorf("invariant «the status says the metadata is missing, and why»: %q %v", rec.LastError, rec.Metadata)
			}
			if res.MetadataError == "" || !strings.Contains(strings.Join(res.Warnings, " "), tc.want) {
				t.Errorf("the person authorizing is not told: %+v", res)
			}
			for _, secret := range []string{rec.AccessToken, rec.RefreshToken, im.Want.ClientSecret} {
				if strings.Contains(rec.LastError+strings.Join(res.Warnings, " "), secret) {
					t.Fatal("invariant «no secret in the status or the warnings»")
				}
			}
		})
	}
}

// TestXeroMetadataCallPicksTheTenant: with one organisation the call's answer fills the
// tenant id; with several, the connection's tenant_id parameter picks one.
func TestXeroMetadataCallPicksTheTenant(t *testing.T) {
	t.Parallel()
	im := imitate.Xero(t)
	im.SetTenants(3)
	second := im.Tenants()[1].ID
	st := imitatedStore(im, "xero", "xero", im.Want.Scopes)
	c := st.Configs["xero"]
	c.Params = map[string]string{"tenant_id": second}
	st.Configs["xero"] = c
	if _, err := authorizeAt(context.Background(), t, st, im, xeroClient(im, nil), "xero", nil); err != nil {
		t.Fatal(err)
	}
	rec, _ := st.GetTokens(context.Background(), "xero")
	if rec.Metadata["tenant_id"] != second || rec.Metadata["tenant_name"] == "" || rec.LastError != "" || rec.APIBaseURL != im.Want.APIBase {
		t.Fatalf("invariant «the tenant the connection names is picked»: %v %q %q", rec.Metadata, rec.LastError, rec.APIBaseURL)
	}
}

// TestTextUIShowsTheMetadata: the terminal says what was kept, and why the metadata is
// incomplete when it is.
func TestTextUIShowsTheMetadata(t *testing.T) {
	var out, errs strings.Builder
	ui := &authorize.TextUI{Out: &out, Err: &errs}
	ui.Done(&authorize.Result{Name: "qb", Metadata: map[string]string{"realmId": "9130357", "b": "x"},
		APIBaseURL: "https://quickbooks.api.intuit.com", Warnings: []string{tokens.MetadataNote + "the metadata call timed out"}})
	got := errs.String()
	for _, want := range []string{"Connection metadata: b=x, realmId=9130357\n", "API base URL: https://quickbooks.api.intuit.com\n", "Warning: connected, but"} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr %q lacks %q", got, want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q: only the URL goes there", out.String())
	}
}
