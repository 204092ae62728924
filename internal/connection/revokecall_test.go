package connection_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/imitate"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestRevokeByAPICallPresentsOnlyTheAccessToken: a provider whose revocation is a call of its
// API (Dropbox's /2/auth/token/revoke, here its imitation) takes the access token as a
// bearer token and ends the whole grant; Revoke must give it the access token, never the
// refresh token (which would reach the API as a bearer token and fail the revoke).
func TestRevokeByAPICallPresentsOnlyTheAccessToken(t *testing.T) {
	im, st, tok := authorizedAt(t, imitate.Dropbox(t), "dropbox", "https://www.dropbox.com")
	res, err := connection.Revoke(context.Background(), st, &oauth.Client{HTTP: im.Client}, "dropbox", connection.Options{})
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if len(res.Revoked) == 0 || res.RevokeSkipped != "" {
		t.Fatalf("Revoke result %+v: the grant was not revoked", res)
	}
	for _, r := range im.Requests() {
		if r.Method == http.MethodPost && strings.Contains(r.Header.Get("Authorization"), tok.RefreshToken) {
			t.Errorf("the refresh token was presented as a bearer token to %s%s", r.Host, r.Path)
		}
	}
}

// TestRevokeFillsTheEntryWithMetadata: Stripe's deauthorize names the connected account
// (stripe_user_id, learnt from the token answer); Revoke fills it from the stored metadata,
// so the grant really ends (the imitation refuses a deauthorize without it).
func TestRevokeFillsTheEntryWithMetadata(t *testing.T) {
	im, st, tok := authorizedAt(t, imitate.Stripe(t), "stripe", "https://connect.stripe.com")
	if _, err := connection.Revoke(context.Background(), st, &oauth.Client{HTTP: im.Client}, "stripe", connection.Options{}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if tok.Metadata["stripe_user_id"] == "" {
		t.Fatalf("no stripe_user_id learnt: %v", tok.Metadata)
	}
}

// authorizedAt creates connection name of the catalog entry name for the imitation im,
// authorizes it there (consent, code exchange, metadata from the token answer) and stores
// the tokens in a MemStore as tokend would.
func authorizedAt(t *testing.T, im *imitate.Imitation, name, providerURL string) (*imitate.Imitation, *tailortest.MemStore, *authconn.TokenSet) {
	t.Helper()
	w, ctx := im.Want, context.Background()
	st := tailortest.NewMemStore()
	conn := &authconn.Connection{Name: name, Type: authconn.TypeOAuth2, ProviderURL: providerURL, Provider: name, Params: w.Params, ClientID: w.ClientID, Scopes: w.Scopes}
	if err := connection.Create(ctx, st, conn, connection.Secret{ClientSecret: w.ClientSecret}); err != nil {
		t.Fatal(err)
	}
	oc := &oauth.Client{HTTP: im.Client}
	prov, err := oc.Resolve(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	a := prov.NewAuthRequest(oauth.Credentials{ClientID: w.ClientID, ClientSecret: w.ClientSecret}, w.RedirectURI, w.Scopes)
	q, err := im.Consent(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := a.ParseCallback(q)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := oc.Exchange(ctx, a, cb)
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange: %v (refresh token present: %v)", err, tok != nil && tok.RefreshToken != "")
	}
	ts := &authconn.TokenSet{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(time.Hour),
		AuthorizedAt: time.Now().UTC(), Status: authconn.StatusAuthorized, IssuedBy: prov.Issuance(), Metadata: prov.Metadata(cb, tok)}
	if _, err := st.PutTokens(ctx, name, ts, 0); err != nil {
		t.Fatal(err)
	}
	return im, st, ts
}
