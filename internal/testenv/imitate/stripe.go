package imitate

import (
	"net/http"
	"testing"
)

// Stripe imitates Stripe Connect's OAuth for Standard accounts. Written from:
//   - https://docs.stripe.com/connect/oauth-standard-accounts.md (the user follows a link to
//     Stripe with the platform's client_id, connects, and is redirected back with a code; OAuth
//     with read_write scope)
//   - https://hexdocs.pm/stripity_stripe/1.6.0/Stripe.Connect.html (the token answer:
//     token_type, stripe_publishable_key, scope, livemode, stripe_user_id, refresh_token,
//     access_token; deauthorization invalidates every token)
//   - https://hexdocs.pm/stripity_stripe/2.0.0-alpha.5/Stripe.Connect.OAuth.html (the
//     authorization parameters: client_id, redirect_uri, response_type, scope (read_write
//     by default), state, stripe_landing, stripe_user, always_prompt)
//   - https://stripe.dev/stripe-java/com/stripe/net/OAuth.html (token and deauthorize calls)
//
// The client secret is the platform's secret key (sk_...). The answer has no expires_in (the
// pages read give no lifetime), and a refresh token that gets a new access token; what a
// client keeps is stripe_user_id, the connected account, which API calls name in the
// Stripe-Account header; this imitation's API check also takes the access token as Bearer.
func Stripe(t testing.TB) *Imitation { return start(t, stripe()) }

func stripe() *provider {
	account := "acct_1Nv0FGQ9RKHgCVdK"
	return &provider{
		name:  "stripe",
		hosts: []string{"connect.stripe.com", "api.stripe.com"},
		want: Want{ClientID: "ca_FkyHCg7X8mlvCUdMDao4mMxagUfhIwXb", ClientSecret: "sk_test_platform_secret_key",
			RedirectURI: "https://app.example.test/callback", Scopes: []string{"read_write"},
			Metadata: map[string]string{"stripe_user_id": account}, APIBase: "https://api.stripe.com/v1",
			APICheck: "https://api.stripe.com/v1/account"},
		auth: authRules{host: "connect.stripe.com", path: "/oauth/authorize", scopeSeps: " ",
			scopes: []string{"read_write", "read_only"}, pkce: pkceIgnored},
		token:  tokenRules{auth: authBody, noRedirect: true, oldAccessValid: true, accessPrefix: "sk_test_", refreshPrefix: "rt_"},
		tenant: func(int) Tenant { return Tenant{ID: account} },
		routes: func(im *Imitation, mux *http.ServeMux) {
			mux.HandleFunc("POST connect.stripe.com/oauth/token", im.stripeToken)
			mux.HandleFunc("POST connect.stripe.com/oauth/deauthorize", im.stripeDeauthorize)
			mux.HandleFunc("GET api.stripe.com/v1/account", im.stripeAccount)
		},
	}
}

func (im *Imitation) stripeToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeRFC6749(w, ferr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": is.access, "livemode": false, "refresh_token": is.refresh,
		"token_type": "bearer", "stripe_publishable_key": "pk_test_connected", "stripe_user_id": im.p.tenant(0).ID,
		"scope": is.g.scopeString(" ")})
}

// stripeDeauthorize disconnects the account: every token issued for it stops working.
func (im *Imitation) stripeDeauthorize(w http.ResponseWriter, r *http.Request) {
	params, ferr := readParams(r, bodyForm)
	if ferr == nil {
		ferr = im.authenticate(r, params)
	}
	if ferr != nil || params.Get("stripe_user_id") != im.p.tenant(0).ID {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client", "error_description": "No such account"})
		return
	}
	im.RevokeAuthorization()
	writeJSON(w, http.StatusOK, map[string]string{"stripe_user_id": params.Get("stripe_user_id")})
}

func (im *Imitation) stripeAccount(w http.ResponseWriter, r *http.Request) {
	bearer, _ := cutPrefixFold(r.Header.Get("Authorization"), "Bearer ")
	platform := bearer == im.Want.ClientSecret && r.Header.Get("Stripe-Account") == im.p.tenant(0).ID
	if !platform && im.granted(bearer) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{"type": "invalid_request_error",
			"message": "Invalid API Key provided"}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": im.p.tenant(0).ID, "object": "account", "type": "standard"})
}
